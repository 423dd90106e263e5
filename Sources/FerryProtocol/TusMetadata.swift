import Foundation

/// The tus `Upload-Metadata` header: comma-separated `key base64value` pairs (tus 1.0.0, creation extension).
public enum TusMetadata {
    /// Parses the header; a key without a value maps to the empty string. Split on the bytes ',' and ' ', not on
    /// Swift characters: a combining mark after a comma would otherwise join it into one character and hide
    /// the separator.
    public static func parse(_ header: String) throws(TusMetadataError) -> [String: String] {
        var result: [String: String] = [:]
        let blank: (UInt8) -> Bool = { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
        for pair in header.utf8.split(separator: UInt8(ascii: ",")) {
            let trimmed = pair.drop(while: blank).reversed().drop(while: blank).reversed()
            let parts = Array(trimmed).split(separator: UInt8(ascii: " "), omittingEmptySubsequences: true)
            guard let key = parts.first, parts.count <= 2, let name = String(validating: key, as: UTF8.self) else {
                throw TusMetadataError(header: header)
            }
            if parts.count == 2 {
                guard let data = Data(base64Encoded: Data(parts[1])), let value = String(data: data, encoding: .utf8)
                else {
                    throw TusMetadataError(header: header)
                }
                result[name] = value
            } else {
                result[name] = ""
            }
        }
        return result
    }

    /// Encodes metadata, keys sorted for a stable header.
    public static func encode(_ values: [String: String]) -> String {
        values.keys.sorted().map { key in
            let value = values[key]!
            return value.isEmpty ? key : key + " " + Data(value.utf8).base64EncodedString()
        }.joined(separator: ",")
    }
}

/// A malformed `Upload-Metadata` header.
public struct TusMetadataError: Error, Sendable, CustomStringConvertible {
    public let header: String
    public var description: String {
        "Upload-Metadata '\(header.prefix(120))' is malformed: expected comma-separated 'key base64value' pairs"
    }
}
