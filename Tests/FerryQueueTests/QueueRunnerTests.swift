import FerryQueue
import FerryTestSupport
import Foundation
import Synchronization
import Testing

/// The daemon's loop over a real SQLite queue, with a clock the test moves and a transfer step the test scripts
/// (the transfer itself is tested end to end elsewhere; here: what starts when, and what the outcome does).
@Suite("Queue runner")
struct QueueRunnerTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    final class Clock: Sendable {
        private let now = Mutex(QueueRunnerTests.t0)
        var date: Date { now.withLock { $0 } }
        func advance(_ seconds: TimeInterval) { now.withLock { $0 += seconds } }
    }

    /// Outcomes handed out in order (success when the script runs out), and the entries it was asked to run.
    final class Script: Sendable {
        private let state = Mutex<(outcomes: [QueueEntry.Outcome], ran: [String])>(([], []))
        init(_ outcomes: [QueueEntry.Outcome] = []) { state.withLock { $0.outcomes = outcomes } }
        var ran: [String] { state.withLock { $0.ran } }
        func next(_ entry: QueueEntry) -> QueueEntry.Outcome {
            state.withLock { state in
                state.ran.append(entry.partner)
                return state.outcomes.isEmpty
                    ? .init(exitCode: 0, message: "", transient: false) : state.outcomes.removeFirst()
            }
        }
    }

    static func runner(
        _ store: any QueueStore,
        clock: Clock,
        script: Script,
        maximum: Int = 8,
        limit: Int = 2
    ) -> QueueRunner {
        QueueRunner(store: store, maximum: maximum, limit: { _ in limit }, clock: { clock.date }, jitter: { 1 }) {
            entry in script.next(entry)
        }
    }

    @Test("a due entry runs and is done; a transient failure waits for its next time, then runs again and is done")
    func retry() async throws {
        try await withQueueStore { store, _ in
            let clock = Clock()
            let script = Script([.init(exitCode: 5, message: "connection reset", transient: true)])
            let runner = Self.runner(store, clock: clock, script: script)
            let entry = QueueEntry(
                direction: .send,
                partner: "acme",
                local: "/out/a",
                remote: "in/",
                retry: RetryRule(maximumRetries: 3, firstWait: 60, maximumWait: 600),
                now: clock.date
            )
            try await store.add(entry)
            #expect(try await runner.tick() == [entry.id])
            await runner.settle()
            let retrying = try #require(try await store.entry(id: entry.id))
            #expect(retrying.state == .retrying && retrying.lastError == "connection reset")
            clock.advance(59)
            #expect(try await runner.tick().isEmpty, "not before its next time (60 s with jitter 1)")
            clock.advance(1)
            #expect(try await runner.tick() == [entry.id])
            await runner.settle()
            #expect(try await store.entry(id: entry.id)?.state == .done)
            #expect(script.ran == ["acme", "acme"])
        }
    }

    @Test("a failure a person must fix is not retried: failed at once with its finding")
    func permanent() async throws {
        try await withQueueStore { store, _ in
            let clock = Clock()
            let script = Script([
                .init(exitCode: 2, message: "handshake failed", findings: ["untrusted-issuer"], transient: false)
            ])
            let runner = Self.runner(store, clock: clock, script: script)
            let entry = QueueEntry(direction: .send, partner: "acme", local: "/out/a", remote: "in/", now: clock.date)
            try await store.add(entry)
            try await runner.tick()
            await runner.settle()
            let failed = try #require(try await store.entry(id: entry.id))
            #expect(failed.state == .failed && failed.findings == ["untrusted-issuer"] && failed.exitCode == 2)
            clock.advance(86_400)
            #expect(try await runner.tick().isEmpty)
        }
    }

    @Test("a schedule makes one entry per occurrence, and none while its last one is unfinished")
    func schedule() async throws {
        try await withQueueStore { store, _ in
            let clock = Clock()
            let script = Script([.init(exitCode: 5, message: "busy", transient: true)])
            let runner = Self.runner(store, clock: clock, script: script)
            let schedule = try Schedule(
                recurrence: .every(seconds: 900),
                direction: .get,
                partner: "bank",
                local: "/in/",
                remote: "out/statement.csv",
                retry: RetryRule(maximumRetries: 5, firstWait: 1200, maximumWait: 1200),
                now: clock.date
            )
            try await store.add(schedule)
            #expect(try await runner.tick().isEmpty)
            clock.advance(900)
            #expect(try await runner.tick().count == 1, "the first occurrence")
            await runner.settle()
            // Its entry failed and waits 1,200 s: the next occurrence (at 1,800 s) comes while it is unfinished.
            clock.advance(900)
            #expect(try await runner.tick().isEmpty)
            #expect(try await store.entries(in: nil).count == 1)
            clock.advance(300)  // 2,100 s: the retry is due
            #expect(try await runner.tick().count == 1)
            await runner.settle()
            clock.advance(600)  // 2,700 s: the next occurrence, the last entry done
            #expect(try await runner.tick().count == 1)
            await runner.settle()
            #expect(try await store.entries(in: [.done]).count == 2)
            #expect(try await store.schedules().first?.lastOccurrence == Self.t0 + 2700)
        }
    }

    @Test("at start, what a killed daemon left active is recovered and runs on the first tick")
    func recovery() async throws {
        try await withQueueStore { before, folder in
            let clock = Clock()
            let entry = QueueEntry(direction: .send, partner: "acme", local: "/out/a", remote: "in/", now: clock.date)
            try await before.add(entry)
            _ = try await before.claim(now: clock.date, maximum: 1) { _ in 1 }
            // The daemon died here; a new one opens the same database.
            let store = try await SQLiteQueueStore.open(path: folder + "/queue.sqlite")
            do {
                let script = Script()
                let runner = Self.runner(store, clock: clock, script: script)
                #expect(try await runner.start() == 1)
                #expect(try await runner.tick() == [entry.id])
                await runner.settle()
                #expect(try await store.entry(id: entry.id)?.state == .done && script.ran == ["acme"])
            } catch {
                try? await store.close()
                throw error
            }
            try await store.close()
        }
    }

    @Test("an entry cancelled while it runs stays cancelled when its transfer ends")
    func cancelWhileRunning() async throws {
        try await withQueueStore { store, _ in
            let clock = Clock()
            let gate = AsyncStream<Void>.makeStream()
            let runner = QueueRunner(store: store, clock: { clock.date }, jitter: { 0 }) { _ in
                for await _ in gate.stream { break }
                return .init(exitCode: 0, message: "", transient: false)
            }
            let entry = QueueEntry(direction: .send, partner: "acme", local: "/out/a", remote: "in/", now: clock.date)
            try await store.add(entry)
            try await runner.tick()
            var cancelled = try #require(try await store.entry(id: entry.id))
            try cancelled.cancel(now: clock.date)
            try await store.update(cancelled)
            gate.continuation.yield()
            await runner.settle()
            #expect(try await store.entry(id: entry.id)?.state == .cancelled)
        }
    }
}
