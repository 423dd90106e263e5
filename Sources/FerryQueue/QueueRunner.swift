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
        _ = try await store.renewClaims(now: now)
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
        // A stopping daemon leaves the entry active: the next start recovers it, due at once.
        if !stopping {
            let now = clock()
            let jitter = jitter()
            _ = try? await store.change(id: entry.id) { current in
                // Cancelled meanwhile: the cancel stands.
                guard current.state == .active else { return }
                try current.finish(outcome, now: now, jitter: jitter)
            }
        }
        running[entry.id] = nil
        await wakeup.wake()
    }

    private let wakeup = Wakeup()

    /// Something changed (an entry added, released, finished): the loop's pause ends now.
    public nonisolated func wake() {
        Task { await wakeup.wake() }
    }

    /// The loop's pause between ticks: `interval`, or until `wake()`.
    public func pause(_ interval: Duration) async {
        await wakeup.pause(interval)
    }

    /// Cancels an entry; a running transfer is stopped (its task cancelled) and stays cancelled.
    @discardableResult
    public func cancel(id: String) async throws -> QueueEntry {
        let now = clock()
        let entry = try await store.change(id: id) { try $0.cancel(now: now) }
        running[id]?.cancel()
        return entry
    }

    /// How many transfers run now.
    public var active: Int { running.count }

    /// Waits for the transfers running now to end.
    public func settle() async {
        while let task = running.values.first {
            await task.value
        }
    }

    private var stopping = false

    /// The daemon stops: transfers still running after `grace` are cancelled (a resumable one keeps its
    /// checkpoint) and their entries go back to retrying, due at once, for the next start.
    public func stop(grace: Duration) async throws {
        let deadline = ContinuousClock.now + grace
        while !running.isEmpty, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        stopping = true
        for task in running.values { task.cancel() }
        await settle()
        _ = try await store.recover(now: clock())
    }
}

/// A loop's pause that something can cut short: `pause` returns after its interval or at the first `wake`, and a
/// wake that came while the loop was busy ends the next pause at once (nothing that changed is missed).
public actor Wakeup {
    private var woken = false
    private var sleeper: CheckedContinuation<Void, Never>?

    public init() {}

    public func wake() {
        woken = true
        sleeper?.resume()
        sleeper = nil
    }

    public func pause(_ interval: Duration) async {
        if !woken {
            await withCheckedContinuation { continuation in
                sleeper = continuation
                Task {
                    try? await Task.sleep(for: interval)
                    self.wake()
                }
            }
        }
        woken = false
    }
}
