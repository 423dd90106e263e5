import NIOCore

/// Closes a connection on which nothing has moved, in either direction, for too long (a stalled network or
/// server), so that the transfer fails with a network error and is retried.
final class StallDetector: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    struct Stalled: Error, CustomStringConvertible {
        let seconds: Int64
        var description: String { "nothing moved on the connection for \(seconds) s" }
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
