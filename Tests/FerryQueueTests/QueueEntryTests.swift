import FerryQueue
import Foundation
import Testing

/// Every change of a queue entry, with the clock and the jitter passed in.
@Suite("Queue entries")
struct QueueEntryTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    static let network = QueueEntry.Outcome(exitCode: 5, message: "connection reset", transient: true)
    static let untrusted = QueueEntry.Outcome(
        exitCode: 2,
        message: "handshake failed",
        findings: ["untrusted-issuer"],
        transient: false
    )

    static func entry(
        at: Date? = nil,
        retry: RetryRule = RetryRule(maximumRetries: 3, firstWait: 60, maximumWait: 600)
    ) -> QueueEntry {
        QueueEntry(
            direction: .send,
            partner: "acme",
            local: "/data/out/*.csv",
            remote: "in/",
            notBefore: at,
            retry: retry,
            now: t0
        )
    }

    @Test("a new entry is queued, or scheduled for a later start, and due only from then")
    func creation() {
        #expect(Self.entry().state == .queued && Self.entry().isDue(at: Self.t0))
        let later = Self.entry(at: Self.t0 + 3600)
        #expect(later.state == .scheduled && !later.isDue(at: Self.t0 + 3599) && later.isDue(at: Self.t0 + 3600))
    }

    @Test("done after a successful attempt; nothing further applies to it")
    func done() throws {
        var entry = Self.entry()
        try entry.start(now: Self.t0)
        #expect(entry.state == .active && entry.attempts == 1)
        try entry.finish(.init(exitCode: 0, message: "", transient: false), now: Self.t0 + 5, jitter: 0)
        #expect(entry.state == .done && entry.exitCode == 0)
        #expect(throws: QueueError.self) { try entry.start(now: Self.t0 + 10) }
        #expect(throws: QueueError.self) { try entry.cancel(now: Self.t0 + 10) }
        #expect(throws: QueueError.self) { try entry.hold(now: Self.t0 + 10) }
    }

    @Test(
        "transient failures retry with doubling waits, jittered between half and all of them, up to the cap; then fail"
    )
    func backoff() throws {
        var entry = Self.entry(retry: RetryRule(maximumRetries: 5, firstWait: 60, maximumWait: 200))
        var now = Self.t0
        var waits: [TimeInterval] = []
        for jitter in [0.0, 1.0, 0.5, 1.0, 0.0] {
            try entry.start(now: now)
            try entry.finish(Self.network, now: now, jitter: jitter)
            #expect(entry.state == .retrying && entry.lastError == "connection reset")
            let next = try #require(entry.nextAttempt)
            waits.append(next.timeIntervalSince(now))
            #expect(!entry.isDue(at: next - 1) && entry.isDue(at: next))
            now = next
        }
        // 60 (half of it with jitter 0), 120, 200 capped (150 at jitter 0.5), 200, 200 (100 at jitter 0).
        #expect(waits == [30, 120, 150, 200, 100], "\(waits)")
        try entry.start(now: now)
        try entry.finish(Self.network, now: now, jitter: 0.3)
        #expect(entry.state == .failed && entry.attempts == 6 && entry.exitCode == 5)
    }

    @Test("a deadline ends the retries before the count does")
    func deadline() throws {
        var entry = Self.entry(retry: RetryRule(maximumRetries: nil, firstWait: 600, maximumWait: 3600, deadline: 1800))
        try entry.start(now: Self.t0)
        try entry.finish(Self.network, now: Self.t0, jitter: 1)  // next at +600
        try entry.start(now: Self.t0 + 600)
        try entry.finish(Self.network, now: Self.t0 + 600, jitter: 1)  // next at +1800: at the deadline, allowed
        #expect(entry.state == .retrying)
        try entry.start(now: Self.t0 + 1800)
        try entry.finish(Self.network, now: Self.t0 + 1800, jitter: 0)  // next at +3000: past it
        #expect(entry.state == .failed)
    }

    @Test(
        "a failure a person must fix (a configuration finding, a refusal) fails at once with its finding, unless configured to retry"
    )
    func permanent() throws {
        var entry = Self.entry()
        try entry.start(now: Self.t0)
        try entry.finish(Self.untrusted, now: Self.t0, jitter: 0.5)
        #expect(entry.state == .failed && entry.findings == ["untrusted-issuer"] && entry.exitCode == 2)
        var stubborn = Self.entry(retry: RetryRule(maximumRetries: 2, retryPermanentFailures: true))
        try stubborn.start(now: Self.t0)
        try stubborn.finish(Self.untrusted, now: Self.t0, jitter: 0.5)
        #expect(stubborn.state == .retrying)
    }

    @Test("hold and release return an entry to where it was; an active entry cannot be held")
    func holdRelease() throws {
        var entry = Self.entry()
        try entry.start(now: Self.t0)
        #expect(throws: QueueError.self) { try entry.hold(now: Self.t0) }
        try entry.finish(Self.network, now: Self.t0, jitter: 1)
        try entry.hold(now: Self.t0 + 1)
        #expect(entry.state == .held && !entry.isDue(at: Self.t0 + 100_000))
        try entry.release(now: Self.t0 + 100_000)
        #expect(entry.state == .retrying && entry.isDue(at: Self.t0 + 100_000))
        #expect(throws: QueueError.self) { try entry.release(now: Self.t0 + 100_001) }
        var scheduled = Self.entry(at: Self.t0 + 3600)
        try scheduled.hold(now: Self.t0)
        try scheduled.release(now: Self.t0 + 10)
        #expect(scheduled.state == .scheduled && !scheduled.isDue(at: Self.t0 + 10))
    }

    @Test("cancel stops any unfinished entry; an operator's retry brings a failed one back with fresh retries")
    func cancelRetry() throws {
        var held = Self.entry()
        try held.hold(now: Self.t0)
        try held.cancel(now: Self.t0)
        #expect(held.state == .cancelled && held.heldFrom == nil)
        var failed = Self.entry()
        try failed.start(now: Self.t0)
        try failed.finish(Self.untrusted, now: Self.t0, jitter: 0)
        try failed.retryNow(now: Self.t0 + 50)
        #expect(failed.state == .queued && failed.attempts == 0 && failed.isDue(at: Self.t0 + 50))
        #expect(throws: QueueError.self) { try held.retryNow(now: Self.t0) }
    }

    @Test("after the daemon was killed, an active entry goes back to retrying, due at once; others are untouched")
    func recovery() throws {
        var active = Self.entry()
        try active.start(now: Self.t0)
        active.recover(now: Self.t0 + 30)
        #expect(active.state == .retrying && active.isDue(at: Self.t0 + 30) && active.attempts == 1)
        var queued = Self.entry()
        queued.recover(now: Self.t0 + 30)
        #expect(queued.state == .queued)
    }

    @Test("finished entries expire after the configured time; unfinished ones never")
    func expiry() throws {
        var entry = Self.entry()
        #expect(!entry.isExpired(at: Self.t0 + 1e9, keep: 60))
        try entry.cancel(now: Self.t0)
        #expect(!entry.isExpired(at: Self.t0 + 59, keep: 60) && entry.isExpired(at: Self.t0 + 60, keep: 60))
    }

    @Test("an entry survives its own encoding (the store keeps it as JSON)")
    func codable() throws {
        var entry = Self.entry()
        try entry.start(now: Self.t0)
        try entry.finish(Self.network, now: Self.t0, jitter: 0.25)
        let back = try JSONDecoder().decode(QueueEntry.self, from: JSONEncoder().encode(entry))
        #expect(back == entry)
    }
}
