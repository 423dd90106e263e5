public import FerryLedger
public import Foundation
import Logging
import PostgresNIO

/// The queue in the PostgreSQL database several nodes share (`database.url`): the same tables and operations as
/// `SQLiteQueueStore`, made safe for several daemons at once.
///
/// - Claims: the due rows are read `FOR UPDATE SKIP LOCKED` (a row another node is changing, a cancel or a
///   finish, is passed over, never waited on), under a transaction-level advisory lock that makes the per-partner
///   and overall limits exact across nodes (claims are a few milliseconds; two nodes take turns).
/// - Ownership: a claimed entry names its node and a claim expiry by the database's clock, renewed by the node's
///   loop (`renewClaims`). A node that dies stops renewing; once its claims lapse, any node's next tick turns its
///   entries back to retrying, due at once, and they resume from their checkpoint. `recover` at a start takes the
///   node's own active entries back at once.
/// - The outbox: events are inserted under a shared advisory lock and read by `fanOut` under the exclusive one, so
///   the outbox's cursor never passes an event whose transaction has not committed yet (a sequence number is
///   taken before the commit, and commits need not come in its order). Due deliveries are claimed like entries:
///   pushed `deliveryClaim` ahead, so one node carries each out (again after that time when the node died).
/// - Hot-folder files are recorded by rule and path: nodes that watch one shared folder queue each file once.
public final class PostgresQueueStore: QueueStore {
    /// The database and its pool (the daemon's ledger shares it).
    public let database: FerryLedger.PostgresDatabase
    /// The node that claims entries (`database.node`, the host name by default).
    public let node: String
    /// How long a claim lasts unless its node renews it.
    let claimDuration: TimeInterval
    /// How far ahead a claimed delivery's next attempt is pushed while its node carries it out.
    let deliveryClaim: TimeInterval
    private let ownsDatabase: Bool

    /// The queue's schema: versions 100 and on in the migrations table the ledger's migrations use.
    static let migrations: [(version: Int, sql: [String])] = [
        (
            100,
            [
                """
                CREATE TABLE queue_entries (
                    id TEXT PRIMARY KEY, partner TEXT NOT NULL, state TEXT NOT NULL, priority INTEGER NOT NULL,
                    due DOUBLE PRECISION NOT NULL, created DOUBLE PRECISION NOT NULL, updated DOUBLE PRECISION NOT NULL,
                    node TEXT, claim_expires DOUBLE PRECISION, entry TEXT NOT NULL)
                """,
                "CREATE INDEX queue_entries_due ON queue_entries (state, due)",
                """
                CREATE TABLE queue_events (
                    seq BIGSERIAL PRIMARY KEY, id TEXT NOT NULL UNIQUE, key TEXT UNIQUE, time DOUBLE PRECISION NOT NULL,
                    type TEXT NOT NULL, entry TEXT, event TEXT NOT NULL)
                """,
                "CREATE INDEX queue_events_entry ON queue_events (entry, seq)",
                """
                CREATE TABLE queue_deliveries (
                    seq BIGINT NOT NULL, action TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL,
                    next DOUBLE PRECISION NOT NULL, detail TEXT, PRIMARY KEY (seq, action))
                """,
                "CREATE INDEX queue_deliveries_due ON queue_deliveries (state, next)",
                "CREATE TABLE queue_positions (name TEXT PRIMARY KEY, value DOUBLE PRECISION NOT NULL)",
                "INSERT INTO queue_positions (name, value) VALUES ('outbox:actions', 0)",
                """
                CREATE TABLE queue_watched_files (
                    rule TEXT NOT NULL, path TEXT NOT NULL, size BIGINT NOT NULL, modified DOUBLE PRECISION NOT NULL,
                    entry TEXT NOT NULL, settled BOOLEAN NOT NULL, PRIMARY KEY (rule, path))
                """,
                "CREATE TABLE queue_schedules (id TEXT PRIMARY KEY, schedule TEXT NOT NULL)",
            ]
        ),
        (
            101,
            [
                // Where queued resumable uploads stand (the partner's upload URL and the local file's identity), so
                // the node that takes an entry over continues the upload the first node began.
                """
                CREATE TABLE queue_resume (
                    key TEXT PRIMARY KEY, record TEXT NOT NULL, updated DOUBLE PRECISION NOT NULL)
                """
            ]
        ),
    ]

    /// Advisory lock keys ("fq" + a letter): claims, and the order of events against the outbox's reader.
    static let claimLock: Int64 = 0x6671_63
    static let eventsLock: Int64 = 0x6671_65

    private init(
        database: FerryLedger.PostgresDatabase,
        node: String,
        claimDuration: TimeInterval,
        deliveryClaim: TimeInterval,
        ownsDatabase: Bool
    ) {
        self.database = database
        self.node = node
        self.claimDuration = claimDuration
        self.deliveryClaim = deliveryClaim
        self.ownsDatabase = ownsDatabase
    }

    /// The queue in `database` (whose pool must be running), its schema brought up to date.
    public static func open(
        _ database: FerryLedger.PostgresDatabase,
        node: String = ProcessInfo.processInfo.hostName,
        claimDuration: TimeInterval = 60,
        deliveryClaim: TimeInterval = 300,
        within deadline: Duration = .seconds(10)
    ) async throws -> PostgresQueueStore {
        try await database.migrate(migrations, within: deadline)
        return PostgresQueueStore(
            database: database,
            node: node,
            claimDuration: claimDuration,
            deliveryClaim: deliveryClaim,
            ownsDatabase: false
        )
    }

    /// The queue in the database at `url`, with a pool of its own that `close()` ends.
    public static func open(
        url: String,
        password: String? = nil,
        maximumConnections: Int = 10,
        node: String? = nil,
        claimDuration: TimeInterval = 60,
        within deadline: Duration = .seconds(10)
    ) async throws -> PostgresQueueStore {
        let database = try FerryLedger.PostgresDatabase(
            url: url,
            password: password,
            maximumConnections: maximumConnections
        )
        database.start()
        do {
            try await database.migrate(migrations, within: deadline)
        } catch {
            database.shutdown()
            throw error
        }
        return PostgresQueueStore(
            database: database,
            node: node ?? ProcessInfo.processInfo.hostName,
            claimDuration: claimDuration,
            deliveryClaim: 300,
            ownsDatabase: true
        )
    }

    public func close() async throws {
        if ownsDatabase { database.shutdown() }
    }

    // MARK: Running statements

    /// One statement and its parameters, `$1`, `$2`... in the order they are appended.
    struct Statement {
        var sql: String
        var binds = PostgresBindings()
        init(_ sql: String) { self.sql = sql }
    }

    /// Runs `body` on one connection in one transaction (all of its writes or none), within 30 s: the pool waits
    /// for ever for a database that does not answer. What `body` throws comes out as it is; what the database
    /// says (or its silence), as a `QueueError` naming the database.
    func transaction<T: Sendable>(
        _ body: @escaping @Sendable (Transaction) async throws -> T
    ) async throws -> T {
        let client = database.client
        let logger = database.logger
        do {
            return try await withDeadline(.seconds(30), "no answer from the database within 30 s") {
                try await client.withConnection { connection in
                    let transaction = Transaction(connection: connection, logger: logger)
                    try await transaction.run("BEGIN")
                    do {
                        let result = try await body(transaction)
                        try await transaction.run("COMMIT")
                        return result
                    } catch {
                        try? await transaction.run("ROLLBACK")
                        throw error
                    }
                }
            }
        } catch let error as PSQLError {
            throw QueueError(
                "the queue in \(database.displayURL) failed: \(FerryLedger.PostgresDatabase.describe(error))"
            )
        } catch let error as PostgresDecodingError {
            throw QueueError("the queue in \(database.displayURL) holds a row Ferry cannot read: \(error)")
        } catch let error as LedgerError {
            throw QueueError("the queue in \(database.displayURL) failed: \(error)")
        }
    }

    struct Transaction: Sendable {
        let connection: PostgresConnection
        let logger: Logger

        func rows(_ sql: String, _ binds: PostgresBindings = PostgresBindings()) async throws -> [PostgresRow] {
            try await connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger).collect()
        }

        func run(_ sql: String, _ binds: PostgresBindings = PostgresBindings()) async throws {
            _ = try await rows(sql, binds)
        }
    }

    /// Parameters in order; `nil` is SQL NULL.
    static func bindings(_ values: [(any PostgresDynamicTypeEncodable & Sendable)?]) -> PostgresBindings {
        var binds = PostgresBindings(capacity: values.count)
        for value in values {
            if let value { binds.append(value) } else { binds.appendNull() }
        }
        return binds
    }

    static let encoder = JSONEncoder()
    static let decoder = JSONDecoder()

    static func json(_ value: some Encodable) throws -> String {
        String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    private static func decodeEntry(_ row: PostgresRow) -> QueueEntry? {
        (try? row.makeRandomAccess()["entry"].decode(String.self)).flatMap {
            try? decoder.decode(QueueEntry.self, from: Data($0.utf8))
        }
    }

    private static func due(_ entry: QueueEntry) -> Double {
        (entry.state == .retrying ? entry.nextAttempt ?? entry.notBefore : entry.notBefore).timeIntervalSince1970
    }

    // MARK: Entries

    /// Writes an entry (claimed by this node when it becomes active), and its event when its state or attempt
    /// changed from `previous` (or it is new).
    private func write(_ entry: QueueEntry, previous: QueueEntry?, in transaction: Transaction) async throws {
        let owner: String? = entry.state == .active ? node : nil
        let binds = Self.bindings([
            entry.id, entry.partner, entry.state.rawValue, entry.priority, Self.due(entry),
            entry.created.timeIntervalSince1970, entry.updated.timeIntervalSince1970, try Self.json(entry),
            owner, claimDuration,
        ])
        let expiry = "CASE WHEN $9::text IS NULL THEN NULL ELSE extract(epoch FROM clock_timestamp()) + $10 END"
        if previous == nil {
            try await transaction.run(
                """
                INSERT INTO queue_entries (id, partner, state, priority, due, created, updated, entry, node, claim_expires)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \(expiry))
                """,
                binds
            )
        } else {
            // An entry that stays active keeps its claim as it was; one that becomes active is claimed now.
            let keepsClaim = previous?.state == .active && entry.state == .active
            try await transaction.run(
                """
                UPDATE queue_entries SET partner = $2, state = $3, priority = $4, due = $5, created = $6, updated = $7,
                  entry = $8\(keepsClaim ? "" : ", node = $9, claim_expires = \(expiry)")
                WHERE id = $1
                """,
                binds
            )
        }
        if previous?.state != entry.state || previous?.attempts != entry.attempts {
            try await insert(FerryEvent(entry: entry), key: nil, in: transaction)
        }
    }

    /// Reads an entry and locks its row until the transaction ends.
    private func read(id: String, in transaction: Transaction) async throws -> QueueEntry? {
        try await transaction.rows("SELECT entry FROM queue_entries WHERE id = $1 FOR UPDATE", Self.bindings([id]))
            .first.flatMap(Self.decodeEntry)
    }

    public func add(_ entry: QueueEntry) async throws {
        try await transaction { try await self.write(entry, previous: nil, in: $0) }
    }

    public func update(_ entry: QueueEntry) async throws {
        try await transaction { transaction in
            guard let previous = try await self.read(id: entry.id, in: transaction) else {
                throw QueueError("no queue entry \(entry.id)")
            }
            try await self.write(entry, previous: previous, in: transaction)
        }
    }

    public func change(
        id: String,
        _ change: @escaping @Sendable (inout QueueEntry) throws -> Void
    ) async throws -> QueueEntry {
        try await transaction { transaction in
            guard let previous = try await self.read(id: id, in: transaction) else {
                throw QueueError("no queue entry \(id): see `ferry queue ls` for the entries there are")
            }
            var entry = previous
            try change(&entry)
            try await self.write(entry, previous: previous, in: transaction)
            return entry
        }
    }

    public func entry(id: String) async throws -> QueueEntry? {
        try await transaction { transaction in
            try await transaction.rows("SELECT entry FROM queue_entries WHERE id = $1", Self.bindings([id]))
                .first.flatMap(Self.decodeEntry)
        }
    }

    public func events(id: String) async throws -> [QueueEvent] {
        try await transaction { transaction in
            try await transaction.rows(
                "SELECT event FROM queue_events WHERE entry = $1 ORDER BY seq",
                Self.bindings([id])
            ).compactMap { row in
                guard let event = Self.decodeEvent(row),
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

    public func entries(in states: Set<QueueEntry.State>?) async throws -> [QueueEntry] {
        try await transaction { transaction in
            if let states {
                return try await transaction.rows(
                    "SELECT entry FROM queue_entries WHERE state = ANY($1) ORDER BY priority DESC, created, id",
                    Self.bindings([states.map(\.rawValue)])
                ).compactMap(Self.decodeEntry)
            }
            return try await transaction.rows("SELECT entry FROM queue_entries ORDER BY priority DESC, created, id")
                .compactMap(Self.decodeEntry)
        }
    }

    public func claim(
        now: Date,
        maximum: Int,
        limit: @escaping @Sendable (String) -> Int
    ) async throws -> [QueueEntry] {
        guard maximum > 0 else { return [] }
        return try await transaction { transaction in
            try await transaction.run("SELECT pg_advisory_xact_lock(\(Self.claimLock))")
            var active: [String: Int] = [:]
            for row in try await transaction.rows(
                "SELECT partner, count(*) FROM queue_entries WHERE state = 'active' GROUP BY partner"
            ) {
                let (partner, count) = try row.decode((String, Int64).self)
                active[partner] = Int(count)
            }
            // The first due rows in claim order; a partner at its limit can pass over some, so more than `maximum`.
            let candidates = try await transaction.rows(
                """
                SELECT entry FROM queue_entries WHERE state IN ('scheduled', 'queued', 'retrying') AND due <= $1
                ORDER BY priority DESC, created, id LIMIT $2 FOR UPDATE SKIP LOCKED
                """,
                Self.bindings([now.timeIntervalSince1970, max(500, maximum * 20)])
            ).compactMap(Self.decodeEntry)
            var claimed: [QueueEntry] = []
            for var entry in candidates where claimed.count < maximum && entry.isDue(at: now) {
                guard active[entry.partner, default: 0] < limit(entry.partner) else { continue }
                let previous = entry
                try entry.start(now: now)
                try await self.write(entry, previous: previous, in: transaction)
                active[entry.partner, default: 0] += 1
                claimed.append(entry)
            }
            return claimed
        }
    }

    /// This node's active entries (it started again, or it stops), and every active entry whose claim lapsed (its
    /// node died): retrying, due at once.
    public func recover(now: Date) async throws -> Int {
        try await recover(
            now: now,
            where: "state = 'active' AND (node = $1 OR claim_expires < extract(epoch FROM clock_timestamp()))"
        )
    }

    /// Renews this node's claims and takes back the entries of nodes whose claims lapsed. Returns how many it took
    /// back.
    public func renewClaims(now: Date) async throws -> Int {
        try await transaction { transaction in
            try await transaction.run(
                """
                UPDATE queue_entries SET claim_expires = extract(epoch FROM clock_timestamp()) + $2
                WHERE state = 'active' AND node = $1
                """,
                Self.bindings([self.node, self.claimDuration])
            )
        }
        return try await recover(
            now: now,
            where: "state = 'active' AND node <> $1 AND claim_expires < extract(epoch FROM clock_timestamp())"
        )
    }

    private func recover(now: Date, where condition: String) async throws -> Int {
        try await transaction { transaction in
            var count = 0
            for row in try await transaction.rows(
                "SELECT entry FROM queue_entries WHERE \(condition) FOR UPDATE SKIP LOCKED",
                Self.bindings([self.node])
            ) {
                guard var entry = Self.decodeEntry(row) else { continue }
                let previous = entry
                entry.recover(now: now)
                try await self.write(entry, previous: previous, in: transaction)
                count += 1
            }
            return count
        }
    }

    public func purge(now: Date, keep: TimeInterval) async throws -> Int {
        let finished = "state IN ('done', 'failed', 'cancelled') AND updated <= $1"
        let cut = Self.bindings([now.addingTimeInterval(-keep).timeIntervalSince1970])
        return try await transaction { transaction in
            // Their events go too, once the outbox has passed them (an undelivered action keeps its event).
            try await transaction.run(
                """
                DELETE FROM queue_events WHERE entry IN (SELECT id FROM queue_entries WHERE \(finished))
                AND seq <= (SELECT value FROM queue_positions WHERE name = 'outbox:actions')
                AND seq NOT IN (SELECT seq FROM queue_deliveries WHERE state = 'pending')
                """,
                cut
            )
            let rows = try await transaction.rows(
                "WITH gone AS (DELETE FROM queue_entries WHERE \(finished) RETURNING 1) SELECT count(*) FROM gone",
                cut
            )
            return try rows.first.map { Int(try $0.decode(Int64.self)) } ?? 0
        }
    }

    // MARK: Schedules

    public func add(_ schedule: Schedule) async throws {
        let json = try Self.json(schedule)
        try await transaction { transaction in
            try await transaction.run(
                "INSERT INTO queue_schedules (id, schedule) VALUES ($1, $2)",
                Self.bindings([schedule.id, json])
            )
        }
    }

    public func update(_ schedule: Schedule) async throws {
        let json = try Self.json(schedule)
        try await transaction { transaction in
            try await transaction.run(
                "UPDATE queue_schedules SET schedule = $2 WHERE id = $1",
                Self.bindings([schedule.id, json])
            )
        }
    }

    public func schedules() async throws -> [Schedule] {
        try await transaction { transaction in
            try await transaction.rows("SELECT schedule FROM queue_schedules ORDER BY id").compactMap { row in
                (try? row.decode(String.self)).flatMap { try? Self.decoder.decode(Schedule.self, from: Data($0.utf8)) }
            }
        }
    }

    public func removeSchedule(id: String) async throws -> Bool {
        try await transaction { transaction in
            !(try await transaction.rows(
                "DELETE FROM queue_schedules WHERE id = $1 RETURNING id",
                Self.bindings([id])
            ).isEmpty)
        }
    }

    // MARK: resume records

    /// The record of an unfinished transfer under `key`, as the client wrote it.
    public func resumeRecord(_ key: String) async throws -> String? {
        try await transaction { transaction in
            try await transaction.rows("SELECT record FROM queue_resume WHERE key = $1", Self.bindings([key]))
                .first?.decode(String.self)
        }
    }

    public func setResumeRecord(_ record: String, key: String) async throws {
        try await transaction { transaction in
            try await transaction.run(
                """
                INSERT INTO queue_resume (key, record, updated) VALUES ($1, $2, $3)
                ON CONFLICT (key) DO UPDATE SET record = excluded.record, updated = excluded.updated
                """,
                Self.bindings([key, record, Date().timeIntervalSince1970])
            )
        }
    }

    public func removeResumeRecord(_ key: String) async throws {
        try await transaction { transaction in
            try await transaction.run("DELETE FROM queue_resume WHERE key = $1", Self.bindings([key]))
        }
    }

    // MARK: Hot folders

    public func addWatched(
        _ entry: QueueEntry,
        rule: String,
        path: String,
        size: Int64,
        modified: Double
    ) async throws -> Bool {
        try await transaction { transaction in
            // The file's row locked (or, for a new file, its insert racing another node's: the loser waits and
            // then sees the winner's row).
            let inserted = try await transaction.rows(
                """
                INSERT INTO queue_watched_files (rule, path, size, modified, entry, settled)
                VALUES ($1, $2, $3, $4, $5, false) ON CONFLICT DO NOTHING RETURNING entry
                """,
                Self.bindings([rule, path, size, modified, entry.id])
            )
            if inserted.isEmpty {
                let same = try await transaction.rows(
                    """
                    SELECT 1 FROM queue_watched_files WHERE rule = $1 AND path = $2 AND size = $3 AND modified = $4
                    FOR UPDATE
                    """,
                    Self.bindings([rule, path, size, modified])
                )
                if !same.isEmpty { return false }
                try await transaction.run(
                    """
                    UPDATE queue_watched_files SET size = $3, modified = $4, entry = $5, settled = false
                    WHERE rule = $1 AND path = $2
                    """,
                    Self.bindings([rule, path, size, modified, entry.id])
                )
            }
            try await self.write(entry, previous: nil, in: transaction)
            return true
        }
    }

    public func finishedWatched(rule: String) async throws -> [(path: String, entry: QueueEntry)] {
        let found: [WatchedFinished] = try await transaction { transaction in
            try await transaction.rows(
                """
                SELECT w.path, q.entry FROM queue_watched_files w JOIN queue_entries q ON q.id = w.entry
                WHERE w.rule = $1 AND NOT w.settled AND q.state IN ('done', 'failed', 'cancelled')
                """,
                Self.bindings([rule])
            ).compactMap { row in
                guard let path = try? row.makeRandomAccess()["path"].decode(String.self),
                    let entry = Self.decodeEntry(row)
                else { return nil }
                return WatchedFinished(path: path, entry: entry)
            }
        }
        return found.map { ($0.path, $0.entry) }
    }

    private struct WatchedFinished: Sendable {
        let path: String
        let entry: QueueEntry
    }

    public func settleWatched(rule: String, path: String) async throws {
        try await transaction { transaction in
            try await transaction.run(
                "UPDATE queue_watched_files SET settled = true WHERE rule = $1 AND path = $2",
                Self.bindings([rule, path])
            )
        }
    }
}
