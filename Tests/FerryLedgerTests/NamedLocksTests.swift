import FerryLedger
import NIOConcurrencyHelpers
import Testing

/// The named locks of one process (`LocalNamedLocks`); PostgreSQL's advisory locks are played by the two-node tests.
@Suite("Named locks")
struct NamedLocksTests {
    /// Who holds a name now, and the most that were inside together.
    final class Occupancy: Sendable {
        private let state = NIOLockedValueBox((readers: 0, writers: 0, mostReaders: 0, clashes: 0))

        func enter(exclusive: Bool) {
            state.withLockedValue { state in
                if exclusive {
                    if state.readers > 0 || state.writers > 0 { state.clashes += 1 }
                    state.writers += 1
                } else {
                    if state.writers > 0 { state.clashes += 1 }
                    state.readers += 1
                    state.mostReaders = max(state.mostReaders, state.readers)
                }
            }
        }

        func leave(exclusive: Bool) {
            state.withLockedValue { state in
                if exclusive { state.writers -= 1 } else { state.readers -= 1 }
            }
        }

        var figures: (mostReaders: Int, clashes: Int) { state.withLockedValue { ($0.mostReaders, $0.clashes) } }
    }

    @Test("shared holders are inside together; an exclusive holder is alone; several names are taken without deadlock")
    func sharedAndExclusive() async throws {
        let locks = LocalNamedLocks()
        let occupancy = Occupancy()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<40 {
                let exclusive = index >= 10 && index % 3 == 0
                group.addTask {
                    try await locks.withLocks(
                        shared: exclusive ? [] : ["folder"],
                        exclusive: exclusive ? ["folder"] : []
                    ) {
                        occupancy.enter(exclusive: exclusive)
                        try await Task.sleep(for: .milliseconds(5))
                        occupancy.leave(exclusive: exclusive)
                    }
                }
            }
            // Two callers taking the same two names in opposite orders of mention: taken in name order, so neither waits
            // on the other for ever.
            for index in 0..<20 {
                group.addTask {
                    let names = index % 2 == 0 ? ["x", "y"] : ["y", "x"]
                    try await locks.withLocks(shared: [], exclusive: names) {
                        try await Task.sleep(for: .milliseconds(1))
                    }
                }
            }
            try await group.waitForAll()
        }
        let figures = occupancy.figures
        #expect(figures.clashes == 0, "an exclusive holder was never inside with another")
        #expect(figures.mostReaders > 1, "shared holders were inside together: \(figures.mostReaders)")
    }

    @Test("an error inside lets the names go")
    func errorReleases() async throws {
        struct Failure: Error {}
        let locks = LocalNamedLocks()
        await #expect(throws: Failure.self) {
            try await locks.withLocks(shared: [], exclusive: ["a"]) { throw Failure() }
        }
        let value = try await locks.withLocks(shared: [], exclusive: ["a"]) { 7 }
        #expect(value == 7)
    }
}
