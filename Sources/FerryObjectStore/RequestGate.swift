import NIOConcurrencyHelpers

/// At most `limit` requests to the object store at once; the others wait their turn in order, for as long as their
/// own task lives. async-http-client fails a request that waits for a pooled connection longer than its connect
/// timeout (`getConnectionFromPoolTimeout`): with 64 uploads each sending a part, most of them did, and partners got
/// 503. Waiting here instead turns a busy store into slower answers, never into failures; the server's own timeouts
/// still cut a partner that stalls.
final class RequestGate: Sendable {
    private struct State {
        var limit: Int
        var inFlight = 0
        var waiting: [(id: Int, continuation: CheckedContinuation<Void, any Error>)] = []
        var nextID = 0
    }

    private let state: NIOLockedValueBox<State>

    init(limit: Int) {
        state = NIOLockedValueBox(State(limit: max(1, limit)))
    }

    /// The most requests at once now.
    var limit: Int { state.withLockedValue { $0.limit } }

    /// Changes the limit (a node's share of the cluster's budget as nodes come and go): a larger one lets waiters in
    /// at once; a smaller one lets requests in flight finish and admits no more until they are under it.
    func setLimit(_ limit: Int) {
        let admitted = state.withLockedValue { state in
            state.limit = max(1, limit)
            var admitted: [CheckedContinuation<Void, any Error>] = []
            while state.inFlight < state.limit, !state.waiting.isEmpty {
                state.inFlight += 1
                admitted.append(state.waiting.removeFirst().continuation)
            }
            return admitted
        }
        for continuation in admitted { continuation.resume() }
    }

    /// Runs `body` holding one of the `limit` places.
    func withPlace<T>(_ body: () async throws -> T) async throws -> T {
        try await enter()
        defer { leave() }
        return try await body()
    }

    private func enter() async throws {
        let id: Int? = state.withLockedValue { state in
            if state.inFlight < state.limit, state.waiting.isEmpty {
                state.inFlight += 1
                return nil
            }
            state.nextID += 1
            return state.nextID
        }
        guard let id else { return }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let admitted: Bool? = state.withLockedValue { state in
                    // A place may have come free between the first look and now; a task cancelled before it got
                    // here never waits (its cancellation handler found nothing to remove).
                    if Task.isCancelled { return nil }
                    if state.inFlight < state.limit, state.waiting.isEmpty {
                        state.inFlight += 1
                        return true
                    }
                    state.waiting.append((id, continuation))
                    return false
                }
                switch admitted {
                case nil: continuation.resume(throwing: CancellationError())
                case true?: continuation.resume()
                case false?: break
                }
            }
        } onCancel: {
            let cancelled = state.withLockedValue { state in
                state.waiting.firstIndex { $0.id == id }.map { state.waiting.remove(at: $0).continuation }
            }
            cancelled?.resume(throwing: CancellationError())
        }
    }

    /// Hands the place to the first waiter, or frees it.
    private func leave() {
        let next = state.withLockedValue { state in
            // Over a lowered limit, the place is not handed on.
            if state.waiting.isEmpty || state.inFlight > state.limit {
                state.inFlight -= 1
                return nil as CheckedContinuation<Void, any Error>?
            }
            return state.waiting.removeFirst().continuation
        }
        next?.resume()
    }

    /// Requests running and waiting (for tests).
    var counts: (inFlight: Int, waiting: Int) {
        state.withLockedValue { ($0.inFlight, $0.waiting.count) }
    }
}
