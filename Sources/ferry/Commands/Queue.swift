import ArgumentParser
import FerryClient
import FerryConfig
import FerryDaemon
import FerryProtocol
import FerryQueue
import FerryText
import Foundation
import NIOHTTP1

/// `ferry queue`: the daemon's transfer queue, through its control socket.
struct Queue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Queue transfers for the running daemon and manage its queue.",
        discussion: """
            The daemon (ferry serve, or ferry serve --no-listen) runs queued sends and gets to configured \
            partners, a few at a time per partner (partners.NAME.queue.sessions, default 2), and retries failures \
            that may pass (a dropped connection, a 5xx, a busy server) with growing waits (queue.retries, \
            queue.retry-wait, queue.retry-max-wait, queue.deadline). A handshake whose diagnosis names a cause a \
            person must fix fails at once with its finding, unless queue.retry-config-errors is set.

            States: scheduled, queued, active, retrying, held, done, failed, cancelled. Finished entries are \
            kept for queue.keep (7 days).

            Exit codes: 0 done; with --wait, the transfer's own (2 handshake, 3 rejected, 4 integrity, \
            5 network, 6 local I/O) and 7 when it was cancelled; 1 for a request the daemon refused; 5 when no \
            daemon answers.
            """,
        subcommands: [
            QueueAdd.self, QueueList.self, QueueShow.self, QueueAction.Hold.self, QueueAction.Release.self,
            QueueAction.Cancel.self, QueueAction.Retry.self, QueuePurge.self,
        ]
    )
}

/// Where the daemon's control socket is: from the same configuration and root the daemon uses.
struct DaemonOptions: ParsableArguments {
    @Option(name: .long, help: "Configuration file (YAML), the daemon's. Default: $FERRY_CONFIG, else none.")
    var config: String?

    @Option(name: .long, help: "The daemon's root. Default from the config, else ./ferry-data.")
    var root: String?

    @Option(
        name: .long,
        help: "The daemon's control socket. Default queue.control-socket, else <root>/.ferry/control.sock."
    )
    var socket: String?

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func configuration() async throws -> FerryConfiguration {
        var overrides: [String: String] = [:]
        if let root { overrides["root"] = root }
        if let socket { overrides["queue.control-socket"] = socket }
        return try await ConfigLoader.load(file: config, overrides: overrides)
    }

    func client() async throws -> ControlClient {
        ControlClient(socketPath: try await configuration().resolvedControlSocket)
    }

    /// Runs a control request, mapping failures to messages and exit codes.
    func run(_ body: (ControlClient) async throws -> Void) async throws {
        do {
            try await body(try await client())
        } catch let failure as ControlClient.Failure {
            Failure.printError(failure.description)
            throw ExitCode(failure.status == nil ? FerryExitCode.network.rawValue : FerryExitCode.usage.rawValue)
        } catch let error as ExitCode {
            throw error
        } catch {
            throw Failure.exit(error)
        }
    }

    func print<T: Encodable>(_ value: T, text: () -> String) {
        if json {
            let data = (try? ControlAPI.encoder().encode(value)) ?? Data()
            Swift.print(String(decoding: data, as: UTF8.self))
        } else {
            Swift.print(text())
        }
    }
}

/// The options that describe a transfer to queue (also what a schedule queues).
struct TransferRequestOptions: ParsableArguments {
    @Argument(
        help: ArgumentHelp(
            "Send: FILE... PARTNER:PATH (files, folders, or a quoted glob such as 'out/*.csv'). With --get: PARTNER:PATH LOCAL.",
            valueName: "source-and-target"
        )
    )
    var arguments: [String]

    @Flag(name: .long, help: "Fetch PARTNER:PATH to LOCAL instead of sending.")
    var get = false

    @Option(name: .long, help: "Higher runs first (-1000 to 1000; default 0).")
    var priority: Int?

    @Option(name: .long, help: "Retries after the first attempt, or none for no count limit (then give --deadline).")
    var retries: String?

    @Option(name: .customLong("retry-wait"), help: "Wait before the first retry (90s, 5m); doubles each time.")
    var retryWait: String?

    @Option(name: .customLong("retry-max-wait"), help: "The longest wait between retries (1h).")
    var retryMaximumWait: String?

    @Option(name: .long, help: "No attempt starts later than this after queueing (6h, 2d), or none.")
    var deadline: String?

    @Flag(
        name: .customLong("retry-config-errors"),
        help: "Retry a handshake diagnosed as a configuration problem too (default: it fails at once with its finding)."
    )
    var retryConfigurationErrors = false

    @Option(name: .customLong("limit-rate"), help: "Bandwidth limit in bytes per second; K, M, G suffixes (binary).")
    var limitRate: String?

    @OptionGroup(title: "Text mode") var textMode: TextModeOptions

    func validate() throws {
        _ = try textMode.conversion()
        guard arguments.count >= 2 else {
            throw ValidationError(
                "give a source and a target, e.g. `ferry queue add report.csv acme:inbound/` or `ferry queue add --get acme:outbound/a.csv /data/in/`"
            )
        }
        if get && arguments.count != 2 {
            throw ValidationError("--get takes one PARTNER:PATH and one LOCAL path")
        }
    }

    /// One request per source.
    func requests(at: Date?) throws -> [QueueRequest] {
        let retry = try retryRequest()
        let text = try textMode.conversion()?.settings
        let rate = try limitRate.map { text in
            guard let value = ClientOptions.rate(text), value > 0 else {
                throw ValidationError("--limit-rate must be a positive number of bytes per second, e.g. 500K or 20M")
            }
            return value
        }
        func remote(_ text: String) throws -> (String, String) {
            guard let colon = text.firstIndex(of: ":"), colon != text.startIndex, !text.hasPrefix("https://") else {
                throw ValidationError(
                    "'\(TerminalText.escaped(text))' is not PARTNER:PATH: queued transfers go to partners configured in the daemon's config"
                )
            }
            return (String(text[..<colon]), String(text[text.index(after: colon)...]))
        }
        func absolute(_ path: String) -> String {
            URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
                .standardizedFileURL.path
        }
        if get {
            let (partner, path) = try remote(arguments[0])
            return [
                QueueRequest(
                    direction: .get,
                    partner: partner,
                    local: absolute(arguments[1]),
                    remote: path,
                    priority: priority,
                    at: at,
                    retry: retry,
                    rateLimit: rate,
                    text: text
                )
            ]
        }
        let (partner, path) = try remote(arguments.last!)
        return arguments.dropLast().map {
            QueueRequest(
                direction: .send,
                partner: partner,
                local: absolute($0),
                remote: path,
                priority: priority,
                at: at,
                retry: retry,
                rateLimit: rate,
                text: text
            )
        }
    }

    func retryRequest() throws -> RetryRequest? {
        var request = RetryRequest()
        if let retries {
            if retries.lowercased() == "none" {
                request.retries = -1
            } else {
                guard let count = Int(retries), count >= 0 else {
                    throw ValidationError("--retries must be 0 or more, or none")
                }
                request.retries = count
            }
        }
        request.retryWait = try retryWait.map { try ConfigLoader.duration($0, key: "--retry-wait") }
        request.retryMaximumWait = try retryMaximumWait.map { try ConfigLoader.duration($0, key: "--retry-max-wait") }
        if let deadline {
            request.deadline =
                deadline.lowercased() == "none" ? 0 : try ConfigLoader.duration(deadline, key: "--deadline")
        }
        if retryConfigurationErrors { request.retryConfigurationErrors = true }
        return request == RetryRequest() ? nil : request
    }
}

struct QueueAdd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Queue a send (FILE... PARTNER:PATH) or a get (--get PARTNER:PATH LOCAL).",
        discussion: """
            Prints the entry's id. With --wait the command stays until the transfer is done, failed or \
            cancelled, and exits with the transfer's exit code (a job step of a scheduler can submit and wait). \
            Paths are made absolute here: the daemon does not share this folder.

            Examples:
              ferry queue add 'outbox/*.csv' acme:inbound/ --priority 5
              ferry queue add --get acme:outbound/rates.csv /data/in/ --at 22:00
              ferry queue add big.iso acme:inbound/ --retries none --deadline 2d --wait
            """
    )

    @OptionGroup var daemon: DaemonOptions
    @OptionGroup var transfer: TransferRequestOptions

    @Option(
        name: .long,
        help: "Not before this time: ISO 8601 (2026-12-24T22:00:00+01:00), HH:MM (the next such local time), or +30m."
    )
    var at: String?

    @Flag(name: .long, help: "Wait until the transfer ends; exit with its exit code.")
    var wait = false

    func run() async throws {
        let start = try at.map { try TimeText.parse($0, option: "--at") }
        let requests = try transfer.requests(at: start)
        var entries: [QueueEntry] = []
        try await daemon.run { client in
            for request in requests {
                let entry = try await client.call(.POST, ControlAPI.queue, body: request, as: QueueEntry.self)
                entries.append(entry)
                daemon.print(entry) { "queued \(entry.id)  \(QueueText.line(entry))" }
            }
        }
        guard wait else { return }
        var worst: Int32 = 0
        for entry in entries {
            let final = try await QueueText.wait(for: entry.id, daemon: daemon)
            if !daemon.json { print(QueueText.outcome(final)) } else { daemon.print(final) { "" } }
            let code = QueueText.exitCode(final)
            if worst == 0 { worst = code }
        }
        if worst != 0 { throw ExitCode(worst) }
    }
}

struct QueueList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List the queue.")

    @OptionGroup var daemon: DaemonOptions

    @Option(name: .long, help: "Only entries in these states (comma-separated), e.g. retrying,failed.")
    var state: String?

    func run() async throws {
        try await daemon.run { client in
            var path = ControlAPI.queue
            if let state {
                path +=
                    "?state=" + (state.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union([","])) ?? "")
            }
            let entries = try await client.call(.GET, path, as: [QueueEntry].self)
            daemon.print(entries) {
                entries.isEmpty
                    ? "the queue is empty"
                    : entries.map { "\($0.id.prefix(8))  \(QueueText.line($0))" }.joined(separator: "\n")
            }
        }
    }
}

struct QueueShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show an entry: where it stands, its last error and findings, and every state change."
    )

    @OptionGroup var daemon: DaemonOptions

    @Argument(help: "The entry's id (or the start of it, as ls prints it).")
    var id: String

    func run() async throws {
        try await daemon.run { client in
            let id = try await QueueText.resolve(id, client: client)
            let detail = try await client.call(.GET, ControlAPI.queue + "/" + id, as: EntryDetail.self)
            daemon.print(detail) { QueueText.detail(detail) }
        }
    }
}

/// hold, release, cancel, retry: one entry, one change.
enum QueueAction {
    static func apply(_ action: String, id: String, daemon: DaemonOptions) async throws {
        try await daemon.run { client in
            let id = try await QueueText.resolve(id, client: client)
            let entry = try await client.call(.POST, ControlAPI.queue + "/" + id + "/" + action, as: QueueEntry.self)
            daemon.print(entry) { "\(entry.id.prefix(8))  \(QueueText.line(entry))" }
        }
    }

    struct Hold: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "hold",
            abstract: "Hold a scheduled, queued or retrying entry until it is released."
        )
        @OptionGroup var daemon: DaemonOptions
        @Argument(help: "The entry's id (or the start of it).") var id: String
        func run() async throws { try await apply("hold", id: id, daemon: daemon) }
    }

    struct Release: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "release",
            abstract: "Release a held entry to the state it was held in."
        )
        @OptionGroup var daemon: DaemonOptions
        @Argument(help: "The entry's id (or the start of it).") var id: String
        func run() async throws { try await apply("release", id: id, daemon: daemon) }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "cancel",
            abstract:
                "Cancel an unfinished entry; a running transfer is stopped (a resumable upload keeps its checkpoint)."
        )
        @OptionGroup var daemon: DaemonOptions
        @Argument(help: "The entry's id (or the start of it).") var id: String
        func run() async throws { try await apply("cancel", id: id, daemon: daemon) }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "retry",
            abstract: "Run a failed or retrying entry now, with its retries counted afresh."
        )
        @OptionGroup var daemon: DaemonOptions
        @Argument(help: "The entry's id (or the start of it).") var id: String
        func run() async throws { try await apply("retry", id: id, daemon: daemon) }
    }
}

struct QueuePurge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "purge",
        abstract: "Remove the finished entries (done, failed, cancelled) now, instead of after queue.keep."
    )

    @OptionGroup var daemon: DaemonOptions

    func run() async throws {
        try await daemon.run { client in
            let result = try await client.call(.POST, ControlAPI.queue + "/purge", as: PurgeResult.self)
            daemon.print(result) { "purged \(result.purged) finished entr\(result.purged == 1 ? "y" : "ies")" }
        }
    }
}

/// How queue entries are shown: one line each, the same states and words everywhere.
enum QueueText {
    static func time(_ date: Date) -> String {
        date.formatted(.iso8601)
    }

    static func line(_ entry: QueueEntry) -> String {
        let arrow = entry.direction == .send ? "->" : "<-"
        var text =
            "\(entry.state.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0)) \(TerminalText.escaped(entry.local)) \(arrow) \(TerminalText.escaped(entry.partner)):\(TerminalText.escaped(entry.remote))"
        if entry.priority != 0 { text += "  priority \(entry.priority)" }
        if entry.attempts > 0 { text += "  attempts \(entry.attempts)" }
        switch entry.state {
        case .scheduled: text += "  at \(time(entry.notBefore))"
        case .retrying: if let next = entry.nextAttempt { text += "  next \(time(next))" }
        default: break
        }
        if [.retrying, .failed].contains(entry.state), let error = entry.lastError {
            text += "\n          last error: \(TerminalText.escaped(String(error.split(separator: "\n").first ?? "")))"
            if !entry.findings.isEmpty { text += " [\(entry.findings.joined(separator: ", "))]" }
        }
        return text
    }

    static func detail(_ detail: EntryDetail) -> String {
        let entry = detail.entry
        var lines = [
            "entry     \(entry.id)",
            "transfer  \(entry.direction.rawValue) \(TerminalText.escaped(entry.local)) \(entry.direction == .send ? "->" : "<-") \(TerminalText.escaped(entry.partner)):\(TerminalText.escaped(entry.remote))",
            "state     \(entry.state.rawValue)" + (entry.nextAttempt.map { ", next attempt \(time($0))" } ?? ""),
            "attempts  \(entry.attempts) (retries: \(entry.retry.maximumRetries.map(String.init) ?? "no count limit"), first wait \(Int(entry.retry.firstWait)) s, at most \(Int(entry.retry.maximumWait)) s\(entry.retry.deadline.map { ", deadline \(time(entry.created.addingTimeInterval($0)))" } ?? ""))",
            "priority  \(entry.priority)",
            "queued    \(time(entry.created))" + (entry.scheduleID.map { " by schedule \($0)" } ?? ""),
        ]
        if let code = entry.exitCode { lines.append("exit code \(code)") }
        if let result = entry.result { lines.append("result    \(TerminalText.escaped(result))") }
        if let error = entry.lastError {
            lines.append("last error")
            lines += error.split(separator: "\n").map { "  " + TerminalText.escaped(String($0)) }
        }
        if !entry.findings.isEmpty {
            lines.append("findings  \(entry.findings.joined(separator: ", ")) (ferry explain ID tells each one's fix)")
        }
        lines.append("history")
        for event in detail.events {
            lines.append(
                "  \(time(event.time))  \(event.state.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0)) attempt \(event.attempt)"
                    + (event.message.map { "  " + TerminalText.escaped(String($0.split(separator: "\n").first ?? "")) }
                        ?? "")
            )
        }
        return lines.joined(separator: "\n")
    }

    static func outcome(_ entry: QueueEntry) -> String {
        switch entry.state {
        case .done: return "done \(entry.id.prefix(8)): \(TerminalText.escaped(entry.result ?? ""))"
        case .cancelled: return "cancelled \(entry.id.prefix(8))"
        default:
            return
                "failed \(entry.id.prefix(8)) after \(entry.attempts) attempt\(entry.attempts == 1 ? "" : "s"): \(TerminalText.escaped(entry.lastError ?? ""))"
                + (entry.findings.isEmpty ? "" : " [\(entry.findings.joined(separator: ", "))]")
        }
    }

    static func exitCode(_ entry: QueueEntry) -> Int32 {
        switch entry.state {
        case .done: return 0
        case .cancelled: return FerryExitCode.cancelled.rawValue
        default: return Int32(entry.exitCode ?? Int(FerryExitCode.network.rawValue))
        }
    }

    /// The full id of an entry given as the start of its id (as `ls` prints it).
    static func resolve(_ id: String, client: ControlClient) async throws -> String {
        if id.count >= 36 { return id }
        let ids = try await client.call(.GET, ControlAPI.queue, as: [QueueEntry].self).map(\.id)
        return try resolve(id, among: ids, what: ("queue entry", "entries"), list: "ferry queue ls")
    }

    /// The one id in `ids` that starts with `prefix`, or a refusal that says what to do.
    static func resolve(
        _ prefix: String,
        among ids: [String],
        what: (one: String, many: String),
        list: String
    ) throws -> String {
        let matches = ids.filter { $0.hasPrefix(prefix.lowercased()) }
        guard matches.count == 1 else {
            throw ControlClient.Failure(
                status: 404,
                description: matches.isEmpty
                    ? "no \(what.one) starts with \(TerminalText.escaped(prefix)): see `\(list)`"
                    : "\(matches.count) \(what.many) start with \(TerminalText.escaped(prefix)): give more of the id"
            )
        }
        return matches[0]
    }

    /// Polls the entry until it is finished. A daemon that restarts meanwhile (killed and started again) is waited
    /// for, up to a minute without one.
    static func wait(for id: String, daemon: DaemonOptions) async throws -> QueueEntry {
        let client = try await daemon.client()
        var unreachableSince: Date?
        while true {
            do {
                let detail = try await client.call(.GET, ControlAPI.queue + "/" + id, as: EntryDetail.self)
                unreachableSince = nil
                if detail.entry.state.isFinal { return detail.entry }
            } catch let failure as ControlClient.Failure where failure.status == nil {
                let since = unreachableSince ?? Date()
                unreachableSince = since
                if Date().timeIntervalSince(since) > 60 {
                    Failure.printError("\(failure.description); stopped waiting for \(id)")
                    throw ExitCode(FerryExitCode.network.rawValue)
                }
            } catch let failure as ControlClient.Failure {
                Failure.printError(failure.description)
                throw ExitCode(FerryExitCode.usage.rawValue)
            }
            try await Task.sleep(for: .milliseconds(300))
        }
    }
}

/// Times given on the command line: ISO 8601, HH:MM (the next such local time), or +DURATION from now.
enum TimeText {
    static func parse(_ text: String, option: String, now: Date = Date()) throws -> Date {
        if text.hasPrefix("+") {
            return now.addingTimeInterval(try ConfigLoader.duration(String(text.dropFirst()), key: option))
        }
        let parts = text.split(separator: ":")
        if parts.count == 2, let hour = Int(parts[0]), let minute = Int(parts[1]), (0..<24).contains(hour),
            (0..<60).contains(minute), parts[1].count == 2
        {
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = .current
            guard
                let next = calendar.nextDate(
                    after: now,
                    matching: DateComponents(hour: hour, minute: minute, second: 0),
                    matchingPolicy: .nextTime
                )
            else { throw ValidationError("\(option): no next \(text)") }
            return next
        }
        if let date = try? Date(text, strategy: .iso8601) { return date }
        // A local date and time without an offset.
        let local = Date.ISO8601FormatStyle(timeZone: .current).year().month().day().dateTimeSeparator(.standard).time(
            includingFractionalSeconds: false
        )
        if let date = try? Date(text, strategy: local) { return date }
        throw ValidationError(
            "\(option): '\(TerminalText.escaped(text))' is not a time: use ISO 8601 (2026-12-24T22:00:00+01:00, or without the offset for local time), HH:MM, or +30m"
        )
    }
}
