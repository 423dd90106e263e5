public import Foundation

/// A recurring transfer: every interval (`--every 15m`) or by a cron expression in a time zone, with calendar
/// holds (periods in which no occurrence fires, e.g. a holiday or a partner's maintenance window). Each occurrence
/// makes one queue entry, and never while an entry of the same schedule is unfinished: an occurrence that comes
/// due then is skipped, and occurrences missed while the daemon was down make one entry, not a burst.
public struct Schedule: Sendable, Codable, Equatable, Identifiable {
    public enum Recurrence: Sendable, Codable, Equatable {
        /// Every `seconds`, counted from the schedule's anchor.
        case every(seconds: TimeInterval)
        /// A cron expression (five fields or a shorthand) in an IANA time zone (`Europe/Berlin`).
        case cron(expression: String, timeZone: String)
    }

    public let id: String
    public var recurrence: Recurrence
    /// What each occurrence queues.
    public var direction: QueueEntry.Direction
    public var partner: String
    public var local: String
    public var remote: String
    public var priority: Int
    public var retry: RetryRule
    /// Periods without occurrences.
    public var holds: [DateInterval]
    /// Where `every` counts from.
    public let anchor: Date
    /// The last occurrence that made an entry or was skipped.
    public private(set) var lastOccurrence: Date?

    public init(
        id: String = UUID().uuidString.lowercased(),
        recurrence: Recurrence,
        direction: QueueEntry.Direction,
        partner: String,
        local: String,
        remote: String,
        priority: Int = 0,
        retry: RetryRule = RetryRule(),
        holds: [DateInterval] = [],
        now: Date
    ) throws(ScheduleError) {
        switch recurrence {
        case .every(let seconds):
            guard seconds >= 60 else {
                throw ScheduleError("--every must be at least 1 minute (it was \(Int(seconds)) s)")
            }
        case .cron(let expression, let zone):
            do {
                _ = try CronExpression(expression)
            } catch {
                throw ScheduleError("cron: \(error.description)")
            }
            guard TimeZone(identifier: zone) != nil else {
                throw ScheduleError("'\(zone)' is not a time zone; use an IANA name such as Europe/Berlin or UTC")
            }
        }
        self.id = id
        self.recurrence = recurrence
        self.direction = direction
        self.partner = partner
        self.local = local
        self.remote = remote
        self.priority = priority
        self.retry = retry
        self.holds = holds
        self.anchor = now
    }

    /// The first occurrence strictly after `date` outside every hold; `nil` when there is none.
    public func nextOccurrence(after date: Date) -> Date? {
        var after = date
        for _ in 0..<10_000 {
            guard let next = rawOccurrence(after: after) else { return nil }
            guard let hold = holds.first(where: { $0.start <= next && next < $0.end }) else { return next }
            // Past the hold's end, without firing inside it.
            after = max(next, hold.end.addingTimeInterval(-0.001))
        }
        return nil
    }

    private func rawOccurrence(after date: Date) -> Date? {
        switch recurrence {
        case .every(let seconds):
            let elapsed = date.timeIntervalSince(anchor)
            let count = elapsed < 0 ? 0 : floor(elapsed / seconds) + 1
            return anchor.addingTimeInterval(count * seconds)
        case .cron(let text, let zone):
            guard let expression = try? CronExpression(text), let timeZone = TimeZone(identifier: zone) else {
                return nil
            }
            return expression.next(after: date, in: timeZone)
        }
    }

    /// What the daemon asks at `now`: the occurrence to make an entry for, if one is due. Occurrences that came
    /// due while an entry of this schedule was unfinished, or while the daemon was down, are passed over; the
    /// latest due one is returned (one entry, not a burst).
    public mutating func due(at now: Date, unfinishedEntry: Bool) -> Date? {
        guard let latest = latestOccurrence(upTo: now, after: lastOccurrence ?? anchor) else { return nil }
        lastOccurrence = latest
        return unfinishedEntry ? nil : latest
    }

    /// The latest occurrence in `(start, now]` outside the holds.
    func latestOccurrence(upTo now: Date, after start: Date) -> Date? {
        switch recurrence {
        case .every(let seconds):
            // Counted back from now, jumping over holds: no walk through every occurrence missed.
            var count = floor(now.timeIntervalSince(anchor) / seconds)
            while count >= 1 {
                let time = anchor.addingTimeInterval(count * seconds)
                guard time > start else { return nil }
                guard let hold = holds.first(where: { $0.start <= time && time < $0.end }) else { return time }
                count = min(count - 1, ceil(hold.start.timeIntervalSince(anchor) / seconds) - 1)
            }
            return nil
        case .cron:
            var latest: Date?
            var probe = start
            // A cron expression steps forward; a year of a per-minute schedule is about half a million steps.
            for _ in 0..<600_000 {
                guard let next = nextOccurrence(after: probe), next <= now else { break }
                latest = next
                probe = next
            }
            return latest
        }
    }

    /// The entry an occurrence makes.
    public func entry(for occurrence: Date, now: Date) -> QueueEntry {
        QueueEntry(
            direction: direction,
            partner: partner,
            local: local,
            remote: remote,
            priority: priority,
            notBefore: occurrence,
            retry: retry,
            scheduleID: id,
            now: now
        )
    }
}

/// A schedule that cannot be made: what is wrong and what would do.
public struct ScheduleError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
