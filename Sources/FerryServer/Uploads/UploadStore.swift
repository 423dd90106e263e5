import Crypto
import FerryLedger
import FerryProtocol
import Foundation
import HTTPTypes
import NIOConcurrencyHelpers
import NIOCore

#if canImport(Glibc)
import Glibc
import CoreFoundation
#endif

/// Resumable uploads: each a part (the bytes, in the storage) and a record (the acknowledged state, beside it).
/// Survives restarts and kill -9; one request at a time per upload, and the running digest of each upload this
/// server has seen every byte of.
final class UploadStore<Storage: FileStorage>: Sendable {
    let storage: Storage
    /// How long an upload may stay untouched before the sweep removes it.
    let expireAfter: TimeInterval
    /// Uploads a request is writing to, each with that request's channel.
    private let busy = NIOLockedValueBox([String: any Channel]())
    /// Each upload's whole-file SHA-256 so far, while this server has seen every byte in order: the last
    /// PATCH then needs no second read of the part file. Lost on restart (the part file is read instead).
    private let runningDigests = NIOLockedValueBox([String: (offset: Int64, hasher: SHA256)]())

    /// Open uploads count against their partner's quota until they are committed or removed.
    let quotas: QuotaBook

    /// With several nodes: which one writes an upload (nil: this node's own lock is enough).
    let leases: (any UploadLeases)?
    /// Seconds a lease lasts unless renewed (`uploads.lease`); renewed every third of it while a request writes.
    let leaseDuration: TimeInterval

    init(
        storage: Storage,
        expireAfter: TimeInterval,
        quotas: QuotaBook,
        leases: (any UploadLeases)? = nil,
        leaseDuration: TimeInterval = 30
    ) {
        self.storage = storage
        self.expireAfter = expireAfter
        self.quotas = quotas
        self.leases = leases
        self.leaseDuration = leaseDuration
    }

    /// How many uploads a request is writing to now.
    var writing: Int { busy.withLockedValue { $0.count } }

    /// Every upload on disk (at startup, to restore what they hold of their partners' quotas).
    func records() async -> [UploadRecord] {
        var records: [UploadRecord] = []
        for id in await storage.recordIDs() {
            if let record = await record(id) { records.append(record) }
        }
        return records
    }

    private func record(_ id: String) async -> UploadRecord? {
        await storage.loadRecord(id: id).flatMap { try? UploadRecord.decoder.decode(UploadRecord.self, from: $0) }
    }

    /// Creates an empty upload.
    func create(
        id: String = UploadID.new(),
        partner: String,
        path: String,
        length: Int64,
        sha256: String?,
        metadata: String,
        place: Storage.Place?
    ) async throws -> UploadRecord {
        let now = Date()
        let record = UploadRecord(
            id: id,
            partner: partner,
            path: path,
            length: length,
            offset: 0,
            sha256: sha256,
            metadata: metadata,
            created: now,
            lastActivity: now
        )
        try await storage.createPart(id: id, length: length, for: place)
        do {
            try await save(record)
        } catch {
            // Never a part without its record.
            await storage.removePart(id: id)
            throw error
        }
        return record
    }

    /// Loads an upload that belongs to `partner`; another partner's upload is reported as absent. Reads only:
    /// a PATCH may be writing to the part file right now.
    func load(_ id: Substring, partner: String) async -> UploadRecord? {
        guard UploadID.isValid(id), let record = await record(String(id)), record.partner == partner else { return nil }
        return record
    }

    /// Loads an upload for writing; call only inside `exclusively`. The part file is cut back to the
    /// acknowledged offset: bytes written after the last acknowledgement (before a crash) are not trusted, unless
    /// the storage made them durable in a way it cannot undo (then the record moves up to them).
    func loadForWriting(_ id: Substring, partner: String) async throws -> UploadRecord? {
        guard var record = await load(id, partner: partner) else { return nil }
        if let size = await storage.partLength(id: record.id), size != record.offset {
            // Where the storage keeps more (an object store's completed parts), those bytes are durable: they count.
            let kept = try await storage.truncatePart(id: record.id, to: record.offset)
            if kept != record.offset {
                record.offset = kept
                try await save(record)
            }
        }
        return record
    }

    /// Stores the state, atomically and durably.
    func save(_ record: UploadRecord) async throws {
        let data: Data
        do {
            data = try UploadRecord.encoder.encode(record)
        } catch {
            throw StorageError.system(EINVAL, "encode the upload's record")
        }
        try await storage.saveRecord(data, id: record.id)
    }

    /// The whole-file hash state of an upload if it covers exactly its first `offset` bytes (taken out).
    func takeDigest(_ id: String, at offset: Int64) -> SHA256? {
        runningDigests.withLockedValue { digests in
            guard let kept = digests.removeValue(forKey: id), kept.offset == offset else { return nil }
            return kept.hasher
        }
    }

    /// Keeps the hash state of an upload's first `offset` bytes, which are durable in its part file.
    func keepDigest(_ hasher: SHA256, for id: String, at offset: Int64) {
        runningDigests.withLockedValue { $0[id] = (offset, hasher) }
    }

    /// Removes an upload's files (and what it held of its partner's quota).
    func remove(_ id: String) async {
        await quotas.closeUpload(id)
        _ = runningDigests.withLockedValue { $0.removeValue(forKey: id) }
        await storage.removePart(id: id)
        await storage.removeRecord(id: id)
    }

    /// Removes the record only (after the part was committed, with what the commit changed in its area).
    func forget(_ id: String, committed: (bytes: Int64, newFile: Bool)) async {
        await quotas.closeUpload(id, committed: committed)
        _ = runningDigests.withLockedValue { $0.removeValue(forKey: id) }
        await storage.removeRecord(id: id)
    }

    /// Runs `body` for a request arriving on `channel` while no other request works on the same upload; a
    /// concurrent request gets 423.
    func exclusively<Result: Sendable>(
        _ id: String,
        on channel: any Channel,
        _ body: @Sendable () async throws -> Result
    ) async throws -> Result {
        let acquired = busy.withLockedValue { busy in
            guard busy[id] == nil else { return false }
            busy[id] = channel
            return true
        }
        guard acquired else {
            throw ProblemError(
                .uploadBusy,
                detail: "another request is writing to this upload; retry when it has finished"
            )
        }
        defer { _ = busy.withLockedValue { $0.removeValue(forKey: id) } }
        guard let leases else { return try await body() }
        return try await withLease(id, leases: leases, body)
    }

    /// Runs `body` while this node holds the upload's lease, renewing it; another node's live lease is 423 with
    /// `Retry-After`. A renewal that fails ends `body` (cancelled) while the lease still has two thirds to run,
    /// so two nodes never write one upload.
    private func withLease<Result: Sendable>(
        _ id: String,
        leases: any UploadLeases,
        _ body: @Sendable () async throws -> Result
    ) async throws -> Result {
        let holder = UUID().uuidString
        let duration = leaseDuration
        let granted: Bool
        do {
            granted = try await leases.acquireLease(id, holder: holder, for: duration)
        } catch {
            throw ProblemError(
                .storageUnavailable,
                detail: "cannot take the upload's lease in the shared database; retry later"
            )
        }
        guard granted else {
            var problem = ProblemError(
                .uploadBusy,
                detail:
                    "another node is writing to this upload (or did until it stopped); retry after its lease of \(Int(duration)) s"
            )
            problem.additionalHeaders[.retryAfter] = String(Int(duration / 3))
            throw problem
        }
        defer { Task { try? await leases.releaseLease(id, holder: holder) } }
        return try await withoutActuallyEscaping(body) { body in
            try await withThrowingTaskGroup(of: Result?.self) { group in
                group.addTask {
                    while true {
                        try await Task.sleep(for: .seconds(duration / 3))
                        guard try await leases.acquireLease(id, holder: holder, for: duration) else {
                            throw ProblemError(
                                .uploadBusy,
                                detail: "this node lost the upload's lease; retry to go on where it stands"
                            )
                        }
                    }
                }
                group.addTask { try await body() }
                defer { group.cancelAll() }
                while let result = try await group.next() {
                    if let result { return result }
                }
                throw CancellationError()
            }
        }
    }

    /// Waits (up to `timeout`) while the request writing to the upload came on a connection that is gone: it is
    /// draining what arrived before the drop and ends on its own. Returns whether the upload is idle. A client asking
    /// for the offset right after its connection dropped would otherwise be told a stale one while the server still
    /// writes those bytes, however slowly a loaded machine does that. A request still streaming on an open
    /// connection is not waited for: the last acknowledged offset is the answer.
    func waitUntilIdle(_ id: String, timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while let channel = busy.withLockedValue({ $0[id] }) {
            guard !channel.isActive, ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return true
    }

    /// When an upload expires if left untouched.
    func expiry(of record: UploadRecord) -> Date {
        record.lastActivity.addingTimeInterval(expireAfter)
    }

    /// Removes expired uploads (and orphaned files); returns the removed ids.
    @discardableResult
    func sweep(now: Date = .now) async -> [String] {
        var removed: [String] = []
        let recorded = await storage.recordIDs()
        for id in recorded {
            guard let record = await record(id) else { continue }
            let isBusy = busy.withLockedValue { $0[id] != nil }
            if !isBusy && expiry(of: record) < now {
                await remove(id)
                removed.append(id)
            }
        }
        // Parts whose record is gone (a crash between the two removals).
        for id in await storage.partIDs()
        where await storage.loadRecord(id: id) == nil && busy.withLockedValue({ $0[id] == nil }) {
            await storage.removePart(id: id)
        }
        return removed
    }

}

/// Upload ids: 32 lower-case hexadecimal digits.
enum UploadID {
    static func new() -> String {
        UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
    }

    static func isValid(_ id: Substring) -> Bool {
        id.count == 32 && id.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
    }
}

extension UploadRecord {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }()

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()
}
