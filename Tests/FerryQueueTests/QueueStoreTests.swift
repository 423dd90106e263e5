import FerryQueue
import FerryTestSupport
import Foundation
import Testing

/// The queue in SQLite: claims by priority and age within each partner's limit, recovery after a kill, purges,
/// schedules, and all of it still there after the database is opened again.
@Suite("Queue store (SQLite)")
struct QueueStoreTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    static func entry(_ partner: String, priority: Int = 0, at: Date? = nil, created: TimeInterval = 0) -> QueueEntry {
        QueueEntry(
            direction: .send,
            partner: partner,
            local: "/out/\(partner)",
            remote: "in/",
            priority: priority,
            notBefore: at,
            now: t0 + created
        )
    }

    @Test("claims take due entries by priority then age, at most the partner's limit active and the maximum in all")
    func claims() async throws {
        try await withQueueStore { store, _ in try await Self.claims(store) }
    }

    /// The claim order and limits, on any store.
    static func claims(_ store: any QueueStore) async throws {
        do {
            let low = Self.entry("acme", priority: 0, created: 0)
            let high = Self.entry("acme", priority: 5, created: 1)
            let second = Self.entry("acme", priority: 0, created: 2)
            let other = Self.entry("bank", priority: 0, created: 3)
            let later = Self.entry("bank", priority: 9, at: Self.t0 + 3600, created: 4)
            for entry in [low, high, second, other, later] { try await store.add(entry) }
            let first = try await store.claim(now: Self.t0 + 10, maximum: 10) { $0 == "acme" ? 2 : 1 }
            #expect(
                first.map(\.id) == [high.id, low.id, other.id],
                "the acme limit of 2 leaves the third waiting; the later one is not due"
            )
            #expect(first.allSatisfy { $0.state == .active && $0.attempts == 1 })
            #expect(
                try await store.claim(now: Self.t0 + 10, maximum: 10) { _ in 2 }.isEmpty,
                "acme's two slots are busy"
            )
            #expect(try await store.claim(now: Self.t0 + 10, maximum: 10) { _ in 3 }.map(\.id) == [second.id])
            #expect(
                try await store.claim(now: Self.t0 + 3600, maximum: 0) { _ in 5 }.isEmpty,
                "the maximum in all holds"
            )
            #expect(try await store.claim(now: Self.t0 + 3600, maximum: 5) { _ in 5 }.map(\.id) == [later.id])
        }
    }

    @Test("a kill of the daemon: reopened, its active entries are retrying and due at once; nothing else changed")
    func recovery() async throws {
        try await withQueueStore { store, folder in
            let running = Self.entry("acme")
            let waiting = Self.entry("bank", at: Self.t0 + 600)
            try await store.add(running)
            try await store.add(waiting)
            _ = try await store.claim(now: Self.t0, maximum: 1) { _ in 1 }
            // No close: the process died with the database as it was; another opens it.
            let reopened = try await SQLiteQueueStore.open(path: folder + "/queue.sqlite")
            do {
                #expect(try await reopened.recover(now: Self.t0 + 60) == 1)
                let recovered = try #require(try await reopened.entry(id: running.id))
                #expect(recovered.state == .retrying && recovered.isDue(at: Self.t0 + 60) && recovered.attempts == 1)
                #expect(try await reopened.entry(id: waiting.id) == waiting)
                #expect(try await reopened.claim(now: Self.t0 + 60, maximum: 5) { _ in 1 }.map(\.id) == [running.id])
            } catch {
                try? await reopened.close()
                throw error
            }
            try await reopened.close()
        }
    }

    @Test("finished entries are purged after the keep time; the rest stay")
    func purge() async throws {
        try await withQueueStore { store, _ in try await Self.purge(store) }
    }

    /// Purges by keep time, on any store.
    static func purge(_ store: any QueueStore) async throws {
        do {
            var done = Self.entry("acme")
            try done.start(now: Self.t0)
            try done.finish(.init(exitCode: 0, message: "", transient: false), now: Self.t0 + 1, jitter: 0)
            let queued = Self.entry("bank")
            try await store.add(done)
            try await store.add(queued)
            #expect(try await store.purge(now: Self.t0 + 100, keep: 3600) == 0)
            #expect(try await store.purge(now: Self.t0 + 3601, keep: 3600) == 1)
            #expect(try await store.entries(in: nil).map(\.id) == [queued.id])
        }
    }

    @Test("schedules are kept with where they stand, and removed by id")
    func schedules() async throws {
        try await withQueueStore { store, folder in
            var schedule = try Schedule(
                recurrence: .cron(expression: "@hourly", timeZone: "UTC"),
                direction: .get,
                partner: "bank",
                local: "/in/",
                remote: "out/x.csv",
                now: Self.t0
            )
            try await store.add(schedule)
            _ = schedule.due(at: Self.t0 + 7200, unfinishedEntry: false)
            try await store.update(schedule)
            // Another connection to the same database sees it as it was saved.
            let reopened = try await SQLiteQueueStore.open(path: folder + "/queue.sqlite")
            do {
                #expect(try await reopened.schedules() == [schedule])
                #expect(try await reopened.removeSchedule(id: schedule.id))
                #expect(try await !reopened.removeSchedule(id: schedule.id))
                #expect(try await store.schedules().isEmpty)
            } catch {
                try? await reopened.close()
                throw error
            }
            try await reopened.close()
        }
    }
}
