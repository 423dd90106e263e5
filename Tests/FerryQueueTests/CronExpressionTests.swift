import FerryQueue
import Foundation
import Testing

/// Cron expressions as crontab(5) reads them, and their next times in a time zone, across daylight saving.
@Suite("Cron expressions")
struct CronExpressionTests {
    static func date(_ text: String) -> Date {
        try! Date(text, strategy: .iso8601)
    }

    static func next(_ expression: String, after: String, zone: String = "UTC") throws -> String? {
        let cron = try CronExpression(expression)
        guard let date = cron.next(after: date(after), in: TimeZone(identifier: zone)!) else { return nil }
        return date.formatted(.iso8601)
    }

    @Test(
        "the next time after a given one",
        arguments: [
            ("*/15 * * * *", "2026-12-06T10:07:30Z", "2026-12-06T10:15:00Z"),
            ("*/15 * * * *", "2026-12-06T10:15:00Z", "2026-12-06T10:30:00Z"),  // strictly after
            ("0 8-18/2 * * MON-FRI", "2026-12-05T19:00:00Z", "2026-12-07T08:00:00Z"),  // Saturday evening → Monday
            ("30 2 1 * *", "2026-12-06T00:00:00Z", "2027-01-01T02:30:00Z"),
            ("0 0 29 2 *", "2026-03-01T00:00:00Z", "2028-02-29T00:00:00Z"),  // the next leap day
            ("@daily", "2026-12-31T23:59:59Z", "2027-01-01T00:00:00Z"),
            ("@hourly", "2026-12-06T10:00:00Z", "2026-12-06T11:00:00Z"),
            ("0 12 * * 7", "2026-12-06T13:00:00Z", "2026-12-13T12:00:00Z"),  // 7 is Sunday
            ("0 0 13 * FRI", "2026-12-06T00:00:00Z", "2026-12-11T00:00:00Z"),  // day of month OR day of week
            ("5,35 9 * JAN,jul *", "2026-12-06T00:00:00Z", "2027-01-01T09:05:00Z"),
        ]
    )
    func next(expression: String, after: String, expected: String) throws {
        #expect(try Self.next(expression, after: after) == expected)
    }

    @Test("in a time zone: wall-clock times, also where the offset is not whole hours")
    func zones() throws {
        #expect(
            try Self.next("0 9 * * *", after: "2026-12-06T00:00:00Z", zone: "Europe/Berlin") == "2026-12-06T08:00:00Z"
        )
        #expect(
            try Self.next("0 9 * * *", after: "2026-07-06T00:00:00Z", zone: "Europe/Berlin") == "2026-07-06T07:00:00Z"
        )
        #expect(
            try Self.next("0 9 * * *", after: "2026-12-06T00:00:00Z", zone: "Asia/Kolkata") == "2026-12-06T03:30:00Z"
        )
        #expect(
            try Self.next("15 * * * *", after: "2026-12-06T00:00:00Z", zone: "Asia/Kathmandu") == "2026-12-06T00:30:00Z"
        )
    }

    @Test("daylight saving: a time in the skipped hour does not fire that day; one in the repeated hour fires once")
    func daylightSaving() throws {
        // Berlin, 2026-03-29: 02:00 becomes 03:00. 02:30 does not exist that day.
        #expect(
            try Self.next("30 2 * * *", after: "2026-03-28T12:00:00Z", zone: "Europe/Berlin") == "2026-03-30T00:30:00Z"
        )
        // Berlin, 2026-10-25: 03:00 becomes 02:00 again. 02:30 happens twice; only the first fires.
        let first = try #require(try Self.next("30 2 * * *", after: "2026-10-24T12:00:00Z", zone: "Europe/Berlin"))
        #expect(first == "2026-10-25T00:30:00Z")
        #expect(try Self.next("30 2 * * *", after: first, zone: "Europe/Berlin") == "2026-10-26T01:30:00Z")
        // An every-hour job runs in each real hour, the repeated one too.
        var times: [String] = []
        var after = "2026-10-24T23:00:00Z"
        for _ in 0..<4 {
            after = try #require(try Self.next("0 * * * *", after: after, zone: "Europe/Berlin"))
            times.append(after)
        }
        #expect(
            times == ["2026-10-25T00:00:00Z", "2026-10-25T01:00:00Z", "2026-10-25T02:00:00Z", "2026-10-25T03:00:00Z"],
            "\(times)"
        )
    }

    @Test("an expression that never fires has no next time")
    func never() throws {
        #expect(try Self.next("0 0 30 2 *", after: "2026-01-01T00:00:00Z") == nil)
    }

    @Test(
        "mistakes name the field and what it accepts",
        arguments: [
            ("* * * *", "has 4 fields"),
            ("60 * * * *", "minute: '60' is not 0-59"),
            ("* 24 * * *", "hour: '24' is not 0-23"),
            ("* * 0 * *", "day of month: '0' is not 1-31"),
            ("* * * FOO *", "month: 'FOO' is not 1-12 or JAN-DEC"),
            ("* * * * 8", "day of week: '8' is not 0-7 or SUN-SAT"),
            ("*/0 * * * *", "minute: the step in '*/0'"),
            ("5-1 * * * *", "minute: the range '5-1' runs backwards"),
            ("1,,2 * * * *", "minute: '' is not a value"),
            ("@sometimes", "has 1 fields"),
        ]
    )
    func mistakes(text: String, message: String) {
        #expect {
            _ = try CronExpression(text)
        } throws: { error in
            String(describing: error).contains(message)
        }
    }
}
