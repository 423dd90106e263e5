import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A TCP relay on loopback that cuts its first connection after a number of bytes have passed (in either
/// direction) and relays later connections untouched: a dropped network, made on purpose.
final class CuttingProxy: Sendable {
    let port: Int
    private let channel: any Channel
    private let connections = NIOLockedValueBox(0)

    init(upstreamPort: Int, cutAfter: Int) async throws {
        let counter = connections
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { inbound in
                let number = counter.withLockedValue { count in
                    count += 1
                    return count
                }
                let budget = NIOLockedValueBox(number == 1 ? cutAfter : Int.max)
                return ClientBootstrap(group: inbound.eventLoop)
                    .connect(host: "127.0.0.1", port: upstreamPort)
                    .flatMap { outbound in
                        let (first, second) = RelayHandler.pair(budget: budget)
                        // The inbound channel starts reading only once this initializer is done.
                        return inbound.pipeline.addHandler(first).flatMap {
                            outbound.pipeline.addHandler(second)
                        }
                    }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        self.channel = channel
        self.port = channel.localAddress!.port!
    }

    /// How many connections came in.
    var connectionCount: Int { connections.withLockedValue { $0 } }

    func close() async throws {
        try await channel.close()
    }
}

/// One side of a relay: forwards what it reads to its partner, and closes both when the byte budget is spent.
private final class RelayHandler: ChannelDuplexHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var partner: RelayHandler?
    private var context: ChannelHandlerContext?
    private let budget: NIOLockedValueBox<Int>

    private init(budget: NIOLockedValueBox<Int>) {
        self.budget = budget
    }

    static func pair(budget: NIOLockedValueBox<Int>) -> (RelayHandler, RelayHandler) {
        let first = RelayHandler(budget: budget)
        let second = RelayHandler(budget: budget)
        first.partner = second
        second.partner = first
        return (first, second)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        self.partner = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = Self.unwrapInboundIn(data)
        let remaining = budget.withLockedValue { left in
            left -= buffer.readableBytes
            return left
        }
        if remaining < 0 {
            context.close(promise: nil)
            partner?.closeFromPartner()
            return
        }
        partner?.forward(buffer)
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner?.closeFromPartner()
        context.fireChannelInactive()
    }

    private func forward(_ buffer: ByteBuffer) {
        guard let context else { return }
        context.writeAndFlush(Self.wrapOutboundOut(buffer), promise: nil)
    }

    /// Closes once what was forwarded so far has reached the socket: the cut falls at the budget as the other end
    /// sees it, however slowly that end reads (this relay reads on without backpressure, so a slow reader would
    /// otherwise lose the bytes still queued here and see the cut much earlier).
    private func closeFromPartner() {
        guard let context else { return }
        context.eventLoop.execute {
            context.writeAndFlush(Self.wrapOutboundOut(ByteBuffer())).whenComplete { _ in context.close(promise: nil) }
        }
    }
}
