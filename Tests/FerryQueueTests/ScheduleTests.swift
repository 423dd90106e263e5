import FerryQueue
import Foundation
import Testing

/// Recurring transfers over a simulated clock: one entry per occurrence, never two at once, holds respected.
@Suite("Schedules")
struct ScheduleTests {
    static let t0 = try! Date("2026-12-07T08:00:00Z", strategy: .iso8601)  // a Monday

    static func every(_ seconds: TimeInterval, holds: [DateInterval] = []) throws -> Schedule {
        try Schedule(
            recurrence: .every(seconds: seconds),
            direction: .send,
            partner: "acme",
            local: "/out/*.csv",
            remote: "in/",
            holds: holds,
            now: t0
        )
    }

    @Test("every 15 minutes: due at each occurrence, and an occurrence makes an entry that knows its schedule")
    func every() throws {
        var schedule = try Self.every(900)
        #expect(schedule.due(at: Self.t0 + 899, unfinishedEntry: false) == nil)
        let due = schedule.due(at: Self.t0 + 900, unfinishedEntry: false)
        let first = try #require(due)
        #expect(first == Self.t0 + 900)
        #expect(schedule.due(at: Self.t0 + 901, unfinishedEntry: false) == nil, "one entry per occurrence")
        let entry = schedule.entry(for: first, now: Self.t0 + 900)
        #expect(entry.scheduleID == schedule.id && entry.partner == "acme" && entry.isDue(at: Self.t0 + 900))
    }

    @Test("never two at once: an occurrence that comes while the last entry is unfinished is skipped")
    func overlap() throws {
        var schedule = try Self.every(900)
        _ = schedule.due(at: Self.t0 + 900, unfinishedEntry: false)
        #expect(schedule.due(at: Self.t0 + 1800, unfinishedEntry: true) == nil)
        #expect(
            schedule.due(at: Self.t0 + 2000, unfinishedEntry: false) == nil,
            "the skipped occurrence does not come back"
        )
        #expect(schedule.due(at: Self.t0 + 2700, unfinishedEntry: false) == Self.t0 + 2700)
    }

    @Test("occurrences missed while the daemon was down make one entry, the latest, not a burst")
    func catchUp() throws {
        var schedule = try Self.every(60)
        let week = Self.t0 + 7 * 86_400 + 30
        #expect(schedule.due(at: week, unfinishedEntry: false) == Self.t0 + 7 * 86_400)
        #expect(schedule.due(at: week + 20, unfinishedEntry: false) == nil)
    }

    @Test("a calendar hold: no occurrence inside it, the first one after it fires")
    func holds() throws {
        let hold = DateInterval(start: Self.t0 + 3600, end: Self.t0 + 3 * 3600)
        var schedule = try Self.every(900, holds: [hold])
        #expect(schedule.nextOccurrence(after: Self.t0 + 3000) == Self.t0 + 3 * 3600)
        _ = schedule.due(at: Self.t0 + 3000, unfinishedEntry: false)
        #expect(schedule.due(at: Self.t0 + 3 * 3600 - 1, unfinishedEntry: false) == nil, "nothing inside the hold")
        #expect(schedule.due(at: Self.t0 + 3 * 3600, unfinishedEntry: false) == Self.t0 + 3 * 3600)
    }

    @Test("a cron schedule in its time zone: weekdays at 08:30 in Berlin")
    func cron() throws {
        var schedule = try Schedule(
            recurrence: .cron(expression: "30 8 * * MON-FRI", timeZone: "Europe/Berlin"),
            direction: .get,
            partner: "bank",
            local: "/in/",
            remote: "out/statement.csv",
            now: Self.t0
        )
        // Monday 09:00 in Berlin: today's 08:30 has passed; Tuesday's is next.
        #expect(schedule.nextOccurrence(after: Self.t0) == (try Date("2026-12-08T07:30:00Z", strategy: .iso8601)))
        // Friday 08:30 Berlin, then Monday.
        let friday = try Date("2026-12-11T07:30:00Z", strategy: .iso8601)
        #expect(schedule.nextOccurrence(after: friday) == (try Date("2026-12-14T07:30:00Z", strategy: .iso8601)))
        #expect(schedule.due(at: friday, unfinishedEntry: false) == friday)
    }

    @Test(
        "a schedule that cannot be made says why",
        arguments: [
            (Schedule.Recurrence.every(seconds: 30), "at least 1 minute"),
            (.cron(expression: "61 * * * *", timeZone: "UTC"), "minute: '61'"),
            (.cron(expression: "0 8 * * *", timeZone: "Mars/Olympus"), "'Mars/Olympus' is not a time zone"),
        ]
    )
    func mistakes(recurrence: Schedule.Recurrence, message: String) {
        #expect {
            _ = try Schedule(
                recurrence: recurrence,
                direction: .send,
                partner: "acme",
                local: "a",
                remote: "b",
                now: Self.t0
            )
        } throws: { error in
            String(describing: error).contains(message)
        }
    }
}
