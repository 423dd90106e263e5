public import Foundation

/// The daemon's queue loop, with its clock, its randomness and the transfer itself passed in: each `tick` turns due
/// schedule occurrences into entries, starts the due entries that fit (per-partner limits, an overall maximum),
/// and purges finished entries past their keep time; each started entry runs `execute` in a task of its own and
/// its outcome is written back (done, retrying at its next time, or failed). `start` first recovers the entries a
/// killed daemon left active.
public actor QueueRunner {
    public typealias Execute = @Sendable (QueueEntry) async -> QueueEntry.Outcome

    let store: any QueueStore
    let clock: @Sendable () -> Date
    let jitter: @Sendable () -> Double
    let limit: @Sendable (String) -> Int
    let maximum: Int
    let keep: TimeInterval
    let execute: Execute
    private var running: [String: Task<Void, Never>] = [:]

    public init(
        store: any QueueStore,
        maximum: Int = 8,
        keep: TimeInterval = 7 * 86_400,
        limit: @escaping @Sendable (String) -> Int = { _ in 2 },
        clock: @escaping @Sendable () -> Date = { Date() },
        jitter: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) },
        execute: @escaping Execute
    ) {
        self.store = store
        self.maximum = maximum
        self.keep = keep
        self.limit = limit
        self.clock = clock
        self.jitter = jitter
        self.execute = execute
    }

    /// Before the first tick: what a killed daemon left active is retrying, due now. Returns how many.
    public func start() async throws -> Int {
        try await store.recover(now: clock())
    }

    /// One pass of the loop; returns the ids of the entries it started.
    @discardableResult
    public func tick() async throws -> [String] {
        let now = clock()
        let schedules = try await store.schedules()
        // Which schedules have an entry in progress: read only when there are schedules to ask about.
        let unfinished =
            schedules.isEmpty ? [] : try await store.entries(in: [.scheduled, .queued, .active, .retrying, .held])
        for var schedule in schedules {
            let before = schedule
            let busy = unfinished.contains { $0.scheduleID == schedule.id }
            if let occurrence = schedule.due(at: now, unfinishedEntry: busy) {
                try await store.add(schedule.entry(for: occurrence, now: now))
            }
            if schedule != before { try await store.update(schedule) }
        }
        let claimed = try await store.claim(now: now, maximum: max(0, maximum - running.count), limit: limit)
        for entry in claimed {
            running[entry.id] = Task { await self.run(entry) }
        }
        _ = try await store.purge(now: now, keep: keep)
        return claimed.map(\.id)
    }

    private func run(_ entry: QueueEntry) async {
        let outcome = await execute(entry)
        // Cancelled meanwhile: the cancel stands.
        if var current = try? await store.entry(id: entry.id), current.state == .active {
            try? current.finish(outcome, now: clock(), jitter: jitter())
            try? await store.update(current)
        }
        running[entry.id] = nil
    }

    /// How many transfers run now.
    public var active: Int { running.count }

    /// Waits for the transfers running now to end.
    public func settle() async {
        while let task = running.values.first {
            await task.value
        }
    }
}
