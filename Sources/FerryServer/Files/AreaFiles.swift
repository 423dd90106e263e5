import FerryProtocol
import HTTPTypes
import _NIOFileSystem
import Foundation
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
import CoreFoundation
#endif

/// Files and folders inside an area, reached by descriptor: every folder below the area's own is opened with
/// `openat(…, O_NOFOLLOW)` from the one above it, and files are opened, created, renamed, linked and removed
/// relative to their folder's descriptor. A symbolic link on a partner's path, planted before a request or
/// swapped in while it runs, is never followed: the request is refused (`path-outside-area`), whatever the
/// link points at. The area's own folder is checked once per request against the root (`checkContainment`),
/// so an operator may still place an area on another disk through a link inside the root.
extension FileStore {
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
    final class OpenFile: Sendable {
        let descriptor: Int32
        let stamp: Stamp

        init(descriptor: Int32, stamp: Stamp) {
            self.descriptor = descriptor
            self.stamp = stamp
        }

        deinit { close(descriptor) }

        /// Hands `span` of the file to `body` in chunks of at most `FileStore.chunkLength`, each read on NIO's
        /// thread pool; a file that shrinks meanwhile is an error, not a short answer.
        func forEachChunk(in span: Range<Int64>, _ body: (ByteBuffer) async throws -> Void) async throws {
            var offset = span.lowerBound
            let chunk = Int64(FileStore.chunkLength.bytes)
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
                repeat { count = pread(descriptor, raw.baseAddress, length, off_t(offset)) } while count < 0 && errno == EINTR
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

    /// Opens the folder that holds `target`, one name at a time from the area's folder without following links;
    /// `creating` makes missing folders. `nil` when a folder on the way does not exist (or is a file) and
    /// `creating` is off.
    func locate(_ target: AccessPolicy.Target, creating: Bool) throws -> Location? {
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
                if mkdirat(folder.descriptor, component, 0o777) != 0, errno != EEXIST { throw StorageError.system(errno, "create a folder") }
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
    func stamp(at location: Location) throws -> Stamp? {
        var info = stat()
        if let name = location.name {
            guard fstatat(location.folder.descriptor, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else {
                if errno == ENOENT || errno == ENOTDIR { return nil }
                throw StorageError.system(errno, "look at a file")
            }
            if (info.st_mode & S_IFMT) == S_IFLNK { throw StorageError.linkOnPath }
        } else {
            guard fstat(location.folder.descriptor, &info) == 0 else { throw StorageError.system(errno, "look at a folder") }
        }
        return Stamp(info)
    }

    /// What is at `target` (see `stamp(at:)`).
    func stamp(of target: AccessPolicy.Target) throws -> Stamp? {
        try locate(target, creating: false).flatMap { try stamp(at: $0) }
    }

    /// Opens the regular file at `location` for reading; `nil` when there is none (a folder is not a file).
    func openForReading(_ location: Location) throws -> OpenFile? {
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
        return OpenFile(descriptor: descriptor, stamp: Stamp(info))
    }

    /// The folder at `location` itself (the area's own folder when `name` is nil), opened once for a listing.
    func openFolder(_ location: Location) throws -> OpenFolder {
        guard let name = location.name else { return location.folder }
        let descriptor = openat(location.folder.descriptor, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard descriptor >= 0 else {
            if errno == ELOOP { throw StorageError.linkOnPath }
            throw StorageError.system(errno, "open")
        }
        return OpenFolder(descriptor: descriptor)
    }

    /// The names in `folder`, links included (`entryStamp` tells what each is).
    func names(in folder: OpenFolder) throws -> [String] {
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

    /// An entry of a listed folder, without following a link (a link is listed as what it is, not as its target).
    func entryStamp(_ name: String, in folder: OpenFolder) -> (stamp: Stamp, isLink: Bool)? {
        var info = stat()
        guard fstatat(folder.descriptor, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { return nil }
        return (Stamp(info), (info.st_mode & S_IFMT) == S_IFLNK)
    }

    /// Removes the file or empty folder at `location`.
    func remove(_ location: Location, isDirectory: Bool) throws {
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

    private static func isLink(in folder: OpenFolder, _ name: String) -> Bool {
        var info = stat()
        return fstatat(folder.descriptor, name, &info, AT_SYMLINK_NOFOLLOW) == 0 && (info.st_mode & S_IFMT) == S_IFLNK
    }
}

extension FileStore.Stamp {
    init(_ info: stat) {
        self.init(
            isDirectory: (info.st_mode & S_IFMT) == S_IFDIR,
            isRegular: (info.st_mode & S_IFMT) == S_IFREG,
            file: FileStamp(info)
        )
    }
}
