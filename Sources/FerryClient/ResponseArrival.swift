import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// Tells an upload that the server has answered before the request body ended (an early 4xx such as
/// "access denied"), so the client stops sending instead of pushing the rest of a large file into a refusal.
final class ResponseArrival: Sendable {
    private let arrived = NIOLockedValueBox(false)

    var hasArrived: Bool { arrived.withLockedValue { $0 } }

    func reset() {
        arrived.withLockedValue { $0 = false }
    }

    func markArrived() {
        arrived.withLockedValue { $0 = true }
    }
}

/// Passes responses through and marks when a final response head arrives.
final class ResponseArrivalHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias InboundOut = HTTPClientResponsePart

    private let arrival: ResponseArrival

    init(_ arrival: ResponseArrival) {
        self.arrival = arrival
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = Self.unwrapInboundIn(data), head.status.code >= 200 {
            arrival.markArrived()
        }
        context.fireChannelRead(data)
    }
}

@available(*, unavailable)
extension ResponseArrivalHandler: Sendable {}
