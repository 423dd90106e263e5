public import Foundation

/// One transfer in the daemon's queue: what to move, to or from which partner, and where it stands. Its changes
/// are the methods below, pure (the time and the jitter are passed in), so every path through them is tested
/// without a daemon; the store persists each change with its ledger row.
public struct QueueEntry: Sendable, Codable, Equatable, Identifiable {
    /// Where an entry stands, shown the same way everywhere.
    public enum State: String, Sendable, Codable, CaseIterable {
        /// Waiting for its start time.
        case scheduled
        /// Due: waits for a free slot of its partner.
        case queued
        /// Being transferred.
        case active
        /// Failed an attempt; the next one is at `nextAttempt`.
        case retrying
        /// Stopped by an operator until released.
        case held
        /// Transferred and verified.
        case done
        /// Retries exhausted, the deadline passed, or a failure that retrying does not fix.
        case failed
        /// Cancelled by an operator.
        case cancelled

        /// Whether the entry is finished (and expires after the configured time).
        public var isFinal: Bool { self == .done || self == .failed || self == .cancelled }
    }

    public enum Direction: String, Sendable, Codable {
        /// `ferry send`: local files to the partner.
        case send
        /// `ferry get`: a partner's file to a local path.
        case get
    }

    public let id: String
    public var direction: Direction
    public var partner: String
    /// The local file, folder or glob (send), or the local destination (get).
    public var local: String
    /// The path at the partner.
    public var remote: String
    /// Higher first; equal priorities go in order of creation.
    public var priority: Int
    /// Not before this time (`--at`); the creation time when none was given.
    public var notBefore: Date
    public private(set) var state: State
    /// Attempts started so far.
    public private(set) var attempts: Int
    /// When a retrying entry is due.
    public private(set) var nextAttempt: Date?
    /// The last failure, in the words the transfer reported.
    public private(set) var lastError: String?
    /// The diagnosis finding ids of the last failure (a handshake's).
    public private(set) var findings: [String]
    /// The exit code the transfer would have had on the command line (0 when done).
    public private(set) var exitCode: Int?
    /// What a done entry moved, in the transfer's words (files, bytes, digests).
    public private(set) var result: String?
    /// A bandwidth limit for the transfer, in bytes per second.
    public var rateLimit: Int64?
    /// Text mode: the conversion's settings (`codepage`, `encoding`, `records`, ...; see `TextConversion.settings`),
    /// `nil` for bytes as they are.
    public var text: [String: String]?
    /// What queued it: `watch:NAME` (a hot folder), `action:NAME` (a forward), `schedule:ID`; `nil` for a person.
    public var origin: String?
    public var retry: RetryRule
    /// The schedule that made it, if any.
    public var scheduleID: String?
    public let created: Date
    public private(set) var updated: Date
    /// The state a held entry returns to when released.
    public private(set) var heldFrom: State?

    public init(
        id: String = UUID().uuidString.lowercased(),
        direction: Direction,
        partner: String,
        local: String,
        remote: String,
        priority: Int = 0,
        notBefore: Date? = nil,
        retry: RetryRule = RetryRule(),
        scheduleID: String? = nil,
        now: Date
    ) {
        self.id = id
        self.direction = direction
        self.partner = partner
        self.local = local
        self.remote = remote
        self.priority = priority
        self.notBefore = notBefore ?? now
        self.state = (notBefore ?? now) > now ? .scheduled : .queued
        self.attempts = 0
        self.findings = []
        self.retry = retry
        self.scheduleID = scheduleID
        self.origin = scheduleID.map { "schedule:" + $0 }
        self.created = now
        self.updated = now
    }

    /// Whether the entry may start at `now` (its partner's slots aside).
    public func isDue(at now: Date) -> Bool {
        switch state {
        case .scheduled, .queued: return notBefore <= now
        case .retrying: return (nextAttempt ?? now) <= now
        default: return false
        }
    }

    /// The outcome of one attempt, as the transfer reported it.
    public struct Outcome: Sendable, Equatable {
        public var exitCode: Int
        public var message: String
        public var findings: [String]
        /// Whether trying again may succeed (a dropped connection, a 5xx, a busy server), as opposed to what a
        /// person must fix (a refusal, an integrity failure, a handshake diagnosed as a configuration problem).
        public var transient: Bool

        public init(exitCode: Int, message: String, findings: [String] = [], transient: Bool) {
            self.exitCode = exitCode
            self.message = message
            self.findings = findings
            self.transient = transient
        }
    }

    /// Starts an attempt.
    public mutating func start(now: Date) throws(QueueError) {
        guard isDue(at: now) else { throw QueueError("entry \(id) is \(state.rawValue), not due: it cannot start") }
        state = .active
        attempts += 1
        nextAttempt = nil
        updated = now
    }

    /// The attempt ended. `jitter` is a number in 0..<1 (the caller's random source) that spreads retries.
    public mutating func finish(_ outcome: Outcome, now: Date, jitter: Double) throws(QueueError) {
        guard state == .active else {
            throw QueueError("entry \(id) is \(state.rawValue), not active: no attempt to finish")
        }
        updated = now
        exitCode = outcome.exitCode
        if outcome.exitCode == 0 {
            state = .done
            result = outcome.message
            lastError = nil
            findings = []
            return
        }
        lastError = outcome.message
        findings = outcome.findings
        if let next = retry.nextAttempt(after: attempts, outcome: outcome, created: created, now: now, jitter: jitter) {
            state = .retrying
            nextAttempt = next
        } else {
            state = .failed
        }
    }

    /// Holds a waiting entry until it is released; an active one must be cancelled or waited for.
    public mutating func hold(now: Date) throws(QueueError) {
        guard [.scheduled, .queued, .retrying].contains(state) else {
            throw QueueError("entry \(id) is \(state.rawValue): only a scheduled, queued or retrying entry can be held")
        }
        heldFrom = state
        state = .held
        updated = now
    }

    /// Releases a held entry to the state it was held in (a retry that fell due meanwhile is due at once).
    public mutating func release(now: Date) throws(QueueError) {
        guard state == .held, let from = heldFrom else {
            throw QueueError("entry \(id) is \(state.rawValue), not held")
        }
        state = from
        heldFrom = nil
        updated = now
    }

    /// Cancels an entry that has not finished (an active transfer is stopped by the daemon).
    public mutating func cancel(now: Date) throws(QueueError) {
        guard !state.isFinal else { throw QueueError("entry \(id) is already \(state.rawValue)") }
        state = .cancelled
        heldFrom = nil
        nextAttempt = nil
        updated = now
    }

    /// An operator's retry of a failed or retrying entry: due now, with its retries counted afresh.
    public mutating func retryNow(now: Date) throws(QueueError) {
        guard state == .failed || state == .retrying else {
            throw QueueError("entry \(id) is \(state.rawValue): only a failed or retrying entry can be retried")
        }
        state = .queued
        notBefore = now
        attempts = 0
        nextAttempt = nil
        updated = now
    }

    /// After a crash or kill of the daemon: an entry that was active goes back to retrying, due at once, and
    /// continues from its checkpoint. Counts as the attempt it was.
    public mutating func recover(now: Date) {
        guard state == .active else { return }
        state = .retrying
        nextAttempt = now
        lastError = "the daemon stopped during the transfer; resumed from its checkpoint"
        updated = now
    }

    /// Whether a finished entry is old enough to be purged.
    public func isExpired(at now: Date, keep: TimeInterval) -> Bool {
        state.isFinal && updated.addingTimeInterval(keep) <= now
    }
}

/// How an entry retries: exponential backoff with jitter up to a cap, a count and/or a deadline.
public struct RetryRule: Sendable, Codable, Equatable {
    /// Retries after the first attempt; `nil`: no count limit (then a deadline should be set).
    public var maximumRetries: Int?
    /// The first wait in seconds; each retry doubles it up to `maximumWait`.
    public var firstWait: TimeInterval
    public var maximumWait: TimeInterval
    /// No attempt starts later than this long after the entry was created.
    public var deadline: TimeInterval?
    /// Retry failures a person must fix as well (a handshake diagnosed as a configuration problem): off by
    /// default, so such an entry fails at once with its finding and fix.
    public var retryPermanentFailures: Bool

    public init(
        maximumRetries: Int? = 10,
        firstWait: TimeInterval = 60,
        maximumWait: TimeInterval = 3600,
        deadline: TimeInterval? = nil,
        retryPermanentFailures: Bool = false
    ) {
        self.maximumRetries = maximumRetries
        self.firstWait = firstWait
        self.maximumWait = maximumWait
        self.deadline = deadline
        self.retryPermanentFailures = retryPermanentFailures
    }

    /// The wait before retry number `retry` (1-based), before jitter.
    public func wait(before retry: Int) -> TimeInterval {
        min(maximumWait, firstWait * pow(2, Double(max(retry, 1) - 1)))
    }

    /// When the next attempt is due after `attempts` attempts ended with `outcome`, or `nil` when the entry has
    /// failed for good. The wait is between half and all of the backoff ("equal jitter"), so a crowd of entries
    /// that failed together does not come back together.
    public func nextAttempt(
        after attempts: Int,
        outcome: QueueEntry.Outcome,
        created: Date,
        now: Date,
        jitter: Double
    ) -> Date? {
        guard outcome.transient || retryPermanentFailures else { return nil }
        if let maximumRetries, attempts > maximumRetries { return nil }
        let full = wait(before: attempts)
        let next = now.addingTimeInterval(full / 2 + full / 2 * min(max(jitter, 0), 1))
        if let deadline, next > created.addingTimeInterval(deadline) { return nil }
        return next
    }
}

/// A queue operation that does not apply to the entry as it stands.
public struct QueueError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
