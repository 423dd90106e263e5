import Crypto
import FerryProtocol
public import Foundation

/// Files with known content for transfer tests.
public enum TestFiles {
    /// Writes `size` pseudo-random bytes (deterministic per seed) in 1 MiB blocks; returns the SHA-256 in hex.
    @discardableResult
    public static func write(_ path: String, size: Int, seed: UInt64 = 42) throws -> String {
        FileManager.default.createFile(atPath: path, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        var state = seed
        var hasher = SHA256()
        var remaining = size
        while remaining > 0 {
            let block = fill(min(remaining, 1 << 20), state: &state)
            hasher.update(data: block)
            try handle.write(contentsOf: block)
            remaining -= block.count
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// `count` pseudo-random bytes, deterministic per seed (the first `count` bytes `write` writes with it).
    public static func bytes(_ count: Int, seed: UInt64 = 42) -> [UInt8] {
        var state = seed
        return fill(count, state: &state)
    }

    /// The next `count` bytes of the generator at `state`, eight bytes per step, stored whole (the same bytes as one
    /// at a time, in memory order). A byte loop, or a system random number per byte (a system call each), took
    /// seconds per MiB in debug builds, holding one of the test process's two cooperative threads, which the
    /// in-process servers of the suites running beside need: their uploads then stalled until the server's 30 s
    /// stall timeout cut them.
    private static func fill(_ count: Int, state: inout UInt64) -> [UInt8] {
        var block = [UInt8](repeating: 0, count: count)
        block.withUnsafeMutableBytes { raw in
            var index = 0
            while index < count {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                if index + 8 <= count {
                    raw.storeBytes(of: state, toByteOffset: index, as: UInt64.self)
                } else {
                    withUnsafeBytes(of: state) { bytes in
                        for offset in 0..<(count - index) { raw[index + offset] = bytes[offset] }
                    }
                }
                index += 8
            }
        }
        return block
    }

    /// The SHA-256 of a file, in hex.
    public static func sha256(_ path: String) throws -> String {
        try FileDigest.of(fileAt: path).hex
    }
}

/// Small hashing helpers for protocol tests.
public enum TestHashes {
    public static func sha1(_ bytes: [UInt8]) -> [UInt8] {
        Array(Insecure.SHA1.hash(data: bytes))
    }

    public static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        Array(SHA256.hash(data: bytes))
    }

    public static func sha256Hex(_ bytes: [UInt8]) -> String {
        SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
    }
}
