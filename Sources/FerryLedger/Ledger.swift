public import FerryProtocol
public import Foundation

/// The record of every transfer: rows are appended, never changed, read back newest first with filters and a
/// cursor, and removed only by retention. `SQLiteLedger` is the embedded implementation; a shared database for
/// several nodes implements the same protocol.
public protocol Ledger: Sendable {
    /// Appends rows (a batch of files is one call, so one trip to the database).
    func record(_ entries: [LedgerEntry]) async throws
    /// A page of rows matching `query`, newest first, with the cursor of the next page.
    func transfers(_ query: LedgerQuery) async throws -> LedgerPage
    /// Removes the rows that ended before `date` (retention); returns how many went.
    @discardableResult
    func removeTransfers(endedBefore date: Date) async throws -> Int
    /// Releases the database.
    func close() async throws
}

extension Ledger {
    /// Appends one row.
    public func record(_ entry: LedgerEntry) async throws {
        try await record([entry])
    }

    /// The most recent rows, newest first.
    public func recent(limit: Int) async throws -> [LedgerEntry] {
        try await transfers(LedgerQuery(limit: limit)).entries
    }
}

/// The SHA-256 of committed files, kept by file stamp so that `HEAD` and `GET` can send `Repr-Digest` without
/// reading an unchanged file again.
public protocol DigestIndex: Sendable {
    /// The digests (hex) recorded for these paths, by path, for those whose stamp still matches (the file has not
    /// changed since). One query for them all: a listing asks for a page of files at once.
    func digests(for stamps: [String: FileStamp]) async throws -> [String: String]
    /// Remembers files' digests at their current stamps.
    func remember(_ digests: [KnownDigest]) async throws
    /// Forgets a file's digest (after a delete).
    func forget(path: String) async throws
}

extension DigestIndex {
    /// The digest (hex) recorded for `path`, if its stamp still matches.
    public func digest(for path: String, stamp: FileStamp) async throws -> String? {
        try await digests(for: [path: stamp])[path]
    }

    /// Remembers one file's digest.
    public func remember(digest: String, for path: String, stamp: FileStamp) async throws {
        try await remember([KnownDigest(path: path, sha256: digest, stamp: stamp)])
    }
}

/// A file's SHA-256 (hex) at a stamp, for the digest index.
public struct KnownDigest: Sendable, Equatable {
    public var path: String
    public var sha256: String
    public var stamp: FileStamp
    public init(path: String, sha256: String, stamp: FileStamp) {
        self.path = path
        self.sha256 = sha256
        self.stamp = stamp
    }
}

/// Which rows to read. Every filter is optional; rows come newest first (by end time, then id).
public struct LedgerQuery: Sendable, Equatable {
    /// The row with this id (its detail).
    public var id: String?
    public var partner: String?
    public var direction: LedgerEntry.Direction?
    public var result: LedgerEntry.Result?
    public var operation: LedgerEntry.Operation?
    /// Rows whose path starts with this text.
    public var pathPrefix: String?
    /// Rows that ended at or after this time.
    public var since: Date?
    /// Rows that ended before this time.
    public var until: Date?
    /// At most this many rows (1...10,000).
    public var limit: Int
    /// Continue after the last row of an earlier page.
    public var after: LedgerCursor?

    public init(
        id: String? = nil,
        partner: String? = nil,
        direction: LedgerEntry.Direction? = nil,
        result: LedgerEntry.Result? = nil,
        operation: LedgerEntry.Operation? = nil,
        pathPrefix: String? = nil,
        since: Date? = nil,
        until: Date? = nil,
        limit: Int = 100,
        after: LedgerCursor? = nil
    ) {
        self.id = id
        self.partner = partner
        self.direction = direction
        self.result = result
        self.operation = operation
        self.pathPrefix = pathPrefix
        self.since = since
        self.until = until
        self.limit = min(max(limit, 1), 10_000)
        self.after = after
    }
}

/// One page of rows and where the next one starts (`nil` after the last page).
public struct LedgerPage: Sendable {
    public var entries: [LedgerEntry]
    public var next: LedgerCursor?
    public init(entries: [LedgerEntry], next: LedgerCursor?) {
        self.entries = entries
        self.next = next
    }
}

/// A position in the ledger's order: the end time and id of the last row seen. Its text form is opaque to
/// callers (an API hands it out and takes it back); rows appended later never shift a page already read.
public struct LedgerCursor: Sendable, Hashable, CustomStringConvertible {
    let ended: Double
    let id: String

    init(after entry: LedgerEntry) {
        ended = entry.ended.timeIntervalSince1970
        id = entry.id
    }

    /// Reads the text form; `nil` when it is not one this ledger handed out.
    public init?(_ text: String) {
        let parts = text.split(separator: ".", maxSplits: 1)
        guard parts.count == 2, let bits = UInt64(parts[0], radix: 16), !parts[1].isEmpty,
            parts[1].allSatisfy({ $0.isHexDigit || $0 == "-" })
        else { return nil }
        ended = Double(bitPattern: bits)
        guard ended.isFinite else { return nil }
        id = String(parts[1])
    }

    public var description: String { String(ended.bitPattern, radix: 16) + "." + id }
}

/// Which node writes a resumable upload, when several share it (PostgreSQL): a lease per upload, held while a
/// request writes and renewed before it runs out, so that a node that dies frees its uploads within one lease.
public protocol UploadLeases: Sendable {
    /// Takes or renews the lease on `upload` for `holder` for `duration` seconds; false when another holds it.
    func acquireLease(_ upload: String, holder: String, for duration: TimeInterval) async throws -> Bool
    /// Gives the lease up (only if `holder` has it).
    func releaseLease(_ upload: String, holder: String) async throws
}

/// Which nodes share the database now (PostgreSQL): each says it is alive every few seconds, and counts as alive
/// until it has been silent for a window. Nodes use the count to split what the cluster shares, such as the object
/// store's budget of requests in flight.
public protocol NodeRoster: Sendable {
    /// Records that this node is alive, and returns how many nodes (this one included) were seen within `window`
    /// seconds.
    func heartbeat(window: TimeInterval) async throws -> Int
    /// Leaves the roster at a graceful stop, so the others' shares grow at their next heartbeat.
    func leave() async throws
}
