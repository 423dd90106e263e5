import Crypto
import Foundation

extension FileDigest {
    /// Hashes a local file in 1 MiB blocks (for tools and checks; transfers hash while they stream).
    public static func of(fileAt path: String) throws -> FileDigest {
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        var hasher = SHA256()
        while let block = try handle.read(upToCount: 1 << 20), !block.isEmpty {
            hasher.update(data: block)
        }
        return FileDigest(bytes: Array(hasher.finalize()))!
    }
}
