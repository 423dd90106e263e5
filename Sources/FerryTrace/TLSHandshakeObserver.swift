public import NIOCore
import NIOSSL
import NIOTLS

/// A handler placed right after the TLS handler: when the handshake completes it records the peer certificate
/// and the ALPN protocol, and tells the tap to stop parsing.
public final class TLSHandshakeObserver: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = NIOAny

    public let record: TLSConnectionRecord

    public init(record: TLSConnectionRecord) {
        self.record = record
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
        }
        context.fireUserInboundEventTriggered(event)
    }
}

@available(*, unavailable)
extension TLSHandshakeObserver: Sendable {}
