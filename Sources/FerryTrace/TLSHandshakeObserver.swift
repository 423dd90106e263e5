import FerryWire
public import NIOCore
import NIOSSL
import NIOTLS

/// A handler placed right after the TLS handler: when the handshake completes it records the peer certificate
/// and the ALPN protocol, and tells the tap to stop parsing.
public final class TLSHandshakeObserver: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = NIOAny

    public let record: TLSConnectionRecord
    /// Decides whether the negotiated suite is allowed (code point, name) and says why not.
    let suiteRefusal: @Sendable (UInt16, String) -> String?
    /// Called once the record holds the handshake's facts, before the connection carries data.
    let completed: @Sendable (TLSConnectionRecord) -> Void

    public init(
        record: TLSConnectionRecord,
        suiteRefusal: @escaping @Sendable (UInt16, String) -> String? = { _, _ in nil },
        completed: @escaping @Sendable (TLSConnectionRecord) -> Void = { _ in }
    ) {
        self.record = record
        self.suiteRefusal = suiteRefusal
        self.completed = completed
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSUserEvent, case .handshakeCompleted(let alpn) = event {
            let peer = try? context.pipeline.syncOperations.handler(type: NIOSSLHandler.self).peerCertificate
            let der = try? peer?.toDERBytes()
            record.update {
                $0.handshakeComplete = true
                $0.applicationProtocol = alpn
                $0.peerCertificateDER = der
            }
            completed(record)
            if let suite = record.snapshot.cipherSuite, let reason = suiteRefusal(suite.rawValue, suite.description) {
                record.refuse(reason)
                context.close(promise: nil)
                return
            }
        }
        context.fireUserInboundEventTriggered(event)
    }
}

@available(*, unavailable)
extension TLSHandshakeObserver: Sendable {}
