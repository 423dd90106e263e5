public import FerryProtocol
public import Foundation
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#endif

/// A shared ledger that a transfer never waits on for long: rows go to the database, and when it does not answer
/// within a few seconds they are appended to a local spool file (synced) instead, and sent on once it answers
/// again. A committed file therefore always has its row: in the database, or durable in the spool until it gets
/// there. While the database is failing, rows go straight to the spool for a while rather than each waiting.
/// Reading (history, filters) asks the database.
public final class SpooledLedger: Ledger, DigestIndex {
    let primary: any Ledger & DigestIndex
    /// The spool: JSON Lines of rows not yet in the database.
    public let spoolPath: String
    let wait: Duration
    private let state = NIOLockedValueBox(State())
    private let flusher = NIOLockedValueBox<Task<Void, Never>?>(nil)

    struct State {
        /// Until when rows skip the database (it failed just now).
        var skipUntil = Date.distantPast
        /// Whether a flush is running.
        var flushing = false
    }

    /// - Parameters:
    ///   - wait: how long a row waits for the database before it is spooled.
    ///   - retry: how often the spool is offered to the database.
    public init(
        _ primary: any Ledger & DigestIndex,
        spool: String,
        wait: Duration = .seconds(5),
        retry: Duration = .seconds(5)
    ) {
        self.primary = primary
        self.spoolPath = spool
        self.wait = wait
        let task = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: retry)
                await self?.flush()
            }
        }
        flusher.withLockedValue { $0 = task }
    }

    public func record(_ entries: [LedgerEntry]) async throws {
        guard !entries.isEmpty else { return }
        if state.withLockedValue({ $0.skipUntil }) < Date() {
            do {
                let primary = self.primary
                try await withDeadline(wait, "the ledger database did not answer within \(wait)") {
                    try await primary.record(entries)
                }
                return
            } catch {
                state.withLockedValue { $0.skipUntil = Date().addingTimeInterval(10) }
            }
        }
        try append(entries)
    }

    /// Rows spooled and not yet in the database.
    public func spooled() -> [LedgerEntry] {
        Self.rows(in: spoolPath + ".sending").rows + Self.rows(in: spoolPath).rows
    }

    /// Where lines that are not a row go (a line cut by a crash in the middle of an append): kept for a person to
    /// look at, never offered to the database, never dropped.
    public var damagedPath: String { spoolPath + ".damaged" }

    /// The rows of a spool file, and the lines that are not rows.
    static func rows(in path: String) -> (rows: [LedgerEntry], damaged: [Data]) {
        guard let data = FileManager.default.contents(atPath: path) else { return ([], []) }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        var rows: [LedgerEntry] = []
        var damaged: [Data] = []
        for line in data.split(separator: UInt8(ascii: "\n")) {
            if let row = try? decoder.decode(LedgerEntry.self, from: line) {
                rows.append(row)
            } else {
                damaged.append(line)
            }
        }
        return (rows, damaged)
    }

    /// Offers the spool to the database; what it takes leaves the spool.
    public func flush() async {
        guard
            state.withLockedValue({ state in
                defer { state.flushing = true }
                return !state.flushing
            })
        else { return }
        defer { state.withLockedValue { $0.flushing = false } }
        let sending = spoolPath + ".sending"
        // Rows from an earlier flush that did not finish go first; new rows meanwhile start a new spool.
        if !FileManager.default.fileExists(atPath: sending) {
            guard FileManager.default.fileExists(atPath: spoolPath), rename(spoolPath, sending) == 0 else { return }
        }
        let (rows, damaged) = Self.rows(in: sending)
        do {
            let primary = self.primary
            try await withDeadline(.seconds(30), "the ledger database did not answer") {
                try await primary.record(rows)
            }
            if !damaged.isEmpty {
                // Kept before the spool goes; if this fails, the spool stays and is offered again.
                try Self.append(damaged.map { $0 + [UInt8(ascii: "\n")] }, to: damagedPath)
            }
            try? FileManager.default.removeItem(atPath: sending)
            state.withLockedValue { $0.skipUntil = .distantPast }
        } catch {
            // Kept for the next try (rows are recorded once: the database ignores an id it has).
        }
    }

    private func append(_ entries: [LedgerEntry]) throws {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        var lines: [Data] = []
        for entry in entries { lines.append(try encoder.encode(entry) + [UInt8(ascii: "\n")]) }
        try Self.append(lines, to: spoolPath)
    }

    /// Appends lines to a file and syncs it. A file whose last line was cut (a crash mid-append) gets its line end
    /// first, so the cut line stays one damaged line and never swallows the next row.
    static func append(_ lines: [Data], to path: String) throws {
        let fd = Glibc.open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw LedgerError("cannot write the ledger spool \(path): \(String(cString: strerror(errno)))")
        }
        defer { Glibc.close(fd) }
        var data = Data()
        let end = lseek(fd, 0, SEEK_END)
        var last: UInt8 = 0
        if end > 0, pread(fd, &last, 1, end - 1) == 1, last != UInt8(ascii: "\n") { data.append(UInt8(ascii: "\n")) }
        for line in lines { data += line }
        let written = data.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard written == data.count, fsync(fd) == 0 else {
            throw LedgerError("cannot write the ledger spool \(path): \(String(cString: strerror(errno)))")
        }
    }

    public func transfers(_ query: LedgerQuery) async throws -> LedgerPage { try await primary.transfers(query) }

    @discardableResult
    public func removeTransfers(endedBefore date: Date) async throws -> Int {
        try await primary.removeTransfers(endedBefore: date)
    }

    // The digest index is a cache (a digest it lacks is computed again, and one is used only while the file's
    // stamp matches): while the database fails it is skipped, never waited on.

    public func digests(for stamps: [String: FileStamp]) async throws -> [String: String] {
        await bestEffort { try await $0.digests(for: stamps) } ?? [:]
    }

    public func remember(_ digests: [KnownDigest]) async throws {
        _ = await bestEffort { try await $0.remember(digests) }
    }

    public func forget(path: String) async throws {
        _ = await bestEffort { try await $0.forget(path: path) }
    }

    private func bestEffort<T: Sendable>(
        _ body: @escaping @Sendable (any Ledger & DigestIndex) async throws -> T
    ) async -> T? {
        guard state.withLockedValue({ $0.skipUntil }) < Date() else { return nil }
        let primary = self.primary
        do {
            return try await withDeadline(wait, "no answer") { try await body(primary) }
        } catch {
            state.withLockedValue { $0.skipUntil = Date().addingTimeInterval(10) }
            return nil
        }
    }

    /// One last offer of the spool, then the database closes.
    public func close() async throws {
        flusher.withLockedValue { $0?.cancel() }
        await flush()
        try await primary.close()
    }
}
