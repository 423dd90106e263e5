import FerryConfig
import FerryDiagnosis
import FerryProtocol
public import FerryTLS
public import FerryTrace
import FerryWire
public import NIOCore
import NIOHTTP1
import NIOPosix
public import NIOSSL

/// One TLS connection to a Ferry server carrying HTTP/1.1, with the tap before the TLS handler.
public struct ClientConnection: Sendable {
    let channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
    /// What the tap and the handshake observer saw.
    public let record: TLSConnectionRecord
    public let target: RemoteTarget
    /// Whether this side presents a client certificate.
    let presentsCertificate: Bool
    /// Set when the server answers a request.
    let responseArrival: ResponseArrival
    /// Receives the connection's handshake trace when it closes.
    let trace: TraceCollector?
    /// The server's identity from its certificate, once the handshake is done.
    var serverIdentity: PeerIdentity? {
        record.snapshot.peerCertificateDER.flatMap { PeerIdentity.cached(derEncoded: $0) }
    }

    /// Connects (TCP and TLS set-up; the handshake itself runs with the first request).
    /// How long a connection may sit with nothing moving in either direction before it counts as stalled.
    public static let defaultStallTimeout: TimeAmount = .seconds(300)

    public static func connect(
        to target: RemoteTarget,
        tls: ResolvedClientTLS,
        context: NIOSSLContext? = nil,
        stallTimeout: TimeAmount = defaultStallTimeout,
        trace: TraceCollector? = nil
    ) async throws -> ClientConnection {
        let sslContext: NIOSSLContext
        // The connection's secrets, so its trace can show the encrypted part of the handshake.
        let keys = TLSKeyLogStore(capacity: 16)
        do {
            var configuration = tls.configuration
            configuration.keyLogCallback = keys.callback
            sslContext = try context ?? NIOSSLContext(configuration: configuration)
        } catch {
            throw TransferError(.usage, "cannot build the TLS context: \(error)")
        }
        let record = TLSConnectionRecord(role: .client, keys: keys)
        let serverName = ServerName.forHost(target.host, given: target.serverName)
        let arrival = ResponseArrival()
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.seconds(15))
                .channelOption(ChannelOptions.socketOption(.so_keepalive), value: 1)
                .channelOption(
                    ChannelOptions.recvAllocator,
                    value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 16 << 10, maximum: 256 << 10)
                )
                .connect(host: target.host, port: target.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let sync = channel.pipeline.syncOperations
                        try sync.addHandler(IdleStateHandler(allTimeout: stallTimeout))
                        try sync.addHandler(StallDetector(timeout: stallTimeout))
                        try sync.addHandler(
                            HandshakeDeadline(deadline: min(stallTimeout, Self.handshakeDeadline), record: record)
                        )
                        try sync.addHandler(TLSTapHandler(record: record), position: .first)
                        try sync.addHandler(
                            tls.peerPolicy.makeClientHandler(context: sslContext, serverHostname: serverName) {
                                record.refuse($0.reason, finding: $0.finding)
                            }
                        )
                        let policy = tls.peerPolicy
                        try sync.addHandler(
                            TLSHandshakeObserver(record: record) { policy.refusal(suite: $0, name: $1) }
                        )
                        try sync.addHTTPClientHandlers()
                        try sync.addHandler(ResponseArrivalHandler(arrival))
                        return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(
                            wrappingChannelSynchronously: channel
                        )
                    }
                }
            return ClientConnection(
                channel: channel,
                record: record,
                target: target,
                presentsCertificate: tls.identity != nil,
                responseArrival: arrival,
                trace: trace
            )
        } catch {
            throw TransferError(.network, "cannot connect to \(target.authority): \(Self.describe(error))")
        }
    }

    /// Runs requests on the connection and closes it afterwards.
    public func withSession<Result: Sendable>(_ body: (inout HTTPSession) async throws -> Result) async throws -> Result
    {
        defer { trace?.collect(record, target: target) }
        do {
            return try await channel.executeThenClose { inbound, outbound in
                var session = HTTPSession(
                    iterator: inbound.makeAsyncIterator(),
                    outbound: outbound,
                    target: target,
                    arrival: responseArrival
                )
                do {
                    return try await body(&session)
                } catch  where error is ChannelError || error is IOError {
                    // A write failed because the peer closed the connection. What the peer said before closing
                    // (a TLS alert, in TLS 1.3 only readable after decryption) may be waiting on the inbound side.
                    let cause = await session.closingError() ?? error
                    if session.responsesRead == 0, let rejection = rejectionAfterHandshake(cause) {
                        throw rejection
                    }
                    throw cause
                }
            }
        } catch let error as TransferError {
            throw error
        } catch {
            throw classify(error)
        }
    }

    /// Turns a NIO or TLS error into a transfer error, with what the tap saw of the handshake.
    func classify(_ error: any Error) -> TransferError {
        let snapshot = record.snapshot
        if let stalled = error as? StallDetector.Stalled {
            if stalled.duringHandshake {
                return TransferError(
                    .network,
                    "connection to \(target.authority) stalled: \(stalled): the server's answer stopped (is this its TLS port? a relay or firewall cutting it?); ferry diagnose \(target.authority) shows how far it got"
                )
            }
            return TransferError(
                .network,
                "connection to \(target.authority) stalled: \(stalled)"
                    + (snapshot.handshakeComplete ? "" : " (during the TLS handshake: is this a TLS port?)")
            )
        }
        // A connection that ends without close_notify after a good handshake is a dropped network, not TLS.
        if let error = error as? NIOSSLError, case .uncleanShutdown = error, snapshot.handshakeComplete {
            return TransferError(.network, "connection to \(target.authority) dropped: \(Self.describe(error))")
        }
        let isTLS =
            error is NIOSSLError || error is BoringSSLError || !snapshot.alertsReceived.isEmpty
            || !snapshot.handshakeComplete
        guard isTLS, !(error is ChannelError && snapshot.handshakeComplete) else {
            return TransferError(.network, "connection to \(target.authority) failed: \(Self.describe(error))")
        }
        // The certificate this client sent, from its own trace: the same CA-name checks as ferry diagnose.
        let conversation = record.recorder.conversation()
        let sent = conversation.clientCertificates?.entries.compactMap(\.summary) ?? []
        let findings = TraceRules.findings(
            conversation,
            local: .clientToServer,
            clientCertificate: sent.first,
            clientChain: Array(sent.dropFirst())
        )
        .filter { $0.severity != .note }
        var failure = TransferError(
            .tlsHandshake,
            HandshakeExplanation.explain(error: error, snapshot: snapshot, target: target, findings: findings)
        )
        failure.findings = findings.map(\.id)
        failure.needsFix = findings.contains { $0.severity == .error && $0.side != .network }
        return failure
    }

    /// In TLS 1.3 the client finishes its handshake before the server has checked the client certificate; a
    /// server that rejects it sends an alert and closes, and when the client's first request crosses that
    /// alert the kernel may discard it (a reset). A connection closed after a completed TLS 1.3 handshake and
    /// before any response is that case.
    func rejectionAfterHandshake(_ error: any Error) -> TransferError? {
        let snapshot = record.snapshot
        guard snapshot.handshakeComplete, snapshot.version == .tls13, !(error is NIOSSLError || error is BoringSSLError)
        else {
            return nil
        }
        let cause =
            presentsCertificate
            ? "it most likely rejected this client certificate (its issuer is not a CA the server trusts, or it lacks EKU clientAuth). Fix: use a certificate from a CA in the partner's trust list."
            : "no client certificate was sent, and Ferry servers require one. Fix: pass --cert and --key (or set client.tls in the config)."
        return TransferError(
            .tlsHandshake,
            "TLS handshake with \(target.authority) failed.\nThe server closed the connection right after the TLS 1.3 handshake, before answering: \(cause)\nTLS library said: \(TLSErrorText.plain(error))"
        )
    }

    /// How long a TLS handshake may take before the connection counts as stalled.
    public static let handshakeDeadline: TimeAmount = .seconds(30)

    static func describe(_ error: any Error) -> String {
        if let error = error as? NIOConnectionError, let first = error.connectionErrors.first {
            return TLSErrorText.plain(first.error)
        }
        return TLSErrorText.plain(error)
    }
}
