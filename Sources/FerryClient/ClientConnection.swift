public import FerryTLS
public import FerryTrace
import NIOCore
import NIOHTTP1
import NIOPosix
public import NIOSSL
import FerryProtocol

/// One TLS connection to a Ferry server carrying HTTP/1.1, with the tap before the TLS handler.
public struct ClientConnection: Sendable {
    let channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
    /// What the tap and the handshake observer saw.
    public let record: TLSConnectionRecord
    public let target: RemoteTarget

    /// Connects (TCP and TLS set-up; the handshake itself runs with the first request).
    public static func connect(to target: RemoteTarget, tls: ResolvedClientTLS, context: NIOSSLContext? = nil) async throws -> ClientConnection {
        let sslContext: NIOSSLContext
        do {
            sslContext = try context ?? NIOSSLContext(configuration: tls.configuration)
        } catch {
            throw TransferError(.usage, "cannot build the TLS context: \(error)")
        }
        let record = TLSConnectionRecord()
        let serverName = target.host.isIPAddress ? nil : target.host
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.seconds(15))
                .channelOption(ChannelOptions.socketOption(.so_keepalive), value: 1)
                .connect(host: target.host, port: target.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let sync = channel.pipeline.syncOperations
                        try sync.addHandler(TLSTapHandler(role: .client, record: record))
                        try sync.addHandler(NIOSSLClientHandler(context: sslContext, serverHostname: serverName))
                        try sync.addHandler(TLSHandshakeObserver(record: record))
                        try sync.addHTTPClientHandlers()
                        return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                    }
                }
            return ClientConnection(channel: channel, record: record, target: target)
        } catch {
            throw TransferError(.network, "cannot connect to \(target.authority): \(Self.describe(error))")
        }
    }

    /// Runs requests on the connection and closes it afterwards.
    public func withSession<Result: Sendable>(_ body: (inout HTTPSession) async throws -> Result) async throws -> Result {
        do {
            return try await channel.executeThenClose { inbound, outbound in
                var session = HTTPSession(iterator: inbound.makeAsyncIterator(), outbound: outbound, target: target)
                return try await body(&session)
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
        let isTLS = error is NIOSSLError || error is BoringSSLError || !snapshot.alertsReceived.isEmpty || !snapshot.handshakeComplete
        guard isTLS, !(error is ChannelError && snapshot.handshakeComplete) else {
            return TransferError(.network, "connection to \(target.authority) failed: \(Self.describe(error))")
        }
        return TransferError(.tlsHandshake, HandshakeExplanation.explain(error: error, snapshot: snapshot, target: target))
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? IOError { return error.description }
        if let error = error as? NIOConnectionError, let first = error.connectionErrors.first {
            return "\(first.error)"
        }
        return String(describing: error)
    }
}

extension String {
    var isIPAddress: Bool {
        (try? SocketAddress(ipAddress: self, port: 0)) != nil
    }
}
