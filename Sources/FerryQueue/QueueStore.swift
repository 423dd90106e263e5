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
    func change(id: String, _ change: @escaping @Sendable (inout QueueEntry) throws -> Void) async throws -> QueueEntry
    func entry(id: String) async throws -> QueueEntry?
    /// The state changes of an entry, oldest first (written with each change, in the same transaction).
    func events(id: String) async throws -> [QueueEvent]
    /// Entries in the given states (all when `nil`), by priority then age.
    func entries(in states: Set<QueueEntry.State>?) async throws -> [QueueEntry]
    /// Starts the due entries that fit: at most `limit(partner)` active per partner and `maximum` in all, by
    /// priority then age. Returns them, already active.
    func claim(now: Date, maximum: Int, limit: @escaping @Sendable (String) -> Int) async throws -> [QueueEntry]
    /// After a crash: active entries back to retrying, due now. Returns how many.
    func recover(now: Date) async throws -> Int
    /// Each tick of the loop: keeps this daemon's claims on its active entries, and takes back (retrying, due now)
    /// those of daemons that stopped renewing theirs. Returns how many it took back.
    func renewClaims(now: Date) async throws -> Int
    /// Removes finished entries older than `keep`. Returns how many.
    func purge(now: Date, keep: TimeInterval) async throws -> Int
    func add(_ schedule: Schedule) async throws
    func update(_ schedule: Schedule) async throws
    func schedules() async throws -> [Schedule]
    func removeSchedule(id: String) async throws -> Bool

    /// Records an event from outside the queue (a received file, a failed handshake, an expiring certificate);
    /// `key` makes it once only: an event whose key is recorded already is not recorded again (returns false).
    @discardableResult
    func record(_ event: FerryEvent, key: String?) async throws -> Bool
    /// Turns the events recorded since the last call into deliveries, one per action `route` names for each, and
    /// moves the outbox's cursor past them in the same transaction. Returns how many events it read.
    func fanOut(limit: Int, route: @escaping @Sendable (FerryEvent) -> [String]) async throws -> Int
    /// A named position of a reader of events from outside the queue (the server ledger's rows read so far).
    func position(_ name: String) async throws -> Double?
    func setPosition(_ name: String, _ value: Double) async throws
    /// Pending deliveries whose time has come, oldest first.
    func dueDeliveries(now: Date, limit: Int) async throws -> [Delivery]
    /// Writes a delivery's outcome: done, pending again at `next`, or failed.
    func update(_ delivery: Delivery) async throws
    func deliveries(in states: Set<Delivery.State>?, limit: Int) async throws -> [Delivery]

    /// Queues a hot folder's file, unless this file (same path, size and modification time) was queued by the
    /// rule already; the entry and the file's record are written in one transaction. Returns whether it queued.
    func addWatched(_ entry: QueueEntry, rule: String, path: String, size: Int64, modified: Double) async throws -> Bool
    /// A rule's files whose entries have finished and whose file has not been moved, deleted or left yet.
    func finishedWatched(rule: String) async throws -> [(path: String, entry: QueueEntry)]
    /// The file's after-step is done (moved, deleted, left): it is not looked at again.
    func settleWatched(rule: String, path: String) async throws
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
/// and one row per state change in `events`, written in the entry's transaction. `events` is also the actions'
/// outbox: `fanOut` turns new events into `deliveries`, which the daemon carries out and marks done.
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

    /// A store dropped without `close()` still closes its database (see `SQLiteLedger`'s deinit).
    deinit {
        if !connection.isClosed { _ = connection.close() }
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
        // The busy timeout first: a second opener waits for the first one's lock instead of failing on it.
        for statement in [
            "PRAGMA busy_timeout=5000",
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=FULL",
            """
            CREATE TABLE IF NOT EXISTS queue (
                id TEXT PRIMARY KEY, partner TEXT NOT NULL, state TEXT NOT NULL, priority INTEGER NOT NULL,
                due REAL NOT NULL, created REAL NOT NULL, updated REAL NOT NULL, entry TEXT NOT NULL)
            """,
            "CREATE INDEX IF NOT EXISTS queue_state ON queue(state, due)",
            """
            CREATE TABLE IF NOT EXISTS events (
                seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, key TEXT UNIQUE, time REAL NOT NULL,
                type TEXT NOT NULL, entry TEXT, event TEXT NOT NULL)
            """,
            "CREATE INDEX IF NOT EXISTS events_entry ON events(entry, seq)",
            """
            CREATE TABLE IF NOT EXISTS deliveries (
                seq INTEGER NOT NULL, action TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL,
                next REAL NOT NULL, detail TEXT, PRIMARY KEY (seq, action))
            """,
            "CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries(state, next)",
            "CREATE TABLE IF NOT EXISTS outbox_cursor (name TEXT PRIMARY KEY, seq INTEGER NOT NULL)",
            // A new outbox starts after the events already there: actions fire for what happens from now on.
            "INSERT OR IGNORE INTO outbox_cursor (name, seq) SELECT 'actions', COALESCE(MAX(seq), 0) FROM events",
            """
            CREATE TABLE IF NOT EXISTS watched_files (
                rule TEXT NOT NULL, path TEXT NOT NULL, size INTEGER NOT NULL, modified REAL NOT NULL,
                entry TEXT NOT NULL, settled INTEGER NOT NULL, PRIMARY KEY (rule, path))
            """,
            "CREATE TABLE IF NOT EXISTS schedules (id TEXT PRIMARY KEY, schedule TEXT NOT NULL)",
        ] {
            do {
                _ = try await connection.query(statement, [])
            } catch {
                try? await connection.close()
                throw error
            }
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
            try await insert(FerryEvent(entry: entry), key: nil)
        }
    }

    @discardableResult
    private func insert(_ event: FerryEvent, key: String?) async throws -> Bool {
        if let key, try await !connection.query("SELECT 1 FROM events WHERE key = ?", [.text(key)]).isEmpty {
            return false
        }
        _ = try await connection.query(
            "INSERT INTO events (id, key, time, type, entry, event) VALUES (?, ?, ?, ?, ?, ?)",
            [
                .text(event.id), key.map { .text($0) } ?? .null, .float(event.time.timeIntervalSince1970),
                .text(event.type), event.entry.map { .text($0) } ?? .null,
                .text(String(decoding: try Self.encoder.encode(event), as: UTF8.self)),
            ]
        )
        return true
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

    public func change(
        id: String,
        _ change: @escaping @Sendable (inout QueueEntry) throws -> Void
    ) async throws -> QueueEntry {
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
            try await connection.query("SELECT event FROM events WHERE entry = ? ORDER BY seq", [.text(id)]).compactMap
            {
                row in
                guard
                    let event = row.column("event")?.string.flatMap({
                        try? Self.decoder.decode(FerryEvent.self, from: Data($0.utf8))
                    }),
                    let state = event.state.flatMap(QueueEntry.State.init(rawValue:))
                else { return nil }
                return QueueEvent(
                    entryID: id,
                    time: event.time,
                    state: state,
                    attempt: event.attempt ?? 0,
                    message: event.message
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

    public func claim(
        now: Date,
        maximum: Int,
        limit: @escaping @Sendable (String) -> Int
    ) async throws -> [QueueEntry] {
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

    /// One daemon per SQLite queue (its lock file holds it for the daemon's life): no other daemon's claims to
    /// take back, and `recover` at the start takes back what a killed one left.
    public func renewClaims(now: Date) async throws -> Int { 0 }

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
                    // Their events go too, once the outbox has passed them (an undelivered action keeps its event).
                    _ = try await connection.query(
                        """
                        DELETE FROM events WHERE entry IN (SELECT id FROM queue WHERE \(finished))
                        AND seq <= (SELECT seq FROM outbox_cursor WHERE name = 'actions')
                        AND seq NOT IN (SELECT seq FROM deliveries WHERE state = 'pending')
                        """,
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

    public func record(_ event: FerryEvent, key: String?) async throws -> Bool {
        try await exclusive { try await transaction { try await insert(event, key: key) } }
    }

    public func fanOut(limit: Int, route: @escaping @Sendable (FerryEvent) -> [String]) async throws -> Int {
        try await exclusive {
            try await transaction {
                let cursor =
                    try await connection.query("SELECT seq FROM outbox_cursor WHERE name = 'actions'", []).first?
                    .column("seq")?.integer ?? 0
                let rows = try await connection.query(
                    "SELECT seq, event FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                    [.integer(cursor), .integer(limit)]
                )
                var last = cursor
                for row in rows {
                    guard let seq = row.column("seq")?.integer else { continue }
                    last = seq
                    guard
                        let event = row.column("event")?.string.flatMap({
                            try? Self.decoder.decode(FerryEvent.self, from: Data($0.utf8))
                        })
                    else { continue }
                    for action in route(event) {
                        _ = try await connection.query(
                            "INSERT OR IGNORE INTO deliveries (seq, action, state, attempts, next) VALUES (?, ?, 'pending', 0, ?)",
                            [.integer(seq), .text(action), .float(event.time.timeIntervalSince1970)]
                        )
                    }
                }
                if last != cursor {
                    _ = try await connection.query(
                        "UPDATE outbox_cursor SET seq = ? WHERE name = 'actions'",
                        [.integer(last)]
                    )
                }
                return rows.count
            }
        }
    }

    private func deliveries(_ sql: String, _ values: [SQLiteData]) async throws -> [Delivery] {
        try await connection.query(
            "SELECT d.seq, d.action, d.state, d.attempts, d.next, d.detail, e.event FROM deliveries d JOIN events e ON e.seq = d.seq "
                + sql,
            values
        ).compactMap { row in
            guard let seq = row.column("seq")?.integer, let action = row.column("action")?.string,
                let state = row.column("state")?.string.flatMap(Delivery.State.init(rawValue:)),
                let event = row.column("event")?.string.flatMap({
                    try? Self.decoder.decode(FerryEvent.self, from: Data($0.utf8))
                })
            else { return nil }
            return Delivery(
                sequence: Int64(seq),
                action: action,
                event: event,
                state: state,
                attempts: row.column("attempts")?.integer ?? 0,
                nextAttempt: Date(timeIntervalSince1970: row.column("next")?.double ?? 0),
                detail: row.column("detail")?.string
            )
        }
    }

    public func position(_ name: String) async throws -> Double? {
        try await exclusive {
            try await connection.query("SELECT seq FROM outbox_cursor WHERE name = ?", [.text("position:" + name)])
                .first?.column("seq")?.double
        }
    }

    public func setPosition(_ name: String, _ value: Double) async throws {
        try await exclusive {
            _ = try await connection.query(
                "INSERT OR REPLACE INTO outbox_cursor (name, seq) VALUES (?, ?)",
                [.text("position:" + name), .float(value)]
            )
        }
    }

    public func dueDeliveries(now: Date, limit: Int) async throws -> [Delivery] {
        try await exclusive {
            try await deliveries(
                "WHERE d.state = 'pending' AND d.next <= ? ORDER BY d.next, d.seq LIMIT ?",
                [.float(now.timeIntervalSince1970), .integer(limit)]
            )
        }
    }

    public func update(_ delivery: Delivery) async throws {
        try await exclusive {
            _ = try await connection.query(
                "UPDATE deliveries SET state = ?, attempts = ?, next = ?, detail = ? WHERE seq = ? AND action = ?",
                [
                    .text(delivery.state.rawValue), .integer(delivery.attempts),
                    .float(delivery.nextAttempt.timeIntervalSince1970), delivery.detail.map { .text($0) } ?? .null,
                    .integer(Int(delivery.sequence)), .text(delivery.action),
                ]
            )
        }
    }

    public func deliveries(in states: Set<Delivery.State>?, limit: Int) async throws -> [Delivery] {
        try await exclusive {
            if let states {
                let marks = Array(repeating: "?", count: states.count).joined(separator: ", ")
                return try await deliveries(
                    "WHERE d.state IN (\(marks)) ORDER BY d.seq DESC LIMIT ?",
                    states.map { .text($0.rawValue) } + [.integer(limit)]
                )
            }
            return try await deliveries("ORDER BY d.seq DESC LIMIT ?", [.integer(limit)])
        }
    }

    public func addWatched(
        _ entry: QueueEntry,
        rule: String,
        path: String,
        size: Int64,
        modified: Double
    ) async throws -> Bool {
        try await exclusive {
            try await transaction {
                if let row = try await connection.query(
                    "SELECT size, modified FROM watched_files WHERE rule = ? AND path = ?",
                    [.text(rule), .text(path)]
                ).first, row.column("size")?.integer == Int(size), row.column("modified")?.double == modified {
                    return false
                }
                try await write(entry, previous: nil)
                _ = try await connection.query(
                    "INSERT OR REPLACE INTO watched_files (rule, path, size, modified, entry, settled) VALUES (?, ?, ?, ?, ?, 0)",
                    [.text(rule), .text(path), .integer(Int(size)), .float(modified), .text(entry.id)]
                )
                return true
            }
        }
    }

    public func finishedWatched(rule: String) async throws -> [(path: String, entry: QueueEntry)] {
        try await exclusive {
            try await connection.query(
                """
                SELECT w.path, q.entry FROM watched_files w JOIN queue q ON q.id = w.entry
                WHERE w.rule = ? AND w.settled = 0 AND q.state IN ('done', 'failed', 'cancelled')
                """,
                [.text(rule)]
            ).compactMap { row in
                guard let path = row.column("path")?.string, let entry = Self.decode(row) else { return nil }
                return (path, entry)
            }
        }
    }

    public func settleWatched(rule: String, path: String) async throws {
        try await exclusive {
            _ = try await connection.query(
                "UPDATE watched_files SET settled = 1 WHERE rule = ? AND path = ?",
                [.text(rule), .text(path)]
            )
        }
    }

    public func close() async throws {
        // Outside the caller's task: a close in a cancelled task is refused (see SQLiteLedger.close).
        let connection = self.connection
        try await exclusive { try await Task { try await connection.close() }.value }
    }
}
