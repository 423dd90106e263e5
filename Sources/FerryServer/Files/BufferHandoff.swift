import NIOConcurrencyHelpers
import NIOCore

/// Buffers passed from one task to another, at most `limit` bytes held between them: `send` waits while the
/// queue is full, `next` while it is empty. It lets an upload's body be read and hashed in one task while another
/// converts and writes what came before, with the memory between the two bounded whatever the disk or the
/// converter does. Either side ends it: `finish` (no more buffers) or `fail` (the other side gets the error).
final class BufferHandoff: Sendable {
    private struct State {
        var queue = CircularBuffer<ByteBuffer>()
        var bytes = 0
        var finished = false
        var failure: (any Error)?
        var sender: CheckedContinuation<Void, any Error>?
        var receiver: CheckedContinuation<ByteBuffer?, any Error>?
    }

    private let state = NIOLockedValueBox(State())
    let limit: Int

    init(limit: Int) {
        self.limit = limit
    }

    /// Queues a buffer; waits while the queue holds `limit` bytes or more.
    func send(_ buffer: ByteBuffer) async throws {
        let full: Bool = try state.withLockedValue { state in
            if let failure = state.failure { throw failure }
            if let receiver = state.receiver {
                state.receiver = nil
                receiver.resume(returning: buffer)
                return false
            }
            state.queue.append(buffer)
            state.bytes += buffer.readableBytes
            return state.bytes >= limit
        }
        guard full else { return }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            state.withLockedValue { state in
                if let failure = state.failure {
                    continuation.resume(throwing: failure)
                } else if state.bytes < limit {
                    continuation.resume()
                } else {
                    state.sender = continuation
                }
            }
        }
    }

    /// The next buffer, or nil once the sender has finished and the queue is empty.
    func next() async throws -> ByteBuffer? {
        let taken: ByteBuffer?? = try state.withLockedValue { state in
            if let failure = state.failure { throw failure }
            guard let buffer = state.queue.popFirst() else { return state.finished ? .some(nil) : nil }
            state.bytes -= buffer.readableBytes
            if state.bytes < limit, let sender = state.sender {
                state.sender = nil
                sender.resume()
            }
            return .some(buffer)
        }
        if let taken { return taken }
        return try await withCheckedThrowingContinuation {
            (continuation: CheckedContinuation<ByteBuffer?, any Error>) in
            state.withLockedValue { state in
                if let failure = state.failure {
                    continuation.resume(throwing: failure)
                } else if let buffer = state.queue.popFirst() {
                    state.bytes -= buffer.readableBytes
                    continuation.resume(returning: buffer)
                } else if state.finished {
                    continuation.resume(returning: nil)
                } else {
                    state.receiver = continuation
                }
            }
        }
    }

    /// No more buffers: the receiver gets what is queued, then nil.
    func finish() {
        state.withLockedValue { state in
            state.finished = true
            if state.queue.isEmpty, let receiver = state.receiver {
                state.receiver = nil
                receiver.resume(returning: nil)
            }
        }
    }

    /// Ends the handoff with an error for whichever side waits or calls next (the first error wins).
    func fail(_ error: any Error) {
        state.withLockedValue { state in
            if state.failure == nil { state.failure = error }
            state.queue.removeAll()
            state.bytes = 0
            state.sender?.resume(throwing: state.failure!)
            state.sender = nil
            state.receiver?.resume(throwing: state.failure!)
            state.receiver = nil
        }
    }
}
