import Crypto
import FerryLedger
import FerryProtocol
import Foundation
import HTTPTypes
import NIOCore
import _NIOFileSystem

#if canImport(Glibc)
import Glibc
import CoreFoundation
#endif

/// The served tree on disk: containment checks, streamed reads and writes, atomic commits, digests.
struct FileStore: Sendable {
    let root: String
    /// Digests of committed files by stamp.
    let digests: any DigestIndex
    /// Per-partner quotas and what each partner uses.
    let quotas: QuotaBook
    /// The largest file accepted, however it arrives (`uploads.max-size`).
    var maximumSize: Int64 = 1 << 44
    /// The mode of every committed file, however it arrived (`uploads.file-mode`), whatever the umask.
    var fileMode: mode_t = 0o640
    /// Chunk size for reading files.
    static let chunkLength: ByteCount = .kibibytes(256)

    /// Where uploads are written before they are committed (same file system as the root, hidden from partners).
    var temporaryDirectory: String { root + "/.ferry/tmp" }

    /// Refuses an area (a partner's home or a shared one) that a symbolic link takes out of the root, before
    /// anything is created through the link; creates the area if missing. Below the area's folder nothing is
    /// resolved by path: `locate` opens each folder without following links.
    func checkContainment(_ target: AccessPolicy.Target) throws {
        var existing = target.areaDirectory
        while !Self.lexists(existing), existing.count > root.count {
            existing = (existing as NSString).deletingLastPathComponent
        }
        guard let rootReal = Self.realPath(root), let existingReal = Self.realPath(existing),
            existingReal == rootReal || existingReal.hasPrefix(rootReal + "/")
        else {
            throw ProblemError(.pathOutsideArea, detail: "Area outside the served tree: this area leads outside the server's root; the operator must fix it")
        }
        try FileManager.default.createDirectory(atPath: target.areaDirectory, withIntermediateDirectories: true)
        guard let areaReal = Self.realPath(target.areaDirectory), areaReal == rootReal || areaReal.hasPrefix(rootReal + "/") else {
            throw ProblemError(.pathOutsideArea, detail: "Area outside the served tree: this area leads outside the server's root; the operator must fix it")
        }
    }

    /// File facts used for validators and the digest index.
    struct Stamp: Sendable {
        let isDirectory: Bool
        let isRegular: Bool
        /// The content's identity: validators and the digest index use it.
        let file: FileStamp

        var size: Int64 { file.size }
        var modified: Date { file.modified }
        var etag: String { file.etag }
    }

    /// The SHA-256 of a committed file: from the index when the file is unchanged, else computed once and kept.
    func digest(of file: OpenFile, rootRelative: String) async throws -> FileDigest {
        if let hex = try await digests.digest(for: rootRelative, stamp: file.stamp.file), let digest = FileDigest(hex: hex) {
            return digest
        }
        var hasher = SHA256()
        try await file.forEachChunk(in: 0..<file.stamp.size) { chunk in
            chunk.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
        }
        let digest = FileDigest(bytes: Array(hasher.finalize()))!
        try await digests.remember(digest: digest.hex, for: rootRelative, stamp: file.stamp.file)
        return digest
    }

    /// The result of a committed upload.
    struct Committed: Sendable {
        let bytes: Int64
        let digest: FileDigest
        /// The size of the file this one replaced; nil when the name was new.
        let replacedSize: Int64?
        let stamp: Stamp

        var replaced: Bool { replacedSize != nil }
        /// What the commit changed in its area, for the quota.
        var change: (bytes: Int64, newFile: Bool) { (bytes - (replacedSize ?? 0), replacedSize == nil) }
    }

    /// Streams a body into a temporary file while hashing it, verifies the declared digest, fsyncs, and renames it
    /// over the target. On any failure the temporary file is removed and nothing is committed.
    func commit<Body: AsyncSequence>(
        body: Body,
        to target: AccessPolicy.Target,
        declared: FileDigest?,
        refuseOverwrite: Bool,
        contentLength: Int? = nil,
        beforeInstall: (Int64) async throws -> Void = { _ in }
    ) async throws -> Committed where Body.Element == ByteBuffer {
        if let contentLength, Int64(contentLength) > maximumSize {
            throw tooLarge(Int64(contentLength))
        }
        try prepareParent(of: target)
        let temporary = try newTemporaryPath()
        var hasher = SHA256()
        var bytes: Int64 = 0
        var committed = false
        defer {
            if !committed { unlink(temporary) }
        }
        do {
            if let contentLength, contentLength <= Self.smallBody {
                // A small file is written as it arrives with plain system calls (open, write, fsync, close),
                // instead of a thread hop for each of them: for many small files the hops, not the bytes,
                // cost the time.
                let file = try TemporaryFile(path: temporary)
                do {
                    for try await chunk in body {
                        bytes += Int64(chunk.readableBytes)
                        guard bytes <= contentLength else {
                            throw ProblemError(.lengthMismatch, detail: "Content-Length is \(contentLength)")
                        }
                        chunk.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
                        try file.write(chunk)
                    }
                } catch {
                    file.discard()
                    throw error
                }
                try file.finish()
            } else {
                try await FileSystem.shared.withFileHandle(
                    forWritingAt: FilePath(temporary),
                    options: .newFile(replaceExisting: false, permissions: [.ownerReadWrite, .groupRead, .otherRead])
                ) { handle in
                    var writer = GatheringFileWriter(handle: handle, startingAt: 0)
                    for try await chunk in body {
                        chunk.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
                        bytes += Int64(chunk.readableBytes)
                        // A body without Content-Length (chunked) is counted as it arrives.
                        if bytes > maximumSize { throw tooLarge(bytes, counted: true) }
                        try await writer.write(chunk)
                    }
                    try await writer.flush()
                    try await handle.synchronize()
                }
            }
        } catch let error as FileSystemError where Self.isNoSpace(error) {
            throw StorageError.noSpace("write the file")
        }
        let digest = FileDigest(bytes: Array(hasher.finalize()))!
        if let declared, declared != digest {
            throw ProblemError(.digestMismatch, detail: "Repr-Digest declared sha-256 \(declared.hex) but the \(bytes) bytes received hash to \(digest.hex); nothing was stored"
            )
        }
        try await beforeInstall(bytes)
        let result = try await install(temporary, at: target, digest: digest, bytes: bytes, refuseOverwrite: refuseOverwrite)
        committed = true
        return result
    }

    /// Opens (making it if missing) the folder for a file at `target` and checks that no folder or link is where
    /// the file goes.
    @discardableResult
    func prepareParent(of target: AccessPolicy.Target) throws -> Location {
        guard let location = try locate(target, creating: true), location.name != nil else {
            throw ProblemError(.notAFile, detail: "the path must name a file")
        }
        if let existing = try stamp(at: location), existing.isDirectory {
            throw StorageError.isAFolder
        }
        return location
    }

    /// Renames a complete, fsynced file (on the root's file system) over the target, fsyncs the folder and
    /// records the digest. The rename is the commit: before it the target is untouched, after it complete. The
    /// folder is opened again here, without following links, so a link swapped in during the upload is refused.
    func install(_ file: String, at target: AccessPolicy.Target, digest: FileDigest, bytes: Int64, refuseOverwrite: Bool) async throws -> Committed {
        let location = try prepareParent(of: target)
        let placed = try place(file, at: location, refuseOverwrite: refuseOverwrite)
        location.folder.synchronize()
        try await digests.remember(digest: digest.hex, for: target.rootRelative, stamp: placed.stamp.file)
        return Committed(bytes: bytes, digest: digest, replacedSize: placed.replacedSize, stamp: placed.stamp)
    }

    /// The rename of `install` into an opened folder, without the folder's fsync and the digest index (a batch
    /// does those once for many files).
    func place(_ file: String, at location: Location, refuseOverwrite: Bool) throws -> (replacedSize: Int64?, stamp: Stamp) {
        guard let name = location.name else { throw StorageError.isAFolder }
        let before = try stamp(at: location)
        if before?.isDirectory == true { throw StorageError.isAFolder }
        if refuseOverwrite && before != nil {
            throw StorageError.exists
        }
        guard chmod(file, fileMode) == 0 else { throw StorageError.system(errno, "set the file's mode") }
        if refuseOverwrite {
            // Without replacing: link fails if the name appeared meanwhile, so of two such uploads exactly one wins.
            guard linkat(AT_FDCWD, file, location.folder.descriptor, name, 0) == 0 else {
                throw errno == EEXIST ? StorageError.exists : StorageError.system(errno, "commit")
            }
            unlink(file)
        } else {
            // renameat replaces a name, never what a link there points at.
            guard renameat(AT_FDCWD, file, location.folder.descriptor, name) == 0 else {
                throw StorageError.system(errno, "commit")
            }
        }
        guard let stamp = try stamp(at: location) else {
            throw StorageError.system(ENOENT, "commit (the committed file vanished)")
        }
        return (before.map(\.size), stamp)
    }


    /// Bodies up to this size (by their Content-Length) are written with plain system calls as they arrive
    /// (`TemporaryFile`), larger ones on the file system's threads.
    static let smallBody = 1 << 20

    /// A fresh name for an upload in the temporary folder (created if missing).
    func newTemporaryPath() throws -> String {
        try FileManager.default.createDirectory(atPath: temporaryDirectory, withIntermediateDirectories: true)
        return temporaryDirectory + "/put-" + UUID().uuidString.lowercased()
    }

    /// A new file under the temporary folder, written with plain system calls (as `install` renames and
    /// syncs the folder): for small, bounded writes, done in place rather than with a hop to a thread pool.
    /// `finish` fsyncs and closes it (it stays, to be renamed into place); `discard` closes and removes it, and
    /// so does the end of its life if neither was called.
    final class TemporaryFile {
        let path: String
        private var descriptor: Int32
        private var written: Int64 = 0

        init(path: String) throws {
            self.path = path
            descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else { throw StorageError.system(errno, "create a temporary file") }
        }

        deinit { discard() }

        func write(_ buffer: ByteBuffer) throws {
            let failure = buffer.write(toDescriptor: descriptor, at: written)
            if failure != 0 { throw StorageError.system(failure, "write") }
            written += Int64(buffer.readableBytes)
        }

        func finish() throws {
            let failure = fsync(descriptor) == 0 ? 0 : errno
            close(descriptor)
            descriptor = -1
            if failure != 0 {
                unlink(path)
                throw StorageError.system(failure, "sync")
            }
        }

        func discard() {
            guard descriptor >= 0 else { return }
            close(descriptor)
            descriptor = -1
            unlink(path)
        }
    }

    /// 413 for a file over `uploads.max-size`.
    func tooLarge(_ size: Int64, counted: Bool = false) -> ProblemError {
        ProblemError(.tooLarge, detail: "\(counted ? "more than \(maximumSize) bytes arrived" : "\(size) bytes") exceed this server's maximum of \(maximumSize) bytes (uploads.max-size); nothing was stored")
    }

    /// Bytes free for this user on the file system of `path`.
    static func freeBytes(_ path: String) -> Int64? {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return nil }
        return Int64(info.f_bavail) * Int64(info.f_frsize)
    }

    /// Whether the file system ran out of space (or quota), by the errno of the failed call.
    static func isNoSpace(_ error: FileSystemError) -> Bool {
        guard let call = error.cause as? FileSystemError.SystemCallError else { return false }
        return call.errno == .noSpace || call.errno == .diskQuotaExceeded
    }

    /// Removes leftovers of uploads interrupted by a crash.
    func sweepTemporaryFiles() {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: temporaryDirectory) else { return }
        for name in names where name.hasPrefix("put-") {
            unlink(temporaryDirectory + "/" + name)
        }
    }

    static func lexists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }


    static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }
}
