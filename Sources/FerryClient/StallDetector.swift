import FerryTrace
import NIOCore

/// Closes a connection on which nothing has moved, in either direction, for too long (a stalled network or
/// server), so that the transfer fails with a network error and is retried.
final class StallDetector: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    struct Stalled: Error, CustomStringConvertible {
        let seconds: Int64
        var duringHandshake = false
        var description: String {
            duringHandshake
                ? "the TLS handshake did not complete within \(seconds) s"
                : "nothing moved on the connection for \(seconds) s"
        }
    }

    private let timeout: TimeAmount

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .all {
            context.fireErrorCaught(Stalled(seconds: timeout.nanoseconds / 1_000_000_000))
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}

@available(*, unavailable)
extension StallDetector: Sendable {}

/// Cuts a connection whose TLS handshake has not completed within its deadline (30 s, or the stall timeout when
/// that is shorter): a server whose answer stops mid-handshake is reported in seconds, not after a whole
/// transfer's stall timeout.
final class HandshakeDeadline: ChannelInboundHandler {
    typealias InboundIn = NIOAny

    private let deadline: TimeAmount
    private let record: TLSConnectionRecord
    private var task: Scheduled<Void>?

    init(deadline: TimeAmount, record: TLSConnectionRecord) {
        self.deadline = deadline
        self.record = record
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        task?.cancel()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        task?.cancel()
    }

    private func start(_ context: ChannelHandlerContext) {
        guard task == nil else { return }
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        let record = self.record
        let seconds = deadline.nanoseconds / 1_000_000_000
        task = context.eventLoop.scheduleTask(in: deadline) {
            guard !record.snapshot.handshakeComplete else { return }
            bound.value.fireErrorCaught(StallDetector.Stalled(seconds: seconds, duringHandshake: true))
            bound.value.close(promise: nil)
        }
    }
}

@available(*, unavailable)
extension HandshakeDeadline: Sendable {}
