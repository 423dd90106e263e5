/// Runs `body`, or throws `LedgerError(message)` once `deadline` has passed first (the body is then cancelled).
/// Every wait on a database goes through it: postgres-nio's pool waits for a connection as long as it is asked to.
public func withDeadline<T: Sendable>(
    _ deadline: Duration,
    _ message: String,
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: deadline)
            return nil
        }
        let first = try await group.next() ?? nil
        group.cancelAll()
        guard let first else { throw LedgerError(message) }
        return first
    }
}
