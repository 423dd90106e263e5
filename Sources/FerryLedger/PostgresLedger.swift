public import FerryProtocol
public import Foundation
import Logging
import PostgresNIO

/// The ledger and digest index in PostgreSQL, shared by every node: the same rows, filters and pages as
/// `SQLiteLedger`, with each row naming the node that wrote it.
public final class PostgresLedger: ChainedLedger, DigestIndex, UploadLeases, NodeRoster {
    let database: PostgresDatabase
    /// The node writing rows (the host name unless configured).
    public let node: String

    /// The ledger's schema, by version (applied once by `PostgresDatabase.migrate`).
    static let migrations: [(version: Int, sql: [String])] = [
        (
            1,
            [
                """
                CREATE TABLE transfers (
                    id TEXT PRIMARY KEY, node TEXT NOT NULL, direction TEXT NOT NULL, partner TEXT NOT NULL,
                    operation TEXT NOT NULL, path TEXT NOT NULL, bytes BIGINT NOT NULL, sha256 TEXT,
                    started DOUBLE PRECISION NOT NULL, ended DOUBLE PRECISION NOT NULL, result TEXT NOT NULL, error TEXT,
                    tls_version TEXT, cipher_suite TEXT, peer_subject TEXT, peer_issuer TEXT, peer_serial TEXT,
                    findings TEXT, file_sha256 TEXT, conversion TEXT)
                """,
                "CREATE INDEX transfers_ended ON transfers (ended DESC, id DESC)",
                """
                CREATE TABLE file_digests (
                    path TEXT PRIMARY KEY, inode BIGINT NOT NULL, size BIGINT NOT NULL, mtime_ns BIGINT NOT NULL,
                    sha256 TEXT NOT NULL)
                """,
            ]
        ),
        (
            2,
            [
                "CREATE TABLE upload_leases (id TEXT PRIMARY KEY, holder TEXT NOT NULL, node TEXT NOT NULL, expires DOUBLE PRECISION NOT NULL)"
            ]
        ),
        (
            // The hash chain (LedgerChain), one per node; rows from before stay unchained.
            3,
            [
                "ALTER TABLE transfers ADD COLUMN chain TEXT, ADD COLUMN seq BIGINT, ADD COLUMN prev_hash TEXT, ADD COLUMN hash TEXT",
                "CREATE UNIQUE INDEX transfers_chain ON transfers (chain, seq)",
                "CREATE TABLE ledger_anchors (chain TEXT PRIMARY KEY, seq BIGINT NOT NULL, hash TEXT NOT NULL)",
            ]
        ),
        (
            // The nodes alive now (NodeRoster): each shares the object store's request budget with the others.
            4,
            ["CREATE TABLE nodes (name TEXT PRIMARY KEY, seen DOUBLE PRECISION NOT NULL)"]
        ),
        // Quotas counted for every node (PostgresLedger+Quotas).
        quotaMigration,
    ]

    /// The first key of the advisory lock a chain's appends take (the second is the hash of the chain's name).
    static let chainLock = 0x4665_7272

    /// Whether `close()` shuts the database's pool down (the ledger opened it).
    private let ownsDatabase: Bool

    private init(database: PostgresDatabase, node: String, ownsDatabase: Bool) {
        self.database = database
        self.node = node
        self.ownsDatabase = ownsDatabase
    }

    /// The ledger in the database at `url`, with a pool of its own that `close()` ends.
    public static func open(
        url: String,
        password: String? = nil,
        maximumConnections: Int = 10,
        node: String? = nil,
        within deadline: Duration = .seconds(10)
    ) async throws -> PostgresLedger {
        let database = try PostgresDatabase(url: url, password: password, maximumConnections: maximumConnections)
        database.start()
        do {
            try await database.migrate(migrations, within: deadline)
        } catch {
            database.shutdown()
            throw error
        }
        return PostgresLedger(
            database: database,
            node: node ?? ProcessInfo.processInfo.hostName,
            ownsDatabase: true
        )
    }

    /// The ledger in `database` (whose pool must be running), its schema brought up to date.
    public static func open(
        _ database: PostgresDatabase,
        node: String = ProcessInfo.processInfo.hostName,
        within deadline: Duration = .seconds(10)
    ) async throws -> PostgresLedger {
        try await database.migrate(migrations, within: deadline)
        return PostgresLedger(database: database, node: node, ownsDatabase: false)
    }

    /// Appends transfers to this node's chain in one transaction that holds the chain's advisory lock (two processes
    /// with one node name take turns), a statement per 2,700 rows. A row whose id is there already is skipped before
    /// it is linked (a spooled row sent again after its first attempt did reach the database).
    public func record(_ entries: [LedgerEntry]) async throws {
        guard !entries.isEmpty else { return }
        let database = self.database
        let chain = node
        do {
            // In a task of its own, as SQLiteLedger does: a request's cancellation never cuts its row's transaction.
            try await Task {
                try await withDeadline(.seconds(30), "no answer from the database within 30 s") {
                    try await database.client.withTransaction(logger: database.logger) { connection in
                        try await Self.append(entries, chain: chain, on: connection, logger: database.logger)
                    }
                }
            }.value
        } catch {
            throw LedgerError("the ledger in \(database.displayURL) failed: \(PostgresDatabase.describe(error))")
        }
    }

    private static func append(
        _ entries: [LedgerEntry],
        chain: String,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws {
        var binds = PostgresBindings()
        binds.append(chain)
        try await connection.query(
            PostgresQuery(unsafeSQL: "SELECT pg_advisory_xact_lock(\(chainLock), hashtext($1))", binds: binds),
            logger: logger
        ).collect()
        binds = PostgresBindings()
        binds.append(entries.map(\.id))
        var present = Set<String>()
        for row in try await connection.query(
            PostgresQuery(unsafeSQL: "SELECT id FROM transfers WHERE id = ANY($1)", binds: binds),
            logger: logger
        ).collect() {
            present.insert(try row.decode(String.self))
        }
        let fresh = entries.filter { present.insert($0.id).inserted }
        guard !fresh.isEmpty else { return }
        binds = PostgresBindings()
        binds.append(chain)
        let head =
            try await connection.query(
                PostgresQuery(
                    unsafeSQL: """
                        SELECT seq, hash FROM transfers WHERE chain = $1 AND seq IS NOT NULL
                        UNION ALL SELECT seq, hash FROM ledger_anchors WHERE chain = $1 ORDER BY seq DESC LIMIT 1
                        """,
                    binds: binds
                ),
                logger: logger
            ).collect().first.map { row in
                let (seq, hash) = try row.decode((Int64, String).self)
                return ChainStart(chain: chain, seq: seq, hash: hash)
            } ?? ChainStart(chain: chain)
        let linked = LedgerChain.link(fresh, chain: chain, after: head)
        for chunk in SQLiteLedger.chunks(linked.rows, rowsOf: 24, limit: 65_535) {
            var binds = PostgresBindings(capacity: chunk.count * 24)
            var rows: [String] = []
            for (entry, link) in chunk {
                let first = binds.count + 1
                rows.append("(" + (first..<first + 24).map { "$\($0)" }.joined(separator: ", ") + ")")
                binds.append(entry.id)
                binds.append(chain)
                binds.append(entry.direction.rawValue)
                binds.append(entry.partner)
                binds.append(entry.operation.name)
                binds.append(entry.path)
                binds.append(entry.bytes)
                binds.append(entry.sha256)
                binds.append(entry.started.timeIntervalSince1970)
                binds.append(entry.ended.timeIntervalSince1970)
                binds.append(entry.result.rawValue)
                binds.append(entry.error)
                binds.append(entry.tlsVersion)
                binds.append(entry.cipherSuite)
                binds.append(entry.peerSubject)
                binds.append(entry.peerIssuer)
                binds.append(entry.peerSerial)
                binds.append(entry.findings.isEmpty ? nil : entry.findings.joined(separator: ","))
                binds.append(entry.fileSHA256)
                binds.append(entry.conversion)
                binds.append(link.chain)
                binds.append(link.seq)
                binds.append(link.previous)
                binds.append(link.hash)
            }
            try await connection.query(
                PostgresQuery(
                    unsafeSQL: """
                        INSERT INTO transfers (id, node, direction, partner, operation, path, bytes, sha256, started, ended,
                          result, error, tls_version, cipher_suite, peer_subject, peer_issuer, peer_serial, findings,
                          file_sha256, conversion, chain, seq, prev_hash, hash)
                        VALUES \(rows.joined(separator: ", "))
                        """,
                    binds: binds
                ),
                logger: logger
            ).collect()
        }
    }

    public func transfers(_ query: LedgerQuery) async throws -> LedgerPage {
        var conditions: [String] = []
        var binds = PostgresBindings()
        func next() -> String { "$\(binds.count + 1)" }
        // One filter: its condition on the next parameter, and the value bound to it, when the query sets it.
        func filter<Value: PostgresDynamicTypeEncodable>(_ condition: (String) -> String, _ value: Value?) {
            guard let value else { return }
            conditions.append(condition(next()))
            binds.append(value)
        }
        filter({ "id = \($0)" }, query.id)
        filter({ "partner = \($0)" }, query.partner)
        filter({ "direction = \($0)" }, query.direction?.rawValue)
        filter({ "result = \($0)" }, query.result?.rawValue)
        filter({ "operation = \($0)" }, query.operation?.name)
        // A prefix compared as text: no LIKE, so `%` and `_` in a path are themselves.
        filter({ "starts_with(path, \($0))" }, query.pathPrefix)
        filter({ "ended >= \($0)" }, query.since?.timeIntervalSince1970)
        filter({ "ended < \($0)" }, query.until?.timeIntervalSince1970)
        if let after = query.after {
            let ended = next()
            binds.append(after.ended)
            let id = next()
            binds.append(after.id)
            conditions.append("(ended < \(ended) OR (ended = \(ended) AND id < \(id)))")
        }
        let clause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let limit = next()
        // One row more than asked tells whether there is a next page.
        binds.append(query.limit + 1)
        let rows = try await rows(
            "SELECT * FROM transfers \(clause) ORDER BY ended DESC, id DESC LIMIT \(limit)",
            binds
        )
        let entries = try rows.prefix(query.limit).map(Self.entry)
        return LedgerPage(
            entries: entries,
            next: rows.count > query.limit ? entries.last.map(LedgerCursor.init(after:)) : nil
        )
    }

    private static func entry(_ row: PostgresRow) throws -> LedgerEntry {
        let row = row.makeRandomAccess()
        var entry = LedgerEntry(
            id: try row["id"].decode(String.self),
            direction: LedgerEntry.Direction(rawValue: try row["direction"].decode(String.self)) ?? .inbound,
            partner: try row["partner"].decode(String.self),
            operation: LedgerEntry.Operation(stored: try row["operation"].decode(String.self)),
            path: try row["path"].decode(String.self),
            bytes: try row["bytes"].decode(Int64.self),
            sha256: try row["sha256"].decode(String?.self),
            started: Date(timeIntervalSince1970: try row["started"].decode(Double.self)),
            ended: Date(timeIntervalSince1970: try row["ended"].decode(Double.self)),
            result: LedgerEntry.Result(rawValue: try row["result"].decode(String.self)) ?? .failed,
            error: try row["error"].decode(String?.self),
            tlsVersion: try row["tls_version"].decode(String?.self),
            cipherSuite: try row["cipher_suite"].decode(String?.self),
            findings: try row["findings"].decode(String?.self).map { $0.split(separator: ",").map(String.init) } ?? []
        )
        entry.peerSubject = try row["peer_subject"].decode(String?.self)
        entry.peerIssuer = try row["peer_issuer"].decode(String?.self)
        entry.peerSerial = try row["peer_serial"].decode(String?.self)
        entry.fileSHA256 = try row["file_sha256"].decode(String?.self)
        entry.conversion = try row["conversion"].decode(String?.self)
        return entry
    }

    /// Retention as `SQLiteLedger` does it: each chain loses its oldest rows up to the first that ended at or after
    /// `date`, and keeps the last removed row as its anchor; unchained rows go by date. One transaction, each chain under
    /// its append lock.
    @discardableResult
    public func removeTransfers(endedBefore date: Date) async throws -> Int {
        let database = self.database
        let cutoff = date.timeIntervalSince1970
        do {
            return try await withDeadline(.seconds(60), "no answer from the database within 60 s") {
                try await database.client.withTransaction(logger: database.logger) { connection in
                    try await Self.retain(before: cutoff, on: connection, logger: database.logger)
                }
            }
        } catch {
            throw LedgerError("the ledger in \(database.displayURL) failed: \(PostgresDatabase.describe(error))")
        }
    }

    private static func retain(
        before cutoff: Double,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws
        -> Int
    {
        func rows(_ sql: String, _ values: [any PostgresDynamicTypeEncodable & Sendable]) async throws -> [PostgresRow]
        {
            var binds = PostgresBindings()
            for value in values { binds.append(value) }
            return try await connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger).collect()
        }
        var removed = 0
        let chains = try await rows(
            "SELECT DISTINCT chain FROM transfers WHERE chain IS NOT NULL AND seq IS NOT NULL",
            []
        )
        for chain in try chains.map({ try $0.decode(String.self) }) {
            _ = try await rows("SELECT pg_advisory_xact_lock(\(chainLock), hashtext($1))", [chain])
            let cut = try await rows(
                """
                SELECT seq, hash FROM transfers WHERE chain = $1 AND seq = coalesce(
                  (SELECT min(seq) - 1 FROM transfers WHERE chain = $1 AND ended >= $2),
                  (SELECT max(seq) FROM transfers WHERE chain = $1))
                """,
                [chain, cutoff]
            ).first.map { try $0.decode((Int64, String).self) }
            guard let (seq, hash) = cut else { continue }
            _ = try await rows(
                """
                INSERT INTO ledger_anchors (chain, seq, hash) VALUES ($1, $2, $3)
                ON CONFLICT (chain) DO UPDATE SET seq = excluded.seq, hash = excluded.hash
                """,
                [chain, seq, hash]
            )
            removed += try await rows(
                "DELETE FROM transfers WHERE chain = $1 AND seq <= $2 RETURNING 1",
                [chain, seq]
            ).count
        }
        removed += try await rows(
            "DELETE FROM transfers WHERE (chain IS NULL OR seq IS NULL) AND ended < $1 RETURNING 1",
            [cutoff]
        ).count
        return removed
    }

    public func chainStarts() async throws -> [ChainStart] {
        try await rows(
            """
            SELECT c.chain, a.seq, a.hash FROM
              (SELECT DISTINCT chain FROM transfers WHERE chain IS NOT NULL UNION SELECT chain FROM ledger_anchors) c
              LEFT JOIN ledger_anchors a ON a.chain = c.chain
            """,
            PostgresBindings()
        ).map { row in
            let (chain, seq, hash) = try row.decode((String, Int64?, String?).self)
            guard let seq, let hash else { return ChainStart(chain: chain) }
            return ChainStart(chain: chain, seq: seq, hash: hash)
        }
    }

    public func chained(_ chain: String, afterSeq: Int64, limit: Int) async throws -> [ChainedEntry] {
        var binds = PostgresBindings()
        binds.append(chain)
        binds.append(afterSeq)
        binds.append(limit)
        return try await rows(
            "SELECT * FROM transfers WHERE chain = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            binds
        ).map { row in
            let columns = row.makeRandomAccess()
            return ChainedEntry(
                entry: try Self.entry(row),
                link: ChainLink(
                    chain: chain,
                    seq: try columns["seq"].decode(Int64.self),
                    previous: try columns["prev_hash"].decode(String?.self) ?? "",
                    hash: try columns["hash"].decode(String?.self) ?? ""
                )
            )
        }
    }

    public func unchained(afterID: String, limit: Int) async throws -> [LedgerEntry] {
        var binds = PostgresBindings()
        binds.append(afterID)
        binds.append(limit)
        return try await rows(
            "SELECT * FROM transfers WHERE (chain IS NULL OR seq IS NULL) AND id > $1 ORDER BY id LIMIT $2",
            binds
        ).map(Self.entry)
    }

    public func digests(for stamps: [String: FileStamp]) async throws -> [String: String] {
        guard !stamps.isEmpty else { return [:] }
        var binds = PostgresBindings()
        binds.append(Array(stamps.keys))
        let rows = try await rows(
            "SELECT path, inode, size, mtime_ns, sha256 FROM file_digests WHERE path = ANY($1)",
            binds
        )
        var found: [String: String] = [:]
        for row in rows {
            let (path, inode, size, modified, sha256) = try row.decode((String, Int64, Int64, Int64, String).self)
            guard let stamp = stamps[path], UInt64(bitPattern: inode) == stamp.inode, size == stamp.size,
                modified == stamp.modifiedNanoseconds
            else { continue }
            found[path] = sha256
        }
        return found
    }

    public func remember(_ digests: [KnownDigest]) async throws {
        for chunk in SQLiteLedger.chunks(digests, rowsOf: 5, limit: 65_535) {
            var binds = PostgresBindings()
            var rows: [String] = []
            // One row per path: the last digest given for a path wins, as with separate statements.
            var latest: [String: KnownDigest] = [:]
            for known in chunk { latest[known.path] = known }
            for known in latest.values {
                let first = binds.count + 1
                rows.append("(" + (first..<first + 5).map { "$\($0)" }.joined(separator: ", ") + ")")
                binds.append(known.path)
                binds.append(Int64(bitPattern: known.stamp.inode))
                binds.append(known.stamp.size)
                binds.append(known.stamp.modifiedNanoseconds)
                binds.append(known.sha256)
            }
            try await run(
                """
                INSERT INTO file_digests (path, inode, size, mtime_ns, sha256) VALUES \(rows.joined(separator: ", "))
                ON CONFLICT (path) DO UPDATE SET inode = excluded.inode, size = excluded.size, mtime_ns = excluded.mtime_ns,
                  sha256 = excluded.sha256
                """,
                binds
            )
        }
    }

    public func forget(path: String) async throws {
        var binds = PostgresBindings()
        binds.append(path)
        try await run("DELETE FROM file_digests WHERE path = $1", binds)
    }

    /// Takes or renews the lease on an upload, by the database's clock: granted when nobody holds it, its holder's
    /// lease expired (a node that died), or `holder` has it already.
    public func acquireLease(_ upload: String, holder: String, for duration: TimeInterval) async throws -> Bool {
        var binds = PostgresBindings()
        binds.append(upload)
        binds.append(holder)
        binds.append(node)
        binds.append(duration)
        let rows = try await rows(
            """
            INSERT INTO upload_leases (id, holder, node, expires) VALUES ($1, $2, $3, extract(epoch FROM clock_timestamp()) + $4)
            ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, node = excluded.node, expires = excluded.expires
            WHERE upload_leases.expires < extract(epoch FROM clock_timestamp()) OR upload_leases.holder = excluded.holder
            RETURNING holder
            """,
            binds
        )
        return !rows.isEmpty
    }

    public func releaseLease(_ upload: String, holder: String) async throws {
        var binds = PostgresBindings()
        binds.append(upload)
        binds.append(holder)
        try await run("DELETE FROM upload_leases WHERE id = $1 AND holder = $2", binds)
    }

    public func heartbeat(window: TimeInterval) async throws -> Int {
        var mine = PostgresBindings()
        mine.append(node)
        // The database's clock for every node, so nodes whose clocks differ still agree on who is alive.
        try await run(
            """
            INSERT INTO nodes (name, seen) VALUES ($1, extract(epoch FROM clock_timestamp()))
            ON CONFLICT (name) DO UPDATE SET seen = excluded.seen
            """,
            mine
        )
        var recent = PostgresBindings()
        recent.append(window)
        let rows = try await rows(
            "SELECT count(*) AS alive FROM nodes WHERE seen > extract(epoch FROM clock_timestamp()) - $1",
            recent
        )
        let alive = try rows.first?.makeRandomAccess()["alive"].decode(Int64.self) ?? 1
        return max(1, Int(alive))
    }

    public func leave() async throws {
        var mine = PostgresBindings()
        mine.append(node)
        try await run("DELETE FROM nodes WHERE name = $1", mine)
    }

    /// Ends the pool when the ledger opened it; a database given to `open(_:node:)` stays the caller's.
    public func close() async throws {
        if ownsDatabase { database.shutdown() }
    }

    private func run(_ sql: String, _ binds: PostgresBindings) async throws {
        _ = try await rows(sql, binds)
    }

    private func rows(_ sql: String, _ binds: PostgresBindings) async throws -> [PostgresRow] {
        let client = database.client
        let logger = database.logger
        do {
            // Bounded: the pool waits for ever for a database that does not answer.
            return try await withDeadline(.seconds(30), "no answer from the database within 30 s") {
                try await client.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger).collect()
            }
        } catch {
            throw LedgerError("the ledger in \(database.displayURL) failed: \(PostgresDatabase.describe(error))")
        }
    }
}
