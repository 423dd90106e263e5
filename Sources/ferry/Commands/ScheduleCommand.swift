import ArgumentParser
import FerryConfig
import FerryDaemon
import FerryProtocol
import FerryQueue
import Foundation
import NIOHTTP1

/// `ferry schedule`: recurring transfers kept by the daemon.
struct ScheduleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule",
        abstract: "Recurring transfers: every interval or by a cron expression, with holds.",
        discussion: """
            Each occurrence queues one entry, and never while the schedule's last entry is unfinished (that \
            occurrence is skipped); occurrences missed while the daemon was down make one entry, not a burst.
            """,
        subcommands: [ScheduleAdd.self, ScheduleList.self, ScheduleRemove.self]
    )
}

struct ScheduleAdd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Add a schedule: --every or --cron, and the transfer as for ferry queue add.",
        discussion: """
            Examples:
              ferry schedule add --every 15m 'outbox/*.csv' acme:inbound/
              ferry schedule add --cron '0 2 * * 1-5' --tz Europe/Berlin --get acme:outbound/rates.csv /data/in/
              ferry schedule add --every 1h --hold 2026-12-24T00:00/2026-12-27T00:00 report.csv acme:in/
            """
    )

    @OptionGroup var daemon: DaemonOptions
    @OptionGroup var transfer: TransferRequestOptions

    @Option(name: .long, help: "Every this long (15m, 1h, 1d; at least 1m), counted from now.")
    var every: String?

    @Option(name: .long, help: "A cron expression (minute hour day-of-month month day-of-week, or @daily ...).")
    var cron: String?

    @Option(name: .customLong("tz"), help: "The cron expression's time zone (IANA, e.g. Europe/Berlin). Default UTC.")
    var timeZone: String?

    @Option(
        name: .customLong("hold"),
        help: "A period without occurrences, FROM/TO in ISO 8601 (local time without an offset). Repeatable."
    )
    var holds: [String] = []

    func validate() throws {
        guard (every == nil) != (cron == nil) else { throw ValidationError("give either --every or --cron") }
        if timeZone != nil && cron == nil { throw ValidationError("--tz goes with --cron") }
    }

    func run() async throws {
        let requests = try transfer.requests(at: nil)
        guard requests.count == 1 else {
            throw ValidationError(
                "a schedule sends one source (a file, a folder, or a quoted glob such as 'out/*.csv')"
            )
        }
        var intervals: [DateInterval] = []
        for hold in holds {
            let parts = hold.split(separator: "/", maxSplits: 1).map(String.init)
            guard parts.count == 2 else {
                throw ValidationError("--hold takes FROM/TO, e.g. 2026-12-24T00:00/2026-12-27T00:00")
            }
            let from = try TimeText.parse(parts[0], option: "--hold")
            let to = try TimeText.parse(parts[1], option: "--hold")
            guard to > from else { throw ValidationError("--hold \(hold): the end must be after the start") }
            intervals.append(DateInterval(start: from, end: to))
        }
        let request = ScheduleRequest(
            every: try every.map { try ConfigLoader.duration($0, key: "--every") },
            cron: cron,
            timeZone: timeZone,
            transfer: requests[0],
            holds: intervals
        )
        try await daemon.run { client in
            let schedule = try await client.call(.POST, ControlAPI.schedules, body: request, as: Schedule.self)
            daemon.print(schedule) { "scheduled \(schedule.id)  \(ScheduleText.line(schedule))" }
        }
    }
}

struct ScheduleList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls",
        abstract: "List the schedules and their next occurrence."
    )

    @OptionGroup var daemon: DaemonOptions

    func run() async throws {
        try await daemon.run { client in
            let schedules = try await client.call(.GET, ControlAPI.schedules, as: [Schedule].self)
            daemon.print(schedules) {
                schedules.isEmpty
                    ? "no schedules"
                    : schedules.map { "\($0.id.prefix(8))  \(ScheduleText.line($0))" }.joined(separator: "\n")
            }
        }
    }
}

struct ScheduleRemove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm",
        abstract: "Remove a schedule (entries it already queued stay in the queue)."
    )

    @OptionGroup var daemon: DaemonOptions

    @Argument(help: "The schedule's id (or the start of it, as ls prints it).")
    var id: String

    func run() async throws {
        try await daemon.run { client in
            var id = self.id
            if id.count < 36 {
                let ids = try await client.call(.GET, ControlAPI.schedules, as: [Schedule].self).map(\.id)
                id = try QueueText.resolve(id, among: ids, what: ("schedule", "schedules"), list: "ferry schedule ls")
            }
            _ = try await client.call(.DELETE, ControlAPI.schedules + "/" + id, as: ControlClient.Empty.self)
            if !daemon.json { print("removed schedule \(id)") }
        }
    }
}

enum ScheduleText {
    static func line(_ schedule: Schedule) -> String {
        let when: String
        switch schedule.recurrence {
        case .every(let seconds): when = "every \(Int(seconds / 60))m"
        case .cron(let expression, let zone): when = "cron '\(expression)' \(zone)"
        }
        let arrow = schedule.direction == .send ? "->" : "<-"
        let next =
            schedule.nextOccurrence(after: Date()).map { "  next \(QueueText.time($0))" } ?? "  no next occurrence"
        return
            "\(when)  \(TerminalText.escaped(schedule.local)) \(arrow) \(TerminalText.escaped(schedule.partner)):\(TerminalText.escaped(schedule.remote))\(next)"
            + (schedule.holds.isEmpty ? "" : "  (\(schedule.holds.count) hold\(schedule.holds.count == 1 ? "" : "s"))")
    }
}
