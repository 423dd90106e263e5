import NIOConcurrencyHelpers

/// Locks by name: in this process only (`LocalNamedLocks`), or honoured by every node that shares the database
/// (`PostgresLedger`, transaction-scoped advisory locks, which a node that dies drops with its connection). A
/// shared lock admits other shared holders; an exclusive lock admits nobody else.
public protocol NamedLocks: Sendable {
    /// Runs `body` holding the locks of `shared` and `exclusive` (taken in the order of their names, so two callers
    /// never wait on each other).
    func withLocks<T: Sendable>(
        shared: [String],
        exclusive: [String],
        _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T
}

/// Named locks of this process, for async work: waiters are served in order of arrival.
public final class LocalNamedLocks: NamedLocks {
    private struct Entry {
        var readers = 0
        var writer = false
        var waiting: [(exclusive: Bool, continuation: CheckedContinuation<Void, Never>)] = []
    }
    private let entries = NIOLockedValueBox([String: Entry]())

    public init() {}

    public func withLocks<T: Sendable>(
        shared: [String] = [],
        exclusive: [String],
        _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let exclusiveSet = Set(exclusive)
        let keys = Set(shared).union(exclusiveSet).sorted().map { ($0, exclusiveSet.contains($0)) }
        for (key, isExclusive) in keys { await acquire(key, exclusive: isExclusive) }
        defer { for (key, isExclusive) in keys.reversed() { release(key, exclusive: isExclusive) } }
        return try await body()
    }

    private func acquire(_ key: String, exclusive: Bool) async {
        await withCheckedContinuation { continuation in
            let granted = entries.withLockedValue { entries in
                var entry = entries[key] ?? Entry()
                defer { entries[key] = entry }
                let free = entry.waiting.isEmpty && !entry.writer && (!exclusive || entry.readers == 0)
                guard free else {
                    entry.waiting.append((exclusive, continuation))
                    return false
                }
                if exclusive { entry.writer = true } else { entry.readers += 1 }
                return true
            }
            if granted { continuation.resume() }
        }
    }

    private func release(_ key: String, exclusive: Bool) {
        let woken = entries.withLockedValue { entries -> [CheckedContinuation<Void, Never>] in
            guard var entry = entries[key] else { return [] }
            if exclusive { entry.writer = false } else { entry.readers -= 1 }
            // Wakes waiters in order while they fit: one writer alone, or every reader up to the next writer.
            var woken: [CheckedContinuation<Void, Never>] = []
            while let next = entry.waiting.first, !entry.writer, !next.exclusive || entry.readers == 0 {
                entry.waiting.removeFirst()
                if next.exclusive { entry.writer = true } else { entry.readers += 1 }
                woken.append(next.continuation)
            }
            entries[key] = entry.readers == 0 && !entry.writer && entry.waiting.isEmpty ? nil : entry
            return woken
        }
        for continuation in woken { continuation.resume() }
    }
}
