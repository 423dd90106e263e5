import Foundation

/// A SHA-256 digest as carried in `Repr-Digest` (RFC 9530): `sha-256=:<base64>:`.
public struct FileDigest: Hashable, Sendable, CustomStringConvertible {
    /// The 32 digest bytes.
    public let bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        guard bytes.count == 32 else { return nil }
        self.bytes = bytes
    }

    /// Parses 64 hexadecimal digits.
    public init?(hex: String) {
        let utf8 = Array(hex.utf8)
        guard utf8.count == 64 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(32)
        var index = 0
        while index < 64 {
            guard let high = Self.nibble(utf8[index]), let low = Self.nibble(utf8[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        self.bytes = out
    }

    /// Lower-case hexadecimal, as `sha256sum` prints it.
    public var hex: String {
        String(unsafeUninitializedCapacity: 64) { out in
            let digits = Array("0123456789abcdef".utf8)
            for (index, byte) in bytes.enumerated() {
                out[2 * index] = digits[Int(byte >> 4)]
                out[2 * index + 1] = digits[Int(byte & 0xF)]
            }
            return 64
        }
    }

    /// Standard base64 of the digest bytes.
    public var base64: String { Data(bytes).base64EncodedString() }

    /// The `Repr-Digest` field value.
    public var reprDigestHeader: String { "sha-256=:\(base64):" }

    public var description: String { hex }

    /// Finds the `sha-256` member of a `Repr-Digest` or `Content-Digest` dictionary.
    ///
    /// Other algorithms are ignored; a `sha-256` member that is not 32 bytes of base64 is an error.
    public static func parse(reprDigest value: String) throws(DigestHeaderError) -> FileDigest? {
        for member in value.split(separator: ",") {
            let trimmed = member.trimmingSpaces()
            guard let equals = trimmed.firstIndex(of: "=") else { continue }
            let key = trimmed[..<equals].trimmingSpaces().lowercased()
            guard key == "sha-256" else { continue }
            let raw = trimmed[trimmed.index(after: equals)...].trimmingSpaces()
            guard raw.count >= 2, raw.first == ":", raw.last == ":" else {
                throw DigestHeaderError(value: value)
            }
            let b64 = raw.dropFirst().dropLast()
            guard let data = Data(base64Encoded: String(b64)), let digest = FileDigest(bytes: Array(data)) else {
                throw DigestHeaderError(value: value)
            }
            return digest
        }
        return nil
    }

    private static func nibble(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// A `Repr-Digest` header whose `sha-256` member is malformed.
public struct DigestHeaderError: Error, Sendable, CustomStringConvertible {
    public let value: String
    public var description: String {
        "Repr-Digest '\(value.prefix(120))' is malformed: expected sha-256=:<base64 of 32 bytes>:"
    }
}
