import FerryWire
public import NIOCore

/// A passive handler placed first in the pipeline, before the TLS handler: it reads the raw TLS bytes in both
/// directions, records what the handshake negotiated and any plaintext alert, keeps the handshake's bytes in
/// the connection's flight recorder, and forwards every buffer untouched. Once the handshake has completed
/// (and one more read or write each way has been kept, so the last flight is in the recording) it stops, so
/// bulk transfers pay one branch per read.
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
    private var recording = true
    /// After the handshake: whether one more chunk was kept in each direction.
    private var keptAfterHandshake = (sent: false, received: false, chunks: 0)
    /// After the handshake the tap keeps one chunk each way (a NewSessionTicket, the first request, an
    /// alert that rejects a certificate), but never more than this many: a TLS 1.2 server sends nothing
    /// during a long upload, and each kept chunk costs a lock and a copy.
    static let chunksKeptAfterHandshake = 4

    public init(record: TLSConnectionRecord) {
        self.record = record
        self.state = TLSTapStateMachine(role: record.recorder.role)
    }

    public func channelActive(context: ChannelHandlerContext) {
        record.recorder.setEndpoints(
            local: Self.endpoint(context.channel.localAddress),
            peer: Self.endpoint(context.channel.remoteAddress)
        )
        context.fireChannelActive()
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive {
            record.recorder.setEndpoints(
                local: Self.endpoint(context.channel.localAddress),
                peer: Self.endpoint(context.channel.remoteAddress)
            )
        }
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if recording {
            let bytes = Self.unwrapInboundIn(data)
            record.recorder.append(bytes, sent: false)
            if state.isParsing { observe(state.received(bytes)) }
            afterChunk(sent: false)
        }
        context.fireChannelRead(data)
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if recording {
            let bytes = Self.unwrapOutboundIn(data)
            record.recorder.append(bytes, sent: true)
            if state.isParsing { observe(state.sent(bytes)) }
            afterChunk(sent: true)
        }
        context.write(data, promise: promise)
    }

    private func afterChunk(sent: Bool) {
        guard record.isHandshakeComplete else { return }
        if state.isParsing {
            state.stop()
            return
        }
        if sent { keptAfterHandshake.sent = true } else { keptAfterHandshake.received = true }
        keptAfterHandshake.chunks += 1
        if (keptAfterHandshake.sent && keptAfterHandshake.received)
            || keptAfterHandshake.chunks >= Self.chunksKeptAfterHandshake
        {
            recording = false
        }
    }

    private func observe(_ events: [TLSTapStateMachine.Event]) {
        guard !events.isEmpty else { return }
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
    }

    static func endpoint(_ address: SocketAddress?) -> TCPEndpoint? {
        guard let address, let ip = address.ipAddress, let port = address.port else { return nil }
        return TCPEndpoint(address: ip, port: UInt16(port))
    }
}

@available(*, unavailable)
extension TLSTapHandler: Sendable {}
