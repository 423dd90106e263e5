import Crypto
import FerryProtocol
import Foundation
import NIOCore
import HTTPTypes
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
import CoreFoundation
#endif

/// Resumable uploads on disk under `<root>/.ferry/uploads/`: `<id>.part` holds the bytes, `<id>.json` the
/// acknowledged state. Survives restarts and kill -9; one request at a time per upload.
final class UploadStore: Sendable {
    let directory: String
    /// How long an upload may stay untouched before the sweep removes it.
    let expireAfter: TimeInterval
    /// Uploads a request is writing to, each with that request's channel.
    private let busy = NIOLockedValueBox([String: any Channel]())
    /// Each upload's whole-file SHA-256 so far, while this server has seen every byte in order: the last
    /// PATCH then needs no second read of the part file. Lost on restart (the part file is read instead).
    private let runningDigests = NIOLockedValueBox([String: (offset: Int64, hasher: SHA256)]())

    /// Open uploads count against their partner's quota until they are committed or removed.
    let quotas: QuotaBook

    init(root: String, expireAfter: TimeInterval, quotas: QuotaBook) {
        self.directory = root + "/.ferry/uploads"
        self.expireAfter = expireAfter
        self.quotas = quotas
    }

    /// A new upload id: 32 lower-case hexadecimal digits.
    static func newID() -> String {
        UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
    }

    /// Every upload on disk (at startup, to restore what they hold of their partners' quotas).
    func records() -> [UploadRecord] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        return names.filter { $0.hasSuffix(".json") }.compactMap { name in
            FileManager.default.contents(atPath: directory + "/" + name).flatMap { try? Self.decoder.decode(UploadRecord.self, from: $0) }
        }
    }

    func partPath(_ id: String) -> String { directory + "/\(id).part" }
    func statePath(_ id: String) -> String { directory + "/\(id).json" }

    static func isValidID(_ id: Substring) -> Bool {
        id.count == 32 && id.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
    }

    /// Creates an empty upload.
    func create(id: String = newID(), partner: String, path: String, length: Int64, sha256: String?, metadata: String) throws -> UploadRecord {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let now = Date()
        let record = UploadRecord(id: id, partner: partner, path: path, length: length, offset: 0, sha256: sha256, metadata: metadata, created: now, lastActivity: now)
        let fd = open(partPath(id), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw StorageError.system(errno, "create the upload's part file")
        }
        // The whole length is reserved now (blocks allocated, size unchanged), so an upload the disk cannot hold is
        // refused at creation with 507 instead of failing at some PATCH; file systems without fallocate are
        // checked against their free space instead.
        if length > 0 {
            let problem = Self.reserve(fd, length)
            if problem == ENOSPC || problem == EDQUOT || (problem != 0 && FileStore.freeBytes(directory).map { $0 < length } == true) {
                close(fd)
                unlink(partPath(id))
                throw StorageError.noSpace("reserve \(length) bytes for the upload")
            }
        }
        close(fd)
        do {
            try save(record)
        } catch {
            // Never a part file without its record.
            unlink(partPath(id))
            throw error
        }
        return record
    }

    /// Linux's fallocate(2), which Glibc's module map leaves out (it is a GNU extension): looked up once.
    private static let fallocate: (@convention(c) (Int32, Int32, off_t, off_t) -> Int32)? = {
        guard let symbol = dlsym(nil, "fallocate") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int32, Int32, off_t, off_t) -> Int32).self)
    }()

    /// Allocates `length` bytes of blocks for the file without changing its size (FALLOC_FL_KEEP_SIZE); returns
    /// 0 or the errno.
    static func reserve(_ fd: Int32, _ length: Int64) -> Int32 {
        guard let fallocate else { return EOPNOTSUPP }
        return fallocate(fd, 1, 0, off_t(length)) == 0 ? 0 : errno
    }

    /// Loads an upload that belongs to `partner`; another partner's upload is reported as absent. Reads only:
    /// a PATCH may be writing to the part file right now.
    func load(_ id: Substring, partner: String) -> UploadRecord? {
        guard Self.isValidID(id), let data = FileManager.default.contents(atPath: statePath(String(id))),
            let record = try? Self.decoder.decode(UploadRecord.self, from: data), record.partner == partner
        else { return nil }
        return record
    }

    /// Loads an upload for writing; call only inside `exclusively`. The part file is cut back to the
    /// acknowledged offset: bytes written after the last acknowledgement (before a crash) are not trusted.
    func loadForWriting(_ id: Substring, partner: String) -> UploadRecord? {
        guard let record = load(id, partner: partner) else { return nil }
        if let size = fileSize(partPath(record.id)), size != record.offset {
            truncate(partPath(record.id), off_t(record.offset))
        }
        return record
    }

    /// Writes the state atomically (temporary file, fsync, rename, folder fsync).
    func save(_ record: UploadRecord) throws {
        let data = try Self.encoder.encode(record)
        let temporary = statePath(record.id) + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw StorageError.system(errno, "save the upload's record")
        }
        let written = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        fsync(fd)
        close(fd)
        guard written == data.count, rename(temporary, statePath(record.id)) == 0 else {
            unlink(temporary)
            throw StorageError.system(errno, "save the upload's record")
        }
        FileStore.syncDirectory(directory)
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
    func remove(_ id: String) {
        quotas.closeUpload(id)
        _ = runningDigests.withLockedValue { $0.removeValue(forKey: id) }
        unlink(partPath(id))
        unlink(statePath(id))
    }

    /// Removes the state file only (after the part file was committed by rename, with what the commit changed in
    /// its area).
    func forget(_ id: String, committed: (bytes: Int64, newFile: Bool)) {
        quotas.closeUpload(id, committed: committed)
        _ = runningDigests.withLockedValue { $0.removeValue(forKey: id) }
        unlink(statePath(id))
    }

    /// Runs `body` for a request arriving on `channel` while no other request works on the same upload; a
    /// concurrent request gets 423.
    func exclusively<Result>(_ id: String, on channel: any Channel, _ body: () async throws -> Result) async throws -> Result {
        let acquired = busy.withLockedValue { busy in
            guard busy[id] == nil else { return false }
            busy[id] = channel
            return true
        }
        guard acquired else {
            throw ProblemError(.uploadBusy, detail: "another request is writing to this upload; retry when it has finished")
        }
        defer { _ = busy.withLockedValue { $0.removeValue(forKey: id) } }
        return try await body()
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
    func sweep(now: Date = .now) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        var removed: [String] = []
        for name in names where name.hasSuffix(".json") {
            let id = String(name.dropLast(5))
            guard let data = FileManager.default.contents(atPath: statePath(id)),
                let record = try? Self.decoder.decode(UploadRecord.self, from: data)
            else { continue }
            let isBusy = busy.withLockedValue { $0[id] != nil }
            if !isBusy && expiry(of: record) < now {
                remove(id)
                removed.append(id)
            }
        }
        // Part files whose state is gone (a crash between the two unlinks).
        for name in names where name.hasSuffix(".part") {
            let id = String(name.dropLast(5))
            if !FileManager.default.fileExists(atPath: statePath(id)) && busy.withLockedValue({ $0[id] == nil }) {
                unlink(partPath(id))
            }
        }
        return removed
    }

    func fileSize(_ path: String) -> Int64? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Int64(info.st_size)
    }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }()

    private static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()
}
