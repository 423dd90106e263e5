public import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What identifies a file's content cheaply: a file replaced, rewritten or touched changes at least one of its
/// inode, size and modification time. One type serves every place that must notice a changed file: the
/// `ETag` and `If-Range` validators, the server's digest index, the TLS files a server reloads, and the identity
/// of a local file an interrupted upload resumes.
public struct FileStamp: Hashable, Sendable, Codable {
    public var inode: UInt64
    public var size: Int64
    /// Modification time in nanoseconds since 1970.
    public var modifiedNanoseconds: Int64

    public init(inode: UInt64, size: Int64, modifiedNanoseconds: Int64) {
        self.inode = inode
        self.size = size
        self.modifiedNanoseconds = modifiedNanoseconds
    }

    /// The stamp of what `stat` or `fstat` returned.
    public init(_ info: stat) {
        self.init(
            inode: UInt64(info.st_ino),
            size: Int64(info.st_size),
            modifiedNanoseconds: Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
        )
    }

    /// The stamp of the file at `path` (links followed), or `nil` when it cannot be read.
    public init?(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        self.init(info)
    }

    /// The modification time.
    public var modified: Date { Date(timeIntervalSince1970: TimeInterval(modifiedNanoseconds) / 1e9) }

    /// A strong validator, `"<inode>-<size>-<mtime ns>"` in hexadecimal and quoted (as nginx derives its own).
    public var etag: String {
        "\"\(String(inode, radix: 16))-\(String(size, radix: 16))-\(String(modifiedNanoseconds, radix: 16))\""
    }
}
