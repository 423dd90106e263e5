import FerryProtocol
import Foundation
import NIOCore
import NIOPosix
import _NIOFileSystem

#if canImport(Glibc)
import Glibc
import CoreFoundation
#endif

/// The served tree on a local file system. Files and folders inside an area are reached by descriptor: every
/// folder below the area's own is opened with `openat(…, O_NOFOLLOW)` from the one above it, and files are opened,
/// created, renamed, linked and removed relative to their folder's descriptor. A symbolic link on a partner's
/// path, planted before a request or swapped in while it runs, is never followed: the request is refused
/// (`path-outside-area`), whatever the link points at. The area's own folder is checked once per request against
/// the root (`prepareArea`), so an operator may still place an area on another disk through a link inside the
/// root. Files are written under `.ferry/tmp` (same file system) and renamed or linked into place.
struct LocalFileStorage: FileStorage {
    let root: String
    /// The mode of every committed file, however it arrived (`uploads.file-mode`), whatever the umask.
    var fileMode: mode_t = 0o640
    /// Chunk size for reading files.
    static let chunkLength: ByteCount = .kibibytes(256)
    /// Files expected to be at most this long are written with plain system calls as they arrive, larger ones
    /// gathered and written on the thread pool: for many small files the thread hops, not the bytes, cost the time.
    static let smallFile: Int64 = 1 << 20

    /// Where files are written before they are committed (same file system as the root, hidden from partners).
    var temporaryDirectory: String { root + "/.ferry/tmp" }

    typealias Place = Location
    typealias Folder = OpenFolder
    typealias Reader = OpenFile
    typealias Staged = LocalStagedFile

    /// A folder opened by descriptor; closed when the last reference goes.
    final class OpenFolder: Sendable {
        let descriptor: Int32

        init(descriptor: Int32) { self.descriptor = descriptor }

        deinit { close(descriptor) }

        /// Makes the names created or renamed in this folder durable.
        func synchronize() { fsync(descriptor) }
    }

    /// Where a target is: its folder and its name in it (`nil`: the target is the area's own folder).
    struct Location: Sendable {
        let folder: OpenFolder
        let name: String?
    }

    /// A regular file opened for reading without following links, with the facts of what was opened (not of
    /// what the path names a moment later); closed when the last reference goes.
    final class OpenFile: StoredFile {
        let descriptor: Int32
        let item: StoredItem

        init(descriptor: Int32, item: StoredItem) {
            self.descriptor = descriptor
            self.item = item
        }

        deinit { close(descriptor) }

        /// Hands `span` of the file to `body` in chunks of at most `LocalFileStorage.chunkLength`, each read on NIO's
        /// thread pool; a file that shrinks meanwhile is an error, not a short answer.
        func forEachChunk(in span: Range<Int64>, _ body: (ByteBuffer) async throws -> Void) async throws {
            var offset = span.lowerBound
            let chunk = Int64(LocalFileStorage.chunkLength.bytes)
            while offset < span.upperBound {
                let length = Int(min(chunk, span.upperBound - offset))
                let buffer = try await NIOThreadPool.singleton.runIfActive { [descriptor, offset] in
                    try Self.read(descriptor, at: offset, length: length)
                }
                offset += Int64(buffer.readableBytes)
                try await body(buffer)
            }
        }

        private static func read(_ descriptor: Int32, at offset: Int64, length: Int) throws -> ByteBuffer {
            var buffer = ByteBufferAllocator().buffer(capacity: length)
            var failure: Int32 = 0
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { raw in
                var count = -1
                repeat {
                    count = pread(descriptor, raw.baseAddress, length, off_t(offset))
                } while count < 0 && errno == EINTR
                if count < 0 { failure = errno }
                return max(count, 0)
            }
            if failure != 0 { throw StorageError.system(failure, "read") }
            guard buffer.readableBytes > 0 else {
                throw StorageError.changedWhileRead
            }
            return buffer
        }
    }

    func prepareArea(_ target: AccessPolicy.Target) async throws {
        var existing = target.areaDirectory
        while !Self.lexists(existing), existing.count > root.count {
            existing = (existing as NSString).deletingLastPathComponent
        }
        guard let rootReal = Self.realPath(root), let existingReal = Self.realPath(existing),
            existingReal == rootReal || existingReal.hasPrefix(rootReal + "/")
        else {
            throw StorageError.areaOutsideRoot
        }
        do {
            try FileManager.default.createDirectory(atPath: target.areaDirectory, withIntermediateDirectories: true)
        } catch {
            throw StorageError.system(Self.posixCode(error) ?? EIO, "create the area's folder")
        }
        guard let areaReal = Self.realPath(target.areaDirectory),
            areaReal == rootReal || areaReal.hasPrefix(rootReal + "/")
        else {
            throw StorageError.areaOutsideRoot
        }
    }

    func place(named name: String, in folder: OpenFolder) -> Location {
        Location(folder: folder, name: name)
    }

    func folder(holding place: Location) -> OpenFolder { place.folder }

    /// Opens the folder that holds `target`, one name at a time from the area's folder without following links;
    /// `creating` makes missing folders. `nil` when a folder on the way does not exist (or is a file) and
    /// `creating` is off.
    func place(of target: AccessPolicy.Target, creating: Bool) async throws -> Location? {
        guard let area = Self.realPath(target.areaDirectory) else { return nil }
        let top = open(area, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard top >= 0 else {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw StorageError.system(errno, "open")
        }
        var folder = OpenFolder(descriptor: top)
        guard let name = target.inArea.last else { return Location(folder: folder, name: nil) }
        for component in target.inArea.dropLast() {
            var next = openat(folder.descriptor, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if next < 0, errno == ENOENT, creating {
                if mkdirat(folder.descriptor, component, 0o777) != 0, errno != EEXIST {
                    throw StorageError.system(errno, "create a folder")
                }
                next = openat(folder.descriptor, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            }
            guard next >= 0 else {
                let code = errno
                if code == ELOOP || Self.isLink(in: folder, component) { throw StorageError.linkOnPath }
                if code == ENOENT || code == ENOTDIR {
                    if creating { throw StorageError.parentNotFolder }
                    return nil
                }
                throw StorageError.system(code, "open")
            }
            folder = OpenFolder(descriptor: next)
        }
        return Location(folder: folder, name: name)
    }

    /// What is at `location`, without following a link: `nil` when nothing is; a link is refused.
    func item(at location: Location) async throws -> StoredItem? {
        var info = stat()
        if let name = location.name {
            guard fstatat(location.folder.descriptor, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else {
                if errno == ENOENT || errno == ENOTDIR { return nil }
                throw StorageError.system(errno, "look at a file")
            }
            if (info.st_mode & S_IFMT) == S_IFLNK { throw StorageError.linkOnPath }
        } else {
            guard fstat(location.folder.descriptor, &info) == 0 else {
                throw StorageError.system(errno, "look at a folder")
            }
        }
        return StoredItem(info)
    }

    /// Opens the regular file at `location` for reading; `nil` when there is none (a folder is not a file).
    func openForReading(_ location: Location) async throws -> OpenFile? {
        guard let name = location.name else { return nil }
        let descriptor = openat(location.folder.descriptor, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else {
            let code = errno
            if code == ELOOP { throw StorageError.linkOnPath }
            if code == ENOENT || code == ENOTDIR { return nil }
            throw StorageError.system(code, "open")
        }
        var info = stat()
        guard fstat(descriptor, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            close(descriptor)
            return nil
        }
        return OpenFile(descriptor: descriptor, item: StoredItem(info))
    }

    /// The folder at `location` itself (the area's own folder when `name` is nil), opened once for a listing.
    func openFolder(_ location: Location) async throws -> OpenFolder {
        guard let name = location.name else { return location.folder }
        let descriptor = openat(location.folder.descriptor, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard descriptor >= 0 else {
            if errno == ELOOP { throw StorageError.linkOnPath }
            throw StorageError.system(errno, "open")
        }
        return OpenFolder(descriptor: descriptor)
    }

    func entries(in folder: OpenFolder, after: String?, limit: Int) async throws -> (entries: [ListedName], more: Bool)
    {
        // A directory is read whole (readdir has no order to resume from); the page is cut from it sorted.
        let page = Listing.page(of: try allNames(in: folder), after: after, limit: limit)
        return (page.names.map { ListedName(name: $0, item: item(named: $0, in: folder)) }, page.more)
    }

    /// Every name in `folder`, links included.
    private func allNames(in folder: OpenFolder) throws -> [String] {
        let descriptor = dup(folder.descriptor)
        guard descriptor >= 0 else { throw StorageError.system(errno, "list a folder") }
        guard let directory = fdopendir(descriptor) else {
            close(descriptor)
            throw StorageError.system(errno, "list a folder")
        }
        defer { closedir(directory) }
        rewinddir(directory)
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    func item(named name: String, in folder: OpenFolder) -> StoredItem? {
        var info = stat()
        guard fstatat(folder.descriptor, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { return nil }
        return StoredItem(info)
    }

    /// Removes the file or empty folder at `location`.
    func remove(_ location: Location, isFolder isDirectory: Bool) async throws {
        guard let name = location.name else { throw StorageError.areaTop }
        guard unlinkat(location.folder.descriptor, name, isDirectory ? AT_REMOVEDIR : 0) == 0 else {
            let code = errno
            if isDirectory, code == ENOTEMPTY || code == EEXIST {
                throw StorageError.folderNotEmpty
            }
            throw StorageError.system(code, "delete")
        }
        location.folder.synchronize()
    }

    func stage(at location: Location, expectedLength: Int64?) async throws -> LocalStagedFile {
        try FileManager.default.createDirectory(atPath: temporaryDirectory, withIntermediateDirectories: true)
        return try LocalStagedFile(
            path: temporaryDirectory + "/put-" + UUID().uuidString.lowercased(),
            small: expectedLength.map { $0 <= Self.smallFile } ?? false
        )
    }

    func commit(_ staged: LocalStagedFile, at location: Location, replace: Bool) async throws -> Placed {
        guard let name = location.name else { throw StorageError.isAFolder }
        let before = try await item(at: location)
        if before?.isFolder == true { throw StorageError.isAFolder }
        if !replace && before != nil {
            throw StorageError.exists
        }
        let file = staged.path
        guard chmod(file, fileMode) == 0 else { throw StorageError.system(errno, "set the file's mode") }
        if !replace {
            // Without replacing: link fails if the name appeared meanwhile, so of two such commits exactly one wins.
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
        staged.committed()
        guard let item = try await item(at: location) else {
            throw StorageError.system(ENOENT, "commit (the committed file vanished)")
        }
        return Placed(replacedSize: before.map(\.size), item: item)
    }

    func synchronize(_ folder: OpenFolder) { folder.synchronize() }

    func freeBytes() -> Int64? { Self.freeBytes(root) }

    func sweepStaged() async {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: temporaryDirectory) else { return }
        for name in names where name.hasPrefix("put-") {
            unlink(temporaryDirectory + "/" + name)
        }
    }

    private static func isLink(in folder: OpenFolder, _ name: String) -> Bool {
        var info = stat()
        return fstatat(folder.descriptor, name, &info, AT_SYMLINK_NOFOLLOW) == 0 && (info.st_mode & S_IFMT) == S_IFLNK
    }

    /// The errno under a Foundation file error, if it carries one.
    static func posixCode(_ error: any Error) -> Int32? {
        let error = error as NSError
        if error.domain == NSPOSIXErrorDomain { return Int32(error.code) }
        return (error.userInfo[NSUnderlyingErrorKey] as? NSError).flatMap {
            $0.domain == NSPOSIXErrorDomain ? Int32($0.code) : nil
        }
    }

    /// Bytes free for this user on the file system of `path`.
    static func freeBytes(_ path: String) -> Int64? {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return nil }
        return Int64(info.f_bavail) * Int64(info.f_frsize)
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

extension StoredItem {
    init(_ info: stat) {
        let kind: Kind
        switch info.st_mode & S_IFMT {
        case S_IFREG: kind = .file
        case S_IFDIR: kind = .folder
        case S_IFLNK: kind = .link
        default: kind = .other
        }
        self.init(kind: kind, stamp: FileStamp(info))
    }
}

/// Writes a stream of buffers to a descriptor at increasing offsets, one trip to NIO's thread pool per 256 KiB:
/// the bytes are copied into one gathering buffer as they arrive, so what an upload holds while the disk lags is
/// that buffer, not the receive buffers its body parts were slices of.
struct GatheringWriter {
    let descriptor: Int32
    private(set) var offset: Int64
    private var staging = ByteBuffer()
    static let capacity = 256 << 10

    init(descriptor: Int32, offset: Int64) {
        self.descriptor = descriptor
        self.offset = offset
    }

    mutating func write(_ chunk: ByteBuffer) async throws {
        var chunk = chunk
        while chunk.readableBytes > 0 {
            if staging.capacity == 0 { staging.reserveCapacity(Self.capacity) }
            var part = chunk.readSlice(length: min(chunk.readableBytes, Self.capacity - staging.readableBytes))!
            staging.writeBuffer(&part)
            if staging.readableBytes >= Self.capacity { try await flush() }
        }
    }

    /// Writes what is gathered, on the thread pool.
    mutating func flush() async throws {
        guard staging.readableBytes > 0 else { return }
        let (descriptor, offset, buffer) = (self.descriptor, self.offset, staging)
        try await NIOThreadPool.singleton.runIfActive { try Self.write(buffer, to: descriptor, at: offset) }
        self.offset += Int64(buffer.readableBytes)
        staging.clear()
    }

    /// Writes what is gathered and fsyncs, on the thread pool.
    mutating func synchronize() async throws {
        try await flush()
        let descriptor = self.descriptor
        let failure = try await NIOThreadPool.singleton.runIfActive { fsync(descriptor) == 0 ? 0 : errno }
        if failure != 0 { throw StorageError.system(failure, "sync") }
    }

    /// `pwrite` of the whole buffer, however many calls it takes.
    static func write(_ buffer: ByteBuffer, to descriptor: Int32, at offset: Int64) throws {
        let failure = buffer.write(toDescriptor: descriptor, at: offset)
        if failure != 0 { throw StorageError.system(failure, "write") }
    }
}

/// A file under the temporary folder, written as it arrives: a small one with plain system calls on the caller's
/// thread (no hop to a thread pool for a few bytes), a large one through a `GatheringWriter`. `finish` fsyncs and
/// closes it (it stays, to be committed); `discard`, or the end of its life before a commit, closes and removes it.
final class LocalStagedFile: StagedFile {
    let path: String
    private var descriptor: Int32
    private var written: Int64 = 0
    private var writer: GatheringWriter?
    private var isCommitted = false
    /// Whether a discard removes the file (not for an adopted part: it stays with its upload).
    private let owned: Bool

    init(path: String, small: Bool) throws {
        self.path = path
        self.owned = true
        descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw StorageError.system(errno, "create a temporary file") }
        if !small { writer = GatheringWriter(descriptor: descriptor, offset: 0) }
    }

    /// A complete file written elsewhere on the same file system (a resumable upload's part), to be committed.
    init(adopting path: String) {
        self.path = path
        self.owned = false
        descriptor = -1
    }

    deinit {
        if !isCommitted { discard() }
    }

    func write(_ chunk: ByteBuffer) async throws {
        guard descriptor >= 0 else { throw StorageError.system(EBADF, "write") }
        if writer != nil {
            try await writer!.write(chunk)
        } else {
            try GatheringWriter.write(chunk, to: descriptor, at: written)
            written += Int64(chunk.readableBytes)
        }
    }

    func finish() async throws {
        do {
            if writer != nil {
                try await writer!.synchronize()
            } else if fsync(descriptor) != 0 {
                throw StorageError.system(errno, "sync")
            }
        } catch {
            discard()
            throw error
        }
        close(descriptor)
        descriptor = -1
    }

    /// Called by the commit: the file has its name now and must stay.
    func committed() { isCommitted = true }

    func discard() {
        if descriptor >= 0 {
            close(descriptor)
            descriptor = -1
        }
        if !isCommitted && owned { unlink(path) }
        isCommitted = true
    }
}
