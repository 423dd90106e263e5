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
public actor SQLiteLedger: Ledger, DigestIndex {
    private let connection: SQLiteConnection
    /// Where the database lives.
    public let path: String

    private init(connection: SQLiteConnection, path: String) {
        self.connection = connection
        self.path = path
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
            let columns = try await connection.query("PRAGMA table_info(transfers)", [])
            for column in Self.laterColumns
            where !columns.contains(where: { $0.column("name")?.string == column }) {
                _ = try await connection.query("ALTER TABLE transfers ADD COLUMN \(column) TEXT", [])
            }
            _ = try await connection.query("COMMIT", [])
        } catch {
            _ = try? await connection.query("ROLLBACK", [])
            throw error
        }
    }

    static let laterColumns = ["findings", "file_sha256", "conversion"]

    /// Appends transfers with one statement (one trip to SQLite's thread for a whole batch of files).
    public func record(_ entries: [LedgerEntry]) async throws {
        for chunk in Self.chunks(entries, rowsOf: 19) {
            let rows = Array(repeating: "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", count: chunk.count)
                .joined(separator: ", ")
            _ = try await connection.query(
                """
                INSERT INTO transfers (id, direction, partner, operation, path, bytes, sha256, started, ended, result, error,
                  tls_version, cipher_suite, peer_subject, peer_issuer, peer_serial, findings, file_sha256, conversion)
                VALUES \(rows)
                """,
                chunk.flatMap { entry -> [SQLiteData] in
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
                    ]
                }
            )
        }
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

    @discardableResult
    public func removeTransfers(endedBefore date: Date) async throws -> Int {
        let before = try await connection.query(
            "SELECT COUNT(*) AS n FROM transfers WHERE ended < ?",
            [.float(date.timeIntervalSince1970)]
        )
        _ = try await connection.query("DELETE FROM transfers WHERE ended < ?", [.float(date.timeIntervalSince1970)])
        return before.first?.column("n")?.integer ?? 0
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
