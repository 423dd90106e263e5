import NIOConcurrencyHelpers
import NIOCore
import Testing

@testable import FerryServer

/// The queue between an upload's reading task and its writing task.
@Suite("Buffer handoff between an upload's two tasks")
struct BufferHandoffTests {
    @Test("every buffer arrives once and in order, and the sender is held while the queue holds the limit")
    func orderAndBound() async throws {
        let handoff = BufferHandoff(limit: 64 << 10)
        let most = NIOLockedValueBox(0)
        let held = NIOLockedValueBox(0)
        let sent = 4_000
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for index in 0..<sent {
                    // Sizes from 1 byte to 20 KiB; the first bytes carry the index.
                    var buffer = ByteBuffer()
                    buffer.writeInteger(UInt32(index))
                    buffer.writeRepeatingByte(UInt8(index % 251), count: (index * 7919) % (20 << 10))
                    let size = buffer.readableBytes
                    held.withLockedValue { $0 += size }
                    try await handoff.send(buffer)
                }
                handoff.finish()
            }
            var expected: UInt32 = 0
            while let buffer = try await handoff.next() {
                // What the sender has handed over and the receiver not yet taken (this one included).
                let inFlight = held.withLockedValue { value in
                    defer { value -= buffer.readableBytes }
                    return value
                }
                most.withLockedValue { $0 = max($0, inFlight) }
                #expect(buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) == expected)
                expected += 1
                if expected % 500 == 0 { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(expected == UInt32(sent))
            try await group.waitForAll()
        }
        // The queue stops the sender once it holds the limit: beyond it, at most the buffer that crossed it, the one
        // the receiver holds and the one the sender is about to queue (each up to 20 KiB). Unbounded, the sender
        // would be megabytes ahead while the receiver pauses.
        #expect(most.withLockedValue { $0 } <= (64 << 10) + 3 * ((20 << 10) + 4))
    }

    struct Broken: Error, Equatable { let side: String }

    @Test("a failure on either side reaches the other, even while it waits")
    func failures() async throws {
        // The receiver fails while the sender waits on a full queue.
        let full = BufferHandoff(limit: 10)
        let sender = Task {
            try await full.send(ByteBuffer(repeating: 1, count: 10))
            try await full.send(ByteBuffer(repeating: 1, count: 10))
        }
        try await Task.sleep(for: .milliseconds(50))
        full.fail(Broken(side: "receiver"))
        await #expect(throws: Broken(side: "receiver")) { try await sender.value }
        await #expect(throws: Broken(side: "receiver")) { try await full.next() }

        // The sender fails while the receiver waits on an empty queue.
        let empty = BufferHandoff(limit: 10)
        let receiver = Task { try await empty.next() }
        try await Task.sleep(for: .milliseconds(50))
        empty.fail(Broken(side: "sender"))
        await #expect(throws: Broken(side: "sender")) { try await receiver.value }

        // Finished: what is queued comes out, then nil, even for a receiver that was already waiting.
        let done = BufferHandoff(limit: 1 << 20)
        let waiting = Task { try await done.next() }
        try await Task.sleep(for: .milliseconds(50))
        done.finish()
        #expect(try await waiting.value == nil)
        let queued = BufferHandoff(limit: 1 << 20)
        try await queued.send(ByteBuffer(string: "last"))
        queued.finish()
        #expect(try await queued.next() == ByteBuffer(string: "last"))
        #expect(try await queued.next() == nil)
    }
}
