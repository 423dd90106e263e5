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
                try await PostgresDatabase.within(wait, "the ledger database did not answer within \(wait)") {
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
        Self.rows(in: spoolPath + ".sending") + Self.rows(in: spoolPath)
    }

    static func rows(in path: String) -> [LedgerEntry] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        // A line cut by a crash mid-append is the only one that can be incomplete: the last; it is skipped.
        return data.split(separator: UInt8(ascii: "\n")).compactMap { try? decoder.decode(LedgerEntry.self, from: $0) }
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
        let rows = Self.rows(in: sending)
        do {
            let primary = self.primary
            try await PostgresDatabase.within(.seconds(30), "the ledger database did not answer") {
                try await primary.record(rows)
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
        var data = Data()
        for entry in entries {
            data += try encoder.encode(entry)
            data.append(UInt8(ascii: "\n"))
        }
        let fd = Glibc.open(spoolPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw LedgerError("cannot write the ledger spool \(spoolPath): \(String(cString: strerror(errno)))")
        }
        defer { Glibc.close(fd) }
        let written = data.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard written == data.count, fsync(fd) == 0 else {
            throw LedgerError("cannot write the ledger spool \(spoolPath): \(String(cString: strerror(errno)))")
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
            return try await PostgresDatabase.within(wait, "no answer") { try await body(primary) }
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
