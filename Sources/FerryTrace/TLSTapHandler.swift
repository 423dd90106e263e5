public import FerryWire
public import NIOCore

/// A passive handler placed first in the pipeline, before the TLS handler: it reads the raw TLS bytes in both
/// directions, records what the handshake negotiated and any plaintext alert, and forwards every buffer
/// untouched. Once the handshake has completed it stops parsing, so bulk transfers pay one branch per read.
public final class TLSTapHandler: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    /// Which end of the connection this side is.
    public enum Role: Sendable {
        case client
        case server
    }

    public let record: TLSConnectionRecord
    private var state: TLSTapStateMachine

    public init(role: Role, record: TLSConnectionRecord) {
        self.record = record
        self.state = TLSTapStateMachine(role: role)
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if state.isParsing {
            let bytes = Self.unwrapInboundIn(data)
            observe(state.received(bytes))
        }
        context.fireChannelRead(data)
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if state.isParsing {
            let bytes = Self.unwrapOutboundIn(data)
            observe(state.sent(bytes))
        }
        context.write(data, promise: promise)
    }

    private func observe(_ events: [TLSTapStateMachine.Event]) {
        guard !events.isEmpty else {
            if record.isHandshakeComplete { state.stop() }
            return
        }
        record.update { snapshot in
            for event in events {
                switch event {
                case .negotiated(let version, let suite):
                    snapshot.version = version
                    snapshot.cipherSuite = suite
                case .alertSent(let alert):
                    snapshot.alertsSent.append(alert)
                case .alertReceived(let alert):
                    snapshot.alertsReceived.append(alert)
                case .notTLS(let why):
                    snapshot.wireError = why
                }
            }
        }
        if record.isHandshakeComplete { state.stop() }
    }
}

@available(*, unavailable)
extension TLSTapHandler: Sendable {}
