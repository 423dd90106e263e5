import NIOCore

/// Passes decrypted bytes on in buffers of their own of at most `limit` bytes.
///
/// TLS decrypts all that the socket reads of one event-loop turn gave it (up to four reads) into one buffer, and
/// every body part the HTTP decoder cuts from that buffer keeps the whole of it alive while the part waits in the
/// request body's stream (up to 10 parts per request). Copying larger reads into pieces of their own lets each
/// part hold only its own bytes: memory per upload in flight stays under 2 MiB from 16 to 400 uploads, while the
/// event loop still reads as much per turn as it would (reading once per turn bounds it as well, but cost a single
/// upload 10-17 % of its throughput). docs/performance.md.
final class PlaintextCopier: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let limit: Int

    init(limit: Int = 64 << 10) {
        self.limit = limit
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        guard buffer.readableBytes > limit else {
            context.fireChannelRead(data)
            return
        }
        while buffer.readableBytes > 0 {
            let count = min(limit, buffer.readableBytes)
            var piece = context.channel.allocator.buffer(capacity: count)
            piece.writeImmutableBuffer(buffer.readSlice(length: count)!)
            context.fireChannelRead(wrapInboundOut(piece))
        }
    }
}
