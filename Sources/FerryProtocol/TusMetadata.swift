import Foundation

/// The tus `Upload-Metadata` header: comma-separated `key base64value` pairs (tus 1.0.0, creation extension).
public enum TusMetadata {
    /// Parses the header; a key without a value maps to the empty string.
    public static func parse(_ header: String) throws(TusMetadataError) -> [String: String] {
        var result: [String: String] = [:]
        for pair in header.split(separator: ",") {
            let parts = pair.trimmingSpaces().split(separator: " ", omittingEmptySubsequences: true)
            guard let key = parts.first, parts.count <= 2, !key.isEmpty else {
                throw TusMetadataError(header: header)
            }
            if parts.count == 2 {
                guard let data = Data(base64Encoded: String(parts[1])), let value = String(data: data, encoding: .utf8) else {
                    throw TusMetadataError(header: header)
                }
                result[String(key)] = value
            } else {
                result[String(key)] = ""
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
