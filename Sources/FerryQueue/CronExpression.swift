public import Foundation

/// A cron expression of five fields (minute, hour, day of month, month, day of week), as crontab(5) reads them:
/// `*`, numbers, ranges (`1-5`), lists (`1,15`), steps (`*/15`, `8-18/2`), month and day names (`JAN`, `MON`),
/// 0 or 7 for Sunday, and the shorthands `@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`. When both the day
/// of month and the day of week are restricted, a day matching either fires (as cron does).
///
/// Times are wall-clock times in the schedule's time zone. Across daylight-saving changes: a time that does not
/// exist (the hour skipped in spring) does not fire that day; a time of a given hour that occurs twice (the hour
/// repeated in autumn) fires once, at its first occurrence, while an every-hour job fires in each real hour.
public struct CronExpression: Sendable, Hashable, CustomStringConvertible {
    let minutes: Set<Int>
    let hours: Set<Int>
    let days: Set<Int>
    let months: Set<Int>
    let weekdays: Set<Int>
    let daysRestricted: Bool
    let weekdaysRestricted: Bool
    let hoursRestricted: Bool
    public let description: String

    /// Parses an expression; the error names the field and what it accepts.
    public init(_ text: String) throws(CronError) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let shorthands = [
            "@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@weekly": "0 0 * * 0",
            "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *",
        ]
        let expanded = shorthands[trimmed.lowercased()] ?? trimmed
        let fields = expanded.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard fields.count == 5 else {
            throw CronError(
                "'\(text)' has \(fields.count) fields; a cron expression has 5: minute hour day-of-month month day-of-week (e.g. '*/15 8-18 * * MON-FRI')"
            )
        }
        let monthNames = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
        let dayNames = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
        minutes = try Self.field(fields[0], name: "minute", range: 0...59)
        hours = try Self.field(fields[1], name: "hour", range: 0...23)
        days = try Self.field(fields[2], name: "day of month", range: 1...31)
        months = try Self.field(fields[3], name: "month", range: 1...12, names: monthNames, firstName: 1)
        // 7 is Sunday too.
        weekdays = Set(
            try Self.field(fields[4], name: "day of week", range: 0...7, names: dayNames, firstName: 0).map { $0 % 7 }
        )
        daysRestricted = fields[2] != "*" && fields[2] != "?"
        weekdaysRestricted = fields[4] != "*" && fields[4] != "?"
        hoursRestricted = fields[1] != "*"
        description = trimmed
    }

    private static func field(
        _ text: String,
        name: String,
        range: ClosedRange<Int>,
        names: [String] = [],
        firstName: Int = 0
    ) throws(CronError) -> Set<Int> {
        var values = Set<Int>()
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let pieces = part.split(separator: "/", omittingEmptySubsequences: false)
            guard pieces.count <= 2, !pieces[0].isEmpty else {
                throw CronError("\(name): '\(part)' is not a value, range or step")
            }
            var step = 1
            if pieces.count == 2 {
                guard let value = Int(pieces[1]), value > 0, value <= range.upperBound else {
                    throw CronError(
                        "\(name): the step in '\(part)' must be a whole number from 1 to \(range.upperBound)"
                    )
                }
                step = value
            }
            let span: ClosedRange<Int>
            if pieces[0] == "*" || pieces[0] == "?" {
                span = range
            } else {
                let bounds = pieces[0].split(separator: "-", omittingEmptySubsequences: false)
                guard bounds.count <= 2 else { throw CronError("\(name): '\(part)' is not a value or a range") }
                let low = try value(bounds[0], name: name, range: range, names: names, firstName: firstName)
                let high =
                    bounds.count == 2
                    ? try value(bounds[1], name: name, range: range, names: names, firstName: firstName)
                    : (pieces.count == 2 ? range.upperBound : low)
                guard low <= high else { throw CronError("\(name): the range '\(part)' runs backwards") }
                span = low...high
            }
            values.formUnion(stride(from: span.lowerBound, through: span.upperBound, by: step))
        }
        return values
    }

    private static func value(
        _ text: Substring,
        name: String,
        range: ClosedRange<Int>,
        names: [String],
        firstName: Int
    ) throws(CronError) -> Int {
        if let index = names.firstIndex(of: text.uppercased()) { return index + firstName }
        guard let number = Int(text), range.contains(number) else {
            let named = names.isEmpty ? "" : " or \(names.first!)-\(names.last!)"
            throw CronError("\(name): '\(text)' is not \(range.lowerBound)-\(range.upperBound)\(named)")
        }
        return number
    }

    /// The first time strictly after `date` at which the expression fires, in `timeZone`; `nil` when none comes
    /// within eight years (e.g. `0 0 30 2 *`, February 30th).
    public func next(after date: Date, in timeZone: TimeZone) -> Date? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        // The next whole minute.
        var candidate = Date(timeIntervalSince1970: (floor(date.timeIntervalSince1970 / 60) + 1) * 60)
        let limit = date.addingTimeInterval(8 * 366 * 86_400)
        while candidate < limit {
            let wall = calendar.dateComponents([.year, .month, .day, .hour, .minute, .weekday], from: candidate)
            guard let month = wall.month, let day = wall.day, let hour = wall.hour, let minute = wall.minute,
                let weekday = wall.weekday
            else { return nil }
            if !months.contains(month) {
                candidate = startOfNextMonth(after: candidate, calendar: calendar)
                continue
            }
            if !dayMatches(day: day, weekday: weekday - 1) {
                candidate = startOfNextDay(after: candidate, calendar: calendar)
                continue
            }
            if !hours.contains(hour) {
                // The start of the next wall-clock hour: an hour skipped in spring is passed over, never matched.
                candidate = candidate.addingTimeInterval(Double(60 - minute) * 60)
                continue
            }
            if !minutes.contains(minute) {
                candidate = candidate.addingTimeInterval(60)
                continue
            }
            // An autumn hour that repeats: a job for a given hour fires at its first occurrence only; one for every
            // hour fires in each real hour (as cron does).
            let hourEarlier = calendar.dateComponents(
                [.day, .hour, .minute],
                from: candidate.addingTimeInterval(-3600)
            )
            if hoursRestricted, hourEarlier.day == day, hourEarlier.hour == hour, hourEarlier.minute == minute {
                candidate = candidate.addingTimeInterval(60)
                continue
            }
            return candidate
        }
        return nil
    }

    private func dayMatches(day: Int, weekday: Int) -> Bool {
        switch (daysRestricted, weekdaysRestricted) {
        case (true, true): return days.contains(day) || weekdays.contains(weekday)
        case (true, false): return days.contains(day)
        case (false, true): return weekdays.contains(weekday)
        case (false, false): return true
        }
    }

    private func startOfNextDay(after date: Date, calendar: Calendar) -> Date {
        let start = calendar.startOfDay(for: date)
        return calendar.date(byAdding: .day, value: 1, to: start) ?? date.addingTimeInterval(86_400)
    }

    private func startOfNextMonth(after date: Date, calendar: Calendar) -> Date {
        var components = calendar.dateComponents([.year, .month], from: date)
        components.day = 1
        let first = calendar.date(from: components) ?? date
        return calendar.date(byAdding: .month, value: 1, to: first) ?? date.addingTimeInterval(28 * 86_400)
    }
}

/// A cron expression that cannot be read: which field and what it accepts.
public struct CronError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
