import FerryConfig
import FerryTLS
import FerryTrace
import HTTPTypes
public import HummingbirdCore
import HummingbirdHTTP2
public import Logging
public import NIOCore
import NIOHTTP2
import NIOSSL
import NIOTLS

/// The server's child channel: the TLS tap, a TLS handler built from the current (reloadable) context, a
/// handshake observer, then HTTP/1.1 or HTTP/2 as ALPN decided.
///
/// Hummingbird's own HTTP/2 upgrade channel keeps one TLS context for its lifetime; this one takes the
/// context per connection so a certificate reload reaches new connections without a restart.
public struct FerryHTTPChannel: ServerChildChannel {
    public struct Value: ServerChildChannelValue {
        let negotiated: EventLoopFuture<NIONegotiatedHTTPVersion<HTTP1Channel.Value, HTTP2Channel.Value>>
        public let channel: any Channel
    }

    let http1: HTTP1Channel
    let http2: HTTP2Channel
    let tls: ServerTLSContext
    let registry: ConnectionRegistry
    let flightRecorder: HandshakeFlightRecorder
    let chains: VerifiedChains
    let counter: ConnectionCounter
    let logger: Logger

    init(
        responder: @escaping HTTPChannelHandler.Responder,
        tls: ServerTLSContext,
        registry: ConnectionRegistry,
        flightRecorder: HandshakeFlightRecorder,
        chains: VerifiedChains,
        counter: ConnectionCounter,
        logger: Logger,
        mayContinue: @escaping @Sendable (HTTPRequest, any Channel) -> Bool
    ) {
        let idle = TimeAmount.nanoseconds(Int64(counter.limits.idleTimeout * 1e9))
        // Hummingbird's idle timeout is left off for requests: it closes a connection whose request body has had no
        // part for that long, even when the server is the one not reading (an upload waiting for its object store).
        // The stall rule (`ConnectionGuard`) tells the two apart; `ResponseDebt` closes an HTTP/1.1 keep-alive
        // connection idle between requests, and HTTP/2's connection manager one without streams.
        let http1Configuration = HTTP1Channel.Configuration(
            additionalChannelHandlers: [
                ExpectContinueHandler(mayContinue: mayContinue), ResponseDebt(idleTimeout: idle),
            ],
            idleTimeout: nil
        )
        self.http1 = HTTP1Channel(responder: responder, configuration: http1Configuration)
        let streams = HTTP1Channel.Configuration(
            additionalChannelHandlers: [ExpectContinueHandler(mayContinue: mayContinue), ResponseDebt()],
            idleTimeout: nil
        )
        self.http2 = HTTP2Channel(
            responder: responder,
            configuration: .init(
                idleTimeout: .nanoseconds(Int64(counter.limits.idleTimeout * 1e9)),
                streamConfiguration: streams
            )
        )
        self.counter = counter
        self.logger = logger
        self.tls = tls
        self.registry = registry
        self.flightRecorder = flightRecorder
        self.chains = chains
    }

    public func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        // Over a cap, the connection is closed before TLS starts (nothing to record but a log line).
        let source = channel.remoteAddress?.ipAddress ?? "unknown"
        if let refusal = counter.admit(source: source) {
            if let count = counter.refusalToLog() {
                logger.warning(
                    "connection refused",
                    metadata: ["peer": "\(source)", "reason": "\(refusal)", "refused_since_last_line": "\(count)"]
                )
            }
            return channel.close().flatMapThrowing { throw ConnectionRefused() }
        }
        let counter = self.counter
        channel.closeFuture.whenComplete { _ in counter.release(source: source) }
        let record = TLSConnectionRecord(role: .server, keys: flightRecorder.keys)
        let (current, generation) = tls.currentWithGeneration
        let chains = self.chains
        do {
            let sync = channel.pipeline.syncOperations
            try sync.addHandler(ConnectionGuard(limits: counter.limits, record: record))
            if flightRecorder.settings.tap {
                try sync.addHandler(TLSTapHandler(record: record))
            }
            try sync.addHandler(
                current.makeHandler(
                    onReject: { record.refuse($0.reason, finding: $0.finding) },
                    onVerified: { record.addVerified($0) }
                )
            )
            let policy = current.peerPolicy
            try sync.addHandler(
                TLSHandshakeObserver(record: record, suiteRefusal: { policy.refusal(suite: $0, name: $1) }) { record in
                    // A resumed session verified nothing: it carries the chain its first handshake verified.
                    let snapshot = record.snapshot
                    guard let leaf = snapshot.peerCertificateDER else { return }
                    let chain = chains.chain(leaf: leaf, verified: snapshot.verifiedChainDER, generation: generation)
                    if snapshot.verifiedChainDER.isEmpty { record.setVerifiedChain(chain) }
                }
            )
            try sync.addHandler(PlaintextCopier())
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        registry.register(channel, record: record, owner: tls)
        let registry = self.registry
        let flightRecorder = self.flightRecorder
        channel.closeFuture.whenComplete { _ in
            registry.remove(channel)
            flightRecorder.connectionClosed(record)
        }
        return channel.configureHTTP2AsyncSecureUpgrade { channel in
            http1.setup(channel: channel, logger: logger)
        } http2ConnectionInitializer: { channel in
            http2.setup(channel: channel, logger: logger)
        }.map { Value(negotiated: $0, channel: channel) }
    }

    public func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.negotiated.get() {
            case .http1_1(let connection): await http1.handle(value: connection, logger: logger)
            case .http2(let connection): await http2.handle(value: connection, logger: logger)
            }
        } catch {
            logger.debug("connection ended before HTTP started", metadata: ["error": "\(error)"])
        }
    }
}

/// A connection closed at once because a connection cap was reached.
struct ConnectionRefused: Error {}
