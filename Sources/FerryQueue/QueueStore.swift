public import Foundation
import Logging
import SQLiteNIO

/// Where the daemon keeps its queue and schedules. `SQLiteQueueStore` is the embedded one (beside the ledger); a
/// shared database for several nodes implements the same operations, with the claim done by the database.
public protocol QueueStore: Sendable {
    func add(_ entry: QueueEntry) async throws
    /// Replaces the stored entry with the same id.
    func update(_ entry: QueueEntry) async throws
    func entry(id: String) async throws -> QueueEntry?
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

/// The queue in an SQLite database: one row per entry (its JSON, with the columns the claim sorts and filters on).
public actor SQLiteQueueStore: QueueStore {
    private let connection: SQLiteConnection

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

    private func write(_ entry: QueueEntry, insert: Bool) async throws {
        let json = String(decoding: try Self.encoder.encode(entry), as: UTF8.self)
        let values: [SQLiteData] = [
            .text(entry.partner), .text(entry.state.rawValue), .integer(entry.priority), .float(Self.due(entry)),
            .float(entry.created.timeIntervalSince1970), .float(entry.updated.timeIntervalSince1970), .text(json),
            .text(entry.id),
        ]
        if insert {
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
    }

    public func add(_ entry: QueueEntry) async throws { try await write(entry, insert: true) }

    public func update(_ entry: QueueEntry) async throws { try await write(entry, insert: false) }

    public func entry(id: String) async throws -> QueueEntry? {
        try await connection.query("SELECT entry FROM queue WHERE id = ?", [.text(id)]).first.flatMap(Self.decode)
    }

    private static func decode(_ row: SQLiteRow) -> QueueEntry? {
        row.column("entry")?.string.flatMap { try? decoder.decode(QueueEntry.self, from: Data($0.utf8)) }
    }

    public func entries(in states: Set<QueueEntry.State>?) async throws -> [QueueEntry] {
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
        // One actor, one connection: nothing else changes the queue between the reads and the writes below.
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
            try entry.start(now: now)
            try await write(entry, insert: false)
            active[entry.partner, default: 0] += 1
            claimed.append(entry)
        }
        return claimed
    }

    public func recover(now: Date) async throws -> Int {
        var count = 0
        for var entry in try await entries(in: [.active]) {
            entry.recover(now: now)
            try await write(entry, insert: false)
            count += 1
        }
        return count
    }

    public func purge(now: Date, keep: TimeInterval) async throws -> Int {
        // `QueueEntry.isExpired` in SQL: finished, and last changed at least `keep` ago. No entry is decoded.
        let finished = "state IN ('done', 'failed', 'cancelled') AND updated <= ?"
        let cut: [SQLiteData] = [.float(now.addingTimeInterval(-keep).timeIntervalSince1970)]
        let count =
            try await connection.query("SELECT COUNT(*) AS n FROM queue WHERE \(finished)", cut).first?.column("n")?
            .integer ?? 0
        if count > 0 { _ = try await connection.query("DELETE FROM queue WHERE \(finished)", cut) }
        return count
    }

    public func add(_ schedule: Schedule) async throws {
        _ = try await connection.query(
            "INSERT INTO schedules (id, schedule) VALUES (?, ?)",
            [.text(schedule.id), .text(String(decoding: try Self.encoder.encode(schedule), as: UTF8.self))]
        )
    }

    public func update(_ schedule: Schedule) async throws {
        _ = try await connection.query(
            "UPDATE schedules SET schedule = ? WHERE id = ?",
            [.text(String(decoding: try Self.encoder.encode(schedule), as: UTF8.self)), .text(schedule.id)]
        )
    }

    public func schedules() async throws -> [Schedule] {
        try await connection.query("SELECT schedule FROM schedules ORDER BY id", []).compactMap { row in
            row.column("schedule")?.string.flatMap { try? Self.decoder.decode(Schedule.self, from: Data($0.utf8)) }
        }
    }

    public func removeSchedule(id: String) async throws -> Bool {
        let existing = try await connection.query("SELECT id FROM schedules WHERE id = ?", [.text(id)])
        _ = try await connection.query("DELETE FROM schedules WHERE id = ?", [.text(id)])
        return !existing.isEmpty
    }

    public func close() async throws {
        try await connection.close()
    }
}
