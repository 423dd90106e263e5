import NIOCore
import NIOEmbedded
import Testing

@testable import FerryServer

/// What arrives after TLS is passed on in buffers of their own, so a body part never keeps a larger read alive.
@Suite("Plaintext copier")
struct PlaintextCopierTests {
    @Test(
        "a read over 64 KiB becomes pieces of at most 64 KiB with the same bytes, none sharing the read's storage",
        arguments: [1, 65_536, 65_537, 200_000, 262_144]
    )
    func pieces(size: Int) throws {
        let channel = EmbeddedChannel(handler: PlaintextCopier())
        var read = channel.allocator.buffer(capacity: size)
        read.writeBytes((0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        let original = read
        try channel.writeInbound(read)
        var received: [ByteBuffer] = []
        while let piece = try channel.readInbound(as: ByteBuffer.self) { received.append(piece) }
        #expect(received.count == (size + 65_535) / 65_536)
        #expect(received.allSatisfy { $0.readableBytes <= 65_536 && $0.readableBytes > 0 })
        var joined = channel.allocator.buffer(capacity: size)
        for var piece in received { joined.writeBuffer(&piece) }
        #expect(joined == original)
        if size > 65_536 {
            let base = original.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
            let end = base + UInt(size)
            for piece in received {
                let start = piece.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
                #expect(start < base || start >= end, "a piece points into the read's own storage")
            }
        }
        _ = try channel.finish()
    }
}
