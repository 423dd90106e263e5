public import FerryProtocol
public import Foundation
import Logging
import NIOCore
import SQLiteNIO

#if canImport(Glibc)
import Glibc
#endif

/// The embedded ledger: one SQLite database with one row per transfer and (on a server) the digest index of
/// committed files.
public actor SQLiteLedger: ChainedLedger, DigestIndex {
    private let connection: SQLiteConnection
    /// Where the database lives.
    public let path: String
    /// Whether a transaction is open on the connection (an append or a retention pass), and who waits for it: the
    /// actor runs others' calls at every await, and SQLite has one transaction per connection.
    private var inTransaction = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    private init(connection: SQLiteConnection, path: String) {
        self.connection = connection
        self.path = path
    }

    /// A ledger dropped without `close()` (a path that threw between open and close) still closes its database:
    /// SQLite's connection would otherwise keep the file open and, in a debug build, trap when it goes.
    deinit {
        if !connection.isClosed { _ = connection.close() }
    }

    /// Opens (and creates or migrates) the ledger at `path`, creating its folder.
    public static func open(path: String) async throws -> SQLiteLedger {
        let folder = (path as NSString).deletingLastPathComponent
        if !folder.isEmpty {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        }
        // Created 0600 before SQLite opens it: its journal files take the database's mode.
        if !FileManager.default.fileExists(atPath: path) {
            let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            if fd >= 0 { Glibc.close(fd) }
        }
        let connection: SQLiteConnection
        do {
            connection = try await SQLiteConnection.open(
                storage: .file(path: path),
                logger: Logger(label: "ferry.ledger", factory: { _ in SwiftLogNoOpLogHandler() })
            )
        } catch {
            throw LedgerError("cannot open the ledger at \(path) (\(error)); check that the folder is writable")
        }
        let ledger = SQLiteLedger(connection: connection, path: path)
        do {
            try await withOpenLock(path + ".lock") { try await ledger.migrate() }
        } catch {
            try? await connection.close()
            throw LedgerError(
                "cannot prepare the ledger at \(path) (\(error)); check that it is a Ferry ledger and writable"
            )
        }
        return ledger
    }

    /// Runs `body` holding an exclusive `flock` on the file at `path` (created 0600), taken without blocking a thread
    /// (tried again every 10 ms, for up to 30 s). Several processes open one ledger at once (a daemon's transfers, a
    /// `ferry send` beside it), and SQLite answers "database is locked" without waiting when two of them change its
    /// journal mode or schema together: they take turns instead. A separate file, never the database itself: closing
    /// any descriptor of the database would drop SQLite's own locks on it.
    private static func withOpenLock<T>(_ path: String, _ body: () async throws -> T) async throws -> T {
        let fd = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw LedgerError(
                "cannot create \(path) (\(String(cString: strerror(errno)))); check that the folder is writable"
            )
        }
        defer { Glibc.close(fd) }
        var waited = 0
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR, waited < 3_000 else {
                throw LedgerError("another process holds \(path) for more than 30 s; check for a stuck ferry process")
            }
            waited += 1
            try await Task.sleep(for: .milliseconds(10))
        }
        return try await body()
    }

    /// Creates or upgrades the tables, in one immediate transaction (under the open lock).
    private func migrate() async throws {
        for statement in ["PRAGMA busy_timeout=5000", "PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL"] {
            _ = try await connection.query(statement, [])
        }
        _ = try await connection.query("BEGIN IMMEDIATE", [])
        do {
            for statement in [
                """
                CREATE TABLE IF NOT EXISTS transfers (
                    id TEXT PRIMARY KEY, direction TEXT NOT NULL, partner TEXT NOT NULL, operation TEXT NOT NULL,
                    path TEXT NOT NULL, bytes INTEGER NOT NULL, sha256 TEXT, started REAL NOT NULL, ended REAL NOT NULL,
                    result TEXT NOT NULL, error TEXT, tls_version TEXT, cipher_suite TEXT,
                    peer_subject TEXT, peer_issuer TEXT, peer_serial TEXT,
                    findings TEXT, file_sha256 TEXT, conversion TEXT)
                """,
                "CREATE INDEX IF NOT EXISTS transfers_ended ON transfers(ended)",
                """
                CREATE TABLE IF NOT EXISTS file_digests (
                    path TEXT PRIMARY KEY, inode INTEGER NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
                    sha256 TEXT NOT NULL)
                """,
            ] {
                _ = try await connection.query(statement, [])
            }
            // Ledgers from before these columns: diagnosis finding ids of a failed handshake (comma-separated); with
            // text mode, the digest of the file as kept (when converted) and the conversion's settings.
            // Then the hash chain (LedgerChain): each row's chain, seq and links, and where retention left each chain.
            let columns = try await connection.query("PRAGMA table_info(transfers)", [])
            for (column, type) in Self.laterColumns
            where !columns.contains(where: { $0.column("name")?.string == column }) {
                _ = try await connection.query("ALTER TABLE transfers ADD COLUMN \(column) \(type)", [])
            }
            for statement in [
                "CREATE UNIQUE INDEX IF NOT EXISTS transfers_chain ON transfers(chain, seq)",
                "CREATE TABLE IF NOT EXISTS ledger_anchors (chain TEXT PRIMARY KEY, seq INTEGER NOT NULL, hash TEXT NOT NULL)",
            ] {
                _ = try await connection.query(statement, [])
            }
            _ = try await connection.query("COMMIT", [])
        } catch {
            _ = try? await connection.query("ROLLBACK", [])
            throw error
        }
    }

    static let laterColumns = [
        ("findings", "TEXT"), ("file_sha256", "TEXT"), ("conversion", "TEXT"), ("chain", "TEXT"), ("seq", "INTEGER"),
        ("prev_hash", "TEXT"), ("hash", "TEXT"),
    ]

    /// Runs `body` in an immediate transaction: alone on this connection (other calls of this actor wait their
    /// turn) and against other processes (SQLite's write lock, waited for up to the busy timeout).
    private func transaction<T>(_ body: () async throws -> T) async throws -> T {
        while inTransaction { await withCheckedContinuation { waiting.append($0) } }
        inTransaction = true
        defer {
            inTransaction = false
            if !waiting.isEmpty { waiting.removeFirst().resume() }
        }
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

    /// The last row of `chain`, else its anchor, else its genesis.
    private func head(of chain: String) async throws -> ChainStart {
        let rows = try await connection.query(
            """
            SELECT seq, hash FROM transfers WHERE chain = ?1 AND seq IS NOT NULL
            UNION ALL SELECT seq, hash FROM ledger_anchors WHERE chain = ?1 ORDER BY seq DESC LIMIT 1
            """,
            [.text(chain)]
        )
        guard let row = rows.first, let seq = row.column("seq")?.integer, let hash = row.column("hash")?.string else {
            return ChainStart(chain: chain)
        }
        return ChainStart(chain: chain, seq: Int64(seq), hash: hash)
    }

    /// Appends transfers, linked to the chain's head, in one transaction (a statement per 1,400 rows: one trip to
    /// SQLite's thread for a whole batch of files).
    public func record(_ entries: [LedgerEntry]) async throws {
        guard !entries.isEmpty else { return }
        // In a task of its own, which a request's cancellation (its client went away) does not reach: the row is
        // still written, and a transaction is never left open half-way (SQLite refuses statements, ROLLBACK too, in a
        // cancelled task, and every later BEGIN on the connection would then fail).
        try await Task { try await self.append(entries) }.value
    }

    private func append(_ entries: [LedgerEntry]) async throws {
        let chain = LedgerChain.localChain
        try await transaction {
            let linked = LedgerChain.link(entries, chain: chain, after: try await head(of: chain))
            for chunk in Self.chunks(linked.rows, rowsOf: 23) {
                try await insert(chunk)
            }
        }
    }

    private func insert(_ chunk: ArraySlice<(LedgerEntry, ChainLink)>) async throws {
        let marks = "(" + Array(repeating: "?", count: 23).joined(separator: ", ") + ")"
        let rows = Array(repeating: marks, count: chunk.count).joined(separator: ", ")
        _ = try await connection.query(
            """
            INSERT INTO transfers (id, direction, partner, operation, path, bytes, sha256, started, ended, result, error,
              tls_version, cipher_suite, peer_subject, peer_issuer, peer_serial, findings, file_sha256, conversion,
              chain, seq, prev_hash, hash)
            VALUES \(rows)
            """,
            chunk.flatMap { entry, link -> [SQLiteData] in
                [
                    .text(entry.id), .text(entry.direction.rawValue), .text(entry.partner),
                    .text(entry.operation.name),
                    .text(entry.path), .integer(Int(entry.bytes)), Self.text(entry.sha256),
                    .float(entry.started.timeIntervalSince1970), .float(entry.ended.timeIntervalSince1970),
                    .text(entry.result.rawValue), Self.text(entry.error), Self.text(entry.tlsVersion),
                    Self.text(entry.cipherSuite), Self.text(entry.peerSubject), Self.text(entry.peerIssuer),
                    Self.text(entry.peerSerial),
                    Self.text(entry.findings.isEmpty ? nil : entry.findings.joined(separator: ",")),
                    Self.text(entry.fileSHA256), Self.text(entry.conversion),
                    .text(link.chain), .integer(Int(link.seq)), .text(link.previous), .text(link.hash),
                ]
            }
        )
    }

    /// Splits rows so that no statement binds more than `limit` parameters (SQLite's 32,766 by default).
    static func chunks<Row>(_ rows: [Row], rowsOf columns: Int, limit: Int = 32_766) -> [ArraySlice<Row>] {
        let size = limit / columns
        return stride(from: 0, to: rows.count, by: size).map { rows[$0..<min(rows.count, $0 + size)] }
    }

    public func transfers(_ query: LedgerQuery) async throws -> LedgerPage {
        var conditions: [String] = []
        var binds: [SQLiteData] = []
        // One filter: its condition and the values it binds, when the query sets it.
        func filter(_ condition: String, _ values: [SQLiteData]?) {
            guard let values else { return }
            conditions.append(condition)
            binds += values
        }
        filter("id = ?", query.id.map { [.text($0)] })
        filter("partner = ?", query.partner.map { [.text($0)] })
        filter("direction = ?", query.direction.map { [.text($0.rawValue)] })
        filter("result = ?", query.result.map { [.text($0.rawValue)] })
        filter("operation = ?", query.operation.map { [.text($0.name)] })
        // A prefix compared as text: no LIKE, so `%` and `_` in a path are themselves.
        filter("substr(path, 1, ?) = ?", query.pathPrefix.map { [.integer($0.unicodeScalars.count), .text($0)] })
        filter("ended >= ?", query.since.map { [.float($0.timeIntervalSince1970)] })
        filter("ended < ?", query.until.map { [.float($0.timeIntervalSince1970)] })
        filter(
            "(ended < ? OR (ended = ? AND id < ?))",
            query.after.map { [.float($0.ended), .float($0.ended), .text($0.id)] }
        )
        let clause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        // One row more than asked tells whether there is a next page.
        let rows = try await connection.query(
            "SELECT * FROM transfers \(clause) ORDER BY ended DESC, id DESC LIMIT ?",
            binds + [.integer(query.limit + 1)]
        )
        let entries = rows.prefix(query.limit).map(Self.entry)
        return LedgerPage(
            entries: entries,
            next: rows.count > query.limit ? entries.last.map(LedgerCursor.init(after:)) : nil
        )
    }

    private static func entry(_ row: SQLiteRow) -> LedgerEntry {
        var entry = LedgerEntry(
            id: row.column("id")?.string ?? "",
            direction: LedgerEntry.Direction(rawValue: row.column("direction")?.string ?? "") ?? .inbound,
            partner: row.column("partner")?.string ?? "",
            operation: LedgerEntry.Operation(stored: row.column("operation")?.string ?? ""),
            path: row.column("path")?.string ?? "",
            bytes: Int64(row.column("bytes")?.integer ?? 0),
            sha256: row.column("sha256")?.string,
            started: Date(timeIntervalSince1970: row.column("started")?.double ?? 0),
            ended: Date(timeIntervalSince1970: row.column("ended")?.double ?? 0),
            result: LedgerEntry.Result(rawValue: row.column("result")?.string ?? "") ?? .failed,
            error: row.column("error")?.string,
            tlsVersion: row.column("tls_version")?.string,
            cipherSuite: row.column("cipher_suite")?.string,
            findings: row.column("findings")?.string.map { $0.split(separator: ",").map(String.init) } ?? []
        )
        // As stored: rows written before the one serial format keep theirs.
        entry.peerSubject = row.column("peer_subject")?.string
        entry.peerIssuer = row.column("peer_issuer")?.string
        entry.peerSerial = row.column("peer_serial")?.string
        entry.fileSHA256 = row.column("file_sha256")?.string
        entry.conversion = row.column("conversion")?.string
        return entry
    }

    /// Retention, chain by chain: removes the oldest rows of each chain up to the first row that ended at or after
    /// `date` (a row recorded late, with an older end, waits for the rows before it), and keeps the last removed row's
    /// seq and hash as the chain's anchor, so the rows that stay still verify. Rows from before the chain go by date.
    @discardableResult
    public func removeTransfers(endedBefore date: Date) async throws -> Int {
        try await Task { try await self.retain(before: date) }.value
    }

    private func retain(before date: Date) async throws -> Int {
        let cutoff = SQLiteData.float(date.timeIntervalSince1970)
        return try await transaction {
            var removed = 0
            let chains = try await connection.query(
                "SELECT DISTINCT chain FROM transfers WHERE chain IS NOT NULL AND seq IS NOT NULL",
                []
            )
            for chain in chains.compactMap({ $0.column("chain")?.string }) {
                let bounds = try await connection.query(
                    """
                    SELECT (SELECT MIN(seq) FROM transfers WHERE chain = ?1 AND ended >= ?2) AS kept,
                      (SELECT MAX(seq) FROM transfers WHERE chain = ?1) AS last
                    """,
                    [.text(chain), cutoff]
                )
                let kept = bounds.first?.column("kept")?.integer
                guard let last = bounds.first?.column("last")?.integer else { continue }
                let cut = kept.map { $0 - 1 } ?? last
                let anchor = try await connection.query(
                    "SELECT seq, hash FROM transfers WHERE chain = ? AND seq = ?",
                    [.text(chain), .integer(cut)]
                )
                guard let hash = anchor.first?.column("hash")?.string else { continue }
                _ = try await connection.query(
                    "INSERT OR REPLACE INTO ledger_anchors (chain, seq, hash) VALUES (?, ?, ?)",
                    [.text(chain), .integer(cut), .text(hash)]
                )
                removed += try await delete("chain = ? AND seq <= ?", [.text(chain), .integer(cut)])
            }
            removed += try await delete("(chain IS NULL OR seq IS NULL) AND ended < ?", [cutoff])
            return removed
        }
    }

    private func delete(_ condition: String, _ binds: [SQLiteData]) async throws -> Int {
        let rows = try await connection.query("DELETE FROM transfers WHERE \(condition) RETURNING id", binds)
        return rows.count
    }

    public func chainStarts() async throws -> [ChainStart] {
        let rows = try await connection.query(
            """
            SELECT c.chain AS chain, a.seq AS seq, a.hash AS hash FROM
              (SELECT DISTINCT chain FROM transfers WHERE chain IS NOT NULL UNION SELECT chain FROM ledger_anchors) c
              LEFT JOIN ledger_anchors a ON a.chain = c.chain
            """,
            []
        )
        return rows.compactMap { row in
            guard let chain = row.column("chain")?.string else { return nil }
            guard let seq = row.column("seq")?.integer, let hash = row.column("hash")?.string else {
                return ChainStart(chain: chain)
            }
            return ChainStart(chain: chain, seq: Int64(seq), hash: hash)
        }
    }

    public func chained(_ chain: String, afterSeq: Int64, limit: Int) async throws -> [ChainedEntry] {
        let rows = try await connection.query(
            "SELECT * FROM transfers WHERE chain = ? AND seq > ? ORDER BY seq LIMIT ?",
            [.text(chain), .integer(Int(afterSeq)), .integer(limit)]
        )
        return rows.map { row in
            var link: ChainLink?
            if let seq = row.column("seq")?.integer {
                link = ChainLink(
                    chain: chain,
                    seq: Int64(seq),
                    previous: row.column("prev_hash")?.string ?? "",
                    hash: row.column("hash")?.string ?? ""
                )
            }
            return ChainedEntry(entry: Self.entry(row), link: link)
        }
    }

    public func unchained(afterID: String, limit: Int) async throws -> [LedgerEntry] {
        try await connection.query(
            "SELECT * FROM transfers WHERE (chain IS NULL OR seq IS NULL) AND id > ? ORDER BY id LIMIT ?",
            [.text(afterID), .integer(limit)]
        ).map(Self.entry)
    }

    public func digests(for stamps: [String: FileStamp]) async throws -> [String: String] {
        var found: [String: String] = [:]
        for chunk in Self.chunks(Array(stamps.keys), rowsOf: 1) {
            let marks = Array(repeating: "?", count: chunk.count).joined(separator: ", ")
            let rows = try await connection.query(
                "SELECT path, inode, size, mtime_ns, sha256 FROM file_digests WHERE path IN (\(marks))",
                chunk.map { .text($0) }
            )
            for row in rows {
                guard let path = row.column("path")?.string, let stamp = stamps[path],
                    row.column("inode")?.integer.map({ UInt64(bitPattern: Int64($0)) }) == stamp.inode,
                    row.column("size")?.integer.map({ Int64($0) }) == stamp.size,
                    row.column("mtime_ns")?.integer.map({ Int64($0) }) == stamp.modifiedNanoseconds,
                    let sha256 = row.column("sha256")?.string
                else { continue }
                found[path] = sha256
            }
        }
        return found
    }

    /// One statement for all of them.
    public func remember(_ digests: [KnownDigest]) async throws {
        for chunk in Self.chunks(digests, rowsOf: 5) {
            let rows = Array(repeating: "(?, ?, ?, ?, ?)", count: chunk.count).joined(separator: ", ")
            _ = try await connection.query(
                "INSERT OR REPLACE INTO file_digests (path, inode, size, mtime_ns, sha256) VALUES \(rows)",
                chunk.flatMap { known -> [SQLiteData] in
                    [
                        .text(known.path), .integer(Int(Int64(bitPattern: known.stamp.inode))),
                        .integer(Int(known.stamp.size)),
                        .integer(Int(known.stamp.modifiedNanoseconds)), .text(known.sha256),
                    ]
                }
            )
        }
    }

    public func forget(path: String) async throws {
        _ = try await connection.query("DELETE FROM file_digests WHERE path = ?", [.text(path)])
    }

    /// Closes the database. Also from a cancelled task (a cancelled transfer, a test cancelled for a missing
    /// tool): SQLite's close is refused in one, and a connection that is never closed traps when it goes.
    public func close() async throws {
        let connection = self.connection
        try await Task { try await connection.close() }.value
    }

    private static func text(_ value: String?) -> SQLiteData {
        value.map { .text($0) } ?? .null
    }
}

/// A ledger problem, naming the file.
public struct LedgerError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
