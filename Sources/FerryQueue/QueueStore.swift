public import Foundation
import Logging
import SQLiteNIO

/// Where the daemon keeps its queue and schedules. `SQLiteQueueStore` is the embedded one (beside the ledger); a
/// shared database for several nodes implements the same operations, with the claim done by the database.
public protocol QueueStore: Sendable {
    func add(_ entry: QueueEntry) async throws
    /// Replaces the stored entry with the same id.
    func update(_ entry: QueueEntry) async throws
    /// Reads an entry, applies `change` and writes it back with its event, with no other change of the queue in
    /// between. Returns the entry as written; throws what `change` throws (then nothing is written), or
    /// `QueueError` when there is no such entry.
    func change(id: String, _ change: @Sendable (inout QueueEntry) throws -> Void) async throws -> QueueEntry
    func entry(id: String) async throws -> QueueEntry?
    /// The state changes of an entry, oldest first (written with each change, in the same transaction).
    func events(id: String) async throws -> [QueueEvent]
    /// Entries in the given states (all when `nil`), by priority then age.
    func entries(in states: Set<QueueEntry.State>?) async throws -> [QueueEntry]
    /// Starts the due entries that fit: at most `limit(partner)` active per partner and `maximum` in all, by
    /// priority then age. Returns them, already active.
    func claim(now: Date, maximum: Int, limit: @Sendable (String) -> Int) async throws -> [QueueEntry]
    /// After a crash: active entries back to retrying, due now. Returns how many.
    func recover(now: Date) async throws -> Int
    /// Removes finished entries older than `keep`. Returns how many.
    func purge(now: Date, keep: TimeInterval) async throws -> Int
    func add(_ schedule: Schedule) async throws
    func update(_ schedule: Schedule) async throws
    func schedules() async throws -> [Schedule]
    func removeSchedule(id: String) async throws -> Bool
    func close() async throws
}

/// One change of an entry's state: when, to what, at which attempt, and the message (the failure, for retrying
/// and failed). The queue's own ledger: `ferry queue show` prints it.
public struct QueueEvent: Sendable, Codable, Equatable {
    public let entryID: String
    public let time: Date
    public let state: QueueEntry.State
    public let attempt: Int
    public let message: String?

    public init(entryID: String, time: Date, state: QueueEntry.State, attempt: Int, message: String?) {
        self.entryID = entryID
        self.time = time
        self.state = state
        self.attempt = attempt
        self.message = message
    }
}

/// The queue in an SQLite database: one row per entry (its JSON, with the columns the claim sorts and filters on),
/// and one row per state change in `queue_events`, written in the entry's transaction.
///
/// Every operation runs alone (`exclusive`): an actor alone does not give that, because each query is an await at
/// which another call could start, and a claim must not interleave with a hold of the entry it is claiming.
public actor SQLiteQueueStore: QueueStore {
    private let connection: SQLiteConnection
    private var busy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    private init(connection: SQLiteConnection) {
        self.connection = connection
    }

    /// Opens (and creates) the queue tables in the database at `path`.
    public static func open(path: String) async throws -> SQLiteQueueStore {
        let folder = (path as NSString).deletingLastPathComponent
        if !folder.isEmpty {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        }
        let connection = try await SQLiteConnection.open(
            storage: .file(path: path),
            logger: Logger(label: "ferry.queue", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        for statement in [
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=FULL",
            "PRAGMA busy_timeout=5000",
            """
            CREATE TABLE IF NOT EXISTS queue (
                id TEXT PRIMARY KEY, partner TEXT NOT NULL, state TEXT NOT NULL, priority INTEGER NOT NULL,
                due REAL NOT NULL, created REAL NOT NULL, updated REAL NOT NULL, entry TEXT NOT NULL)
            """,
            "CREATE INDEX IF NOT EXISTS queue_state ON queue(state, due)",
            """
            CREATE TABLE IF NOT EXISTS queue_events (
                entry TEXT NOT NULL, time REAL NOT NULL, state TEXT NOT NULL, attempt INTEGER NOT NULL, message TEXT)
            """,
            "CREATE INDEX IF NOT EXISTS queue_events_entry ON queue_events(entry, time)",
            "CREATE TABLE IF NOT EXISTS schedules (id TEXT PRIMARY KEY, schedule TEXT NOT NULL)",
        ] {
            _ = try await connection.query(statement, [])
        }
        return SQLiteQueueStore(connection: connection)
    }

    private static let encoder = JSONEncoder()
    private static let decoder = JSONDecoder()

    private static func due(_ entry: QueueEntry) -> Double {
        (entry.state == .retrying ? entry.nextAttempt ?? entry.notBefore : entry.notBefore).timeIntervalSince1970
    }

    /// Runs `body` with no other operation of this store in between.
    private func exclusive<T>(_ body: () async throws -> T) async throws -> T {
        while busy { await withCheckedContinuation { waiting.append($0) } }
        busy = true
        defer {
            busy = false
            if !waiting.isEmpty { waiting.removeFirst().resume() }
        }
        return try await body()
    }

    /// Runs `body` in one SQLite transaction: all of its writes or none.
    private func transaction<T>(_ body: () async throws -> T) async throws -> T {
        _ = try await connection.query("BEGIN IMMEDIATE", [])
        do {
            let result = try await body()
            _ = try await connection.query("COMMIT", [])
            return result
        } catch {
            _ = try? await connection.query("ROLLBACK", [])
            throw error
        }
    }

    /// Writes an entry, and its event when its state or attempt changed from `previous` (or it is new).
    private func write(_ entry: QueueEntry, previous: QueueEntry?) async throws {
        let json = String(decoding: try Self.encoder.encode(entry), as: UTF8.self)
        let values: [SQLiteData] = [
            .text(entry.partner), .text(entry.state.rawValue), .integer(entry.priority), .float(Self.due(entry)),
            .float(entry.created.timeIntervalSince1970), .float(entry.updated.timeIntervalSince1970), .text(json),
            .text(entry.id),
        ]
        if previous == nil {
            _ = try await connection.query(
                "INSERT INTO queue (partner, state, priority, due, created, updated, entry, id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                values
            )
        } else {
            _ = try await connection.query(
                "UPDATE queue SET partner = ?, state = ?, priority = ?, due = ?, created = ?, updated = ?, entry = ? WHERE id = ?",
                values
            )
        }
        if previous?.state != entry.state || previous?.attempts != entry.attempts {
            let message =
                [.retrying, .failed].contains(entry.state) ? entry.lastError : entry.state == .done ? entry.result : nil
            _ = try await connection.query(
                "INSERT INTO queue_events (entry, time, state, attempt, message) VALUES (?, ?, ?, ?, ?)",
                [
                    .text(entry.id), .float(entry.updated.timeIntervalSince1970), .text(entry.state.rawValue),
                    .integer(entry.attempts), message.map { .text($0) } ?? .null,
                ]
            )
        }
    }

    private func read(id: String) async throws -> QueueEntry? {
        try await connection.query("SELECT entry FROM queue WHERE id = ?", [.text(id)]).first.flatMap(Self.decode)
    }

    public func add(_ entry: QueueEntry) async throws {
        try await exclusive {
            try await transaction { try await write(entry, previous: nil) }
        }
    }

    public func update(_ entry: QueueEntry) async throws {
        try await exclusive {
            try await transaction {
                guard let previous = try await read(id: entry.id) else {
                    throw QueueError("no queue entry \(entry.id)")
                }
                try await write(entry, previous: previous)
            }
        }
    }

    public func change(id: String, _ change: @Sendable (inout QueueEntry) throws -> Void) async throws -> QueueEntry {
        try await exclusive {
            try await transaction {
                guard let previous = try await read(id: id) else {
                    throw QueueError("no queue entry \(id): see `ferry queue ls` for the entries there are")
                }
                var entry = previous
                try change(&entry)
                try await write(entry, previous: previous)
                return entry
            }
        }
    }

    public func entry(id: String) async throws -> QueueEntry? {
        try await exclusive { try await read(id: id) }
    }

    public func events(id: String) async throws -> [QueueEvent] {
        try await exclusive {
            try await connection.query(
                "SELECT time, state, attempt, message FROM queue_events WHERE entry = ? ORDER BY time, rowid",
                [.text(id)]
            ).compactMap { row in
                guard let time = row.column("time")?.double,
                    let state = row.column("state")?.string.flatMap(QueueEntry.State.init(rawValue:))
                else { return nil }
                return QueueEvent(
                    entryID: id,
                    time: Date(timeIntervalSince1970: time),
                    state: state,
                    attempt: row.column("attempt")?.integer ?? 0,
                    message: row.column("message")?.string
                )
            }
        }
    }

    private static func decode(_ row: SQLiteRow) -> QueueEntry? {
        row.column("entry")?.string.flatMap { try? decoder.decode(QueueEntry.self, from: Data($0.utf8)) }
    }

    public func entries(in states: Set<QueueEntry.State>?) async throws -> [QueueEntry] {
        try await exclusive { try await select(states) }
    }

    private func select(_ states: Set<QueueEntry.State>?) async throws -> [QueueEntry] {
        let rows: [SQLiteRow]
        if let states {
            let marks = Array(repeating: "?", count: states.count).joined(separator: ", ")
            rows = try await connection.query(
                "SELECT entry FROM queue WHERE state IN (\(marks)) ORDER BY priority DESC, created, id",
                states.map { .text($0.rawValue) }
            )
        } else {
            rows = try await connection.query("SELECT entry FROM queue ORDER BY priority DESC, created, id", [])
        }
        return rows.compactMap(Self.decode)
    }

    public func claim(now: Date, maximum: Int, limit: @Sendable (String) -> Int) async throws -> [QueueEntry] {
        try await exclusive {
            try await transaction {
                var active: [String: Int] = [:]
                for row in try await connection.query(
                    "SELECT partner, COUNT(*) AS n FROM queue WHERE state = 'active' GROUP BY partner",
                    []
                ) {
                    if let partner = row.column("partner")?.string { active[partner] = row.column("n")?.integer ?? 0 }
                }
                let candidates = try await connection.query(
                    "SELECT entry FROM queue WHERE state IN ('scheduled', 'queued', 'retrying') AND due <= ? ORDER BY priority DESC, created, id",
                    [.float(now.timeIntervalSince1970)]
                ).compactMap(Self.decode)
                var claimed: [QueueEntry] = []
                for var entry in candidates where claimed.count < maximum && entry.isDue(at: now) {
                    guard active[entry.partner, default: 0] < limit(entry.partner) else { continue }
                    let previous = entry
                    try entry.start(now: now)
                    try await write(entry, previous: previous)
                    active[entry.partner, default: 0] += 1
                    claimed.append(entry)
                }
                return claimed
            }
        }
    }

    public func recover(now: Date) async throws -> Int {
        try await exclusive {
            try await transaction {
                var count = 0
                for var entry in try await select([.active]) {
                    let previous = entry
                    entry.recover(now: now)
                    try await write(entry, previous: previous)
                    count += 1
                }
                return count
            }
        }
    }

    public func purge(now: Date, keep: TimeInterval) async throws -> Int {
        // `QueueEntry.isExpired` in SQL: finished, and last changed at least `keep` ago. No entry is decoded.
        let finished = "state IN ('done', 'failed', 'cancelled') AND updated <= ?"
        let cut: [SQLiteData] = [.float(now.addingTimeInterval(-keep).timeIntervalSince1970)]
        return try await exclusive {
            let count =
                try await connection.query("SELECT COUNT(*) AS n FROM queue WHERE \(finished)", cut).first?.column("n")?
                .integer ?? 0
            if count > 0 {
                try await transaction {
                    _ = try await connection.query(
                        "DELETE FROM queue_events WHERE entry IN (SELECT id FROM queue WHERE \(finished))",
                        cut
                    )
                    _ = try await connection.query("DELETE FROM queue WHERE \(finished)", cut)
                }
            }
            return count
        }
    }

    public func add(_ schedule: Schedule) async throws {
        let json = String(decoding: try Self.encoder.encode(schedule), as: UTF8.self)
        try await exclusive {
            _ = try await connection.query(
                "INSERT INTO schedules (id, schedule) VALUES (?, ?)",
                [.text(schedule.id), .text(json)]
            )
        }
    }

    public func update(_ schedule: Schedule) async throws {
        let json = String(decoding: try Self.encoder.encode(schedule), as: UTF8.self)
        try await exclusive {
            _ = try await connection.query(
                "UPDATE schedules SET schedule = ? WHERE id = ?",
                [.text(json), .text(schedule.id)]
            )
        }
    }

    public func schedules() async throws -> [Schedule] {
        try await exclusive {
            try await connection.query("SELECT schedule FROM schedules ORDER BY id", []).compactMap { row in
                row.column("schedule")?.string.flatMap { try? Self.decoder.decode(Schedule.self, from: Data($0.utf8)) }
            }
        }
    }

    public func removeSchedule(id: String) async throws -> Bool {
        try await exclusive {
            let existing = try await connection.query("SELECT id FROM schedules WHERE id = ?", [.text(id)])
            _ = try await connection.query("DELETE FROM schedules WHERE id = ?", [.text(id)])
            return !existing.isEmpty
        }
    }

    public func close() async throws {
        try await exclusive { try await connection.close() }
    }
}
