import Crypto
import FerryProtocol
import Foundation
import NIOCore

#if canImport(Glibc)
import Glibc
import CoreFoundation
#endif

/// Resumable uploads on disk under `<root>/.ferry/uploads/`: `<id>.part` holds the bytes, `<id>.json` the
/// acknowledged state.
extension LocalFileStorage {
    typealias Part = LocalPart

    var uploadsDirectory: String { root + "/.ferry/uploads" }
    func partPath(_ id: String) -> String { uploadsDirectory + "/\(id).part" }
    func recordPath(_ id: String) -> String { uploadsDirectory + "/\(id).json" }

    func createPart(id: String, length: Int64, for place: Location?) async throws {
        do {
            try FileManager.default.createDirectory(atPath: uploadsDirectory, withIntermediateDirectories: true)
        } catch {
            throw StorageError.system(Self.posixCode(error) ?? EIO, "create the uploads folder")
        }
        let fd = open(partPath(id), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw StorageError.system(errno, "create the upload's part file")
        }
        defer { close(fd) }
        // The whole length is reserved now (blocks allocated, size unchanged), so an upload the disk cannot hold is
        // refused at creation instead of failing at some PATCH; file systems without fallocate are checked against
        // their free space instead.
        if length > 0 {
            let problem = Self.reserve(fd, length)
            if problem == ENOSPC || problem == EDQUOT
                || (problem != 0 && Self.freeBytes(uploadsDirectory).map { $0 < length } == true)
            {
                unlink(partPath(id))
                throw StorageError.noSpace("reserve \(length) bytes for the upload")
            }
        }
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

    func partLength(id: String) async -> Int64? {
        var info = stat()
        guard stat(partPath(id), &info) == 0 else { return nil }
        return Int64(info.st_size)
    }

    func truncatePart(id: String, to length: Int64) async throws -> Int64 {
        guard truncate(partPath(id), off_t(length)) == 0 else {
            throw StorageError.system(errno, "cut the upload back")
        }
        return length
    }

    func openPart(id: String, at offset: Int64) async throws -> LocalPart {
        let fd = open(partPath(id), O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StorageError.system(errno, "open the upload's part file") }
        return LocalPart(writer: GatheringWriter(descriptor: fd, offset: offset))
    }

    func readPart(id: String, _ body: (ByteBuffer) async throws -> Void) async throws {
        let fd = open(partPath(id), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StorageError.system(errno, "open the upload's part file") }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            close(fd)
            throw StorageError.system(errno, "look at the upload's part file")
        }
        let file = OpenFile(descriptor: fd, item: StoredItem(info))
        try await file.forEachChunk(in: 0..<file.item.size, body)
    }

    func digestOfPart(id: String) async throws -> FileDigest {
        var hasher = SHA256()
        try await readPart(id: id) { chunk in chunk.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) } }
        return FileDigest(bytes: Array(hasher.finalize()))!
    }

    func commitPart(id: String, at place: Location, replace: Bool) async throws -> Placed {
        try await commit(LocalStagedFile(adopting: partPath(id)), at: place, replace: replace)
    }

    func removePart(id: String) async {
        unlink(partPath(id))
    }

    func partIDs() async -> [String] { ids(withSuffix: ".part") }

    func saveRecord(_ data: Data, id: String) async throws {
        let temporary = recordPath(id) + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw StorageError.system(errno, "save the upload's record")
        }
        let written = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == data.count, synced, rename(temporary, recordPath(id)) == 0 else {
            let code = errno
            unlink(temporary)
            throw StorageError.system(code, "save the upload's record")
        }
        Self.syncDirectory(uploadsDirectory)
    }

    func loadRecord(id: String) async -> Data? {
        FileManager.default.contents(atPath: recordPath(id))
    }

    func removeRecord(id: String) async {
        unlink(recordPath(id))
    }

    func recordIDs() async -> [String] { ids(withSuffix: ".json") }

    private func ids(withSuffix suffix: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: uploadsDirectory)) ?? []
        return names.filter { $0.hasSuffix(suffix) }.map { String($0.dropLast(suffix.count)) }
    }
}

/// A part file opened for appending.
struct LocalPart: PartWriter {
    var writer: GatheringWriter
    var offset: Int64 { writer.offset }

    mutating func write(_ chunk: ByteBuffer) async throws { try await writer.write(chunk) }
    mutating func checkpoint(final: Bool) async throws -> Int64 {
        try await writer.synchronize()
        return writer.offset
    }
    func close() { Glibc.close(writer.descriptor) }
}
