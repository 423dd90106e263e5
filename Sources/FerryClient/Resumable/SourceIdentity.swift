import Crypto
import FerryProtocol
import Foundation

#if canImport(Glibc)
import Glibc
import CoreFoundation
#endif

/// Who a local file is, cheaply: size, modification time, inode, and a digest of its first and last MiB.
/// An interrupted upload is resumed only when the file is still the same by all of these.
struct SourceIdentity: Equatable, Sendable {
    var stamp: FileStamp
    var headTailSHA256: String
    var size: Int64 { stamp.size }

    init(path: String) throws {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw TransferError(.localIO, "cannot read \(path): \(String(cString: strerror(errno)))")
        }
        stamp = FileStamp(info)
        let size = stamp.size
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

/// Kept flat in the resume record (`size`, `modifiedNanoseconds`, `inode`, `headTailSHA256`), as records written
/// before the stamp had its own type are.
extension SourceIdentity: Codable {
    private enum CodingKeys: String, CodingKey { case size, modifiedNanoseconds, inode, headTailSHA256 }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        stamp = FileStamp(
            inode: try container.decode(UInt64.self, forKey: .inode),
            size: try container.decode(Int64.self, forKey: .size),
            modifiedNanoseconds: try container.decode(Int64.self, forKey: .modifiedNanoseconds)
        )
        headTailSHA256 = try container.decode(String.self, forKey: .headTailSHA256)
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(stamp.size, forKey: .size)
        try container.encode(stamp.modifiedNanoseconds, forKey: .modifiedNanoseconds)
        try container.encode(stamp.inode, forKey: .inode)
        try container.encode(headTailSHA256, forKey: .headTailSHA256)
    }
}
