import Crypto
import FerryProtocol
import Foundation

#if canImport(Glibc)
import Glibc
import CoreFoundation
#endif

/// Who a local file is, cheaply: size, modification time, inode, and a digest of its first and last MiB.
/// An interrupted upload is resumed only when the file is still the same by all of these.
struct SourceIdentity: Codable, Equatable, Sendable {
    var size: Int64
    var modifiedNanoseconds: Int64
    var inode: UInt64
    var headTailSHA256: String

    init(path: String) throws {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw TransferError(.localIO, "cannot read \(path): \(String(cString: strerror(errno)))")
        }
        size = Int64(info.st_size)
        modifiedNanoseconds = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
        inode = UInt64(info.st_ino)
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        var hasher = SHA256()
        let mebibyte = 1 << 20
        hasher.update(data: try handle.read(upToCount: mebibyte) ?? Data())
        if size > Int64(mebibyte) {
            try handle.seek(toOffset: UInt64(max(Int64(mebibyte), size - Int64(mebibyte))))
            hasher.update(data: try handle.readToEnd() ?? Data())
        }
        headTailSHA256 = hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}
