import Crypto
public import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// AWS Signature Version 4 for requests with an `Authorization` header (the form S3 and every S3-compatible
/// server accept). Pure: a request's parts in, the canonical request, the string to sign and the header out, so
/// each step can be checked against AWS's published vectors.
public struct SigV4Signer: Sendable {
    public var credentials: ObjectStoreCredentials
    public var region: String
    public var service: String

    public init(credentials: ObjectStoreCredentials, region: String, service: String = "s3") {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    public struct Signed: Sendable {
        public let canonicalRequest: String
        public let stringToSign: String
        public let authorization: String
        /// The headers to send: the request's, plus `x-amz-date` and, with temporary credentials,
        /// `x-amz-security-token` (`host` is the HTTP client's to send).
        public let headers: [(String, String)]
    }

    /// Signs a request.
    ///
    /// - Parameters:
    ///   - path: the path as sent, already percent-encoded (S3 signs it as it is, without normalising).
    ///   - query: names and values as they are, before encoding; sorted and encoded here.
    ///   - headers: the headers to sign besides `host` and `x-amz-date` (S3 wants `x-amz-content-sha256`).
    ///   - payloadHash: the hex SHA-256 of the body, or `UNSIGNED-PAYLOAD`.
    public func sign(
        method: String,
        host: String,
        path: String,
        query: [(String, String)],
        headers: [(String, String)],
        payloadHash: String,
        date: Date
    ) -> Signed {
        let (day, stamp) = Self.timestamps(date)
        var all = headers + [("host", host), ("x-amz-date", stamp)]
        if let token = credentials.sessionToken { all.append(("x-amz-security-token", token)) }
        // Lower-case names, values trimmed with inner runs of spaces made one, repeats joined with commas in order.
        var byName: [String: [String]] = [:]
        for (name, value) in all {
            byName[name.lowercased(), default: []].append(Self.collapsed(value))
        }
        let names = byName.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        let canonicalHeaders = names.map { "\($0):\(byName[$0]!.joined(separator: ","))\n" }.joined()
        let signedHeaders = names.joined(separator: ";")
        let canonicalQuery = Self.canonicalQuery(query)
        let canonicalRequest = [
            method, path.isEmpty ? "/" : path, canonicalQuery, canonicalHeaders, signedHeaders, payloadHash,
        ].joined(separator: "\n")
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let stringToSign = [
            "AWS4-HMAC-SHA256", stamp, scope, Self.hex(SHA256.hash(data: Data(canonicalRequest.utf8))),
        ].joined(separator: "\n")
        var key = SymmetricKey(data: Data("AWS4\(credentials.secretAccessKey)".utf8))
        for part in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(part.utf8), using: key)))
        }
        let signature = Self.hex(HMAC<SHA256>.authenticationCode(for: Data(stringToSign.utf8), using: key))
        let authorization =
            "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"
        var sent = headers + [("x-amz-date", stamp)]
        if let token = credentials.sessionToken { sent.append(("x-amz-security-token", token)) }
        return Signed(
            canonicalRequest: canonicalRequest,
            stringToSign: stringToSign,
            authorization: authorization,
            headers: sent
        )
    }

    /// Query parameters encoded (RFC 3986 unreserved characters kept, every other byte `%XX`) and sorted by name,
    /// then value, byte by byte; a parameter without a value has an empty one.
    static func canonicalQuery(_ query: [(String, String)]) -> String {
        query.map { (encode($0.0), encode($0.1)) }
            .sorted { left, right in
                left.0 == right.0
                    ? Array(left.1.utf8).lexicographicallyPrecedes(Array(right.1.utf8))
                    : Array(left.0.utf8).lexicographicallyPrecedes(Array(right.0.utf8))
            }
            .map { "\($0.0)=\($0.1)" }
            .joined(separator: "&")
    }

    /// Percent-encodes every byte but the unreserved ones (`A-Z a-z 0-9 - . _ ~`), and `/` too unless `keepSlash`
    /// (an object key in a path keeps its slashes).
    public static func encode(_ text: String, keepSlash: Bool = false) -> String {
        var encoded = ""
        encoded.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                encoded.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: "/") where keepSlash:
                encoded.append("/")
            default:
                let digits = Array("0123456789ABCDEF".utf8)
                encoded.append("%")
                encoded.unicodeScalars.append(Unicode.Scalar(digits[Int(byte >> 4)]))
                encoded.unicodeScalars.append(Unicode.Scalar(digits[Int(byte & 0x0F)]))
            }
        }
        return encoded
    }

    private static func collapsed(_ value: String) -> String {
        value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
            .trimmingCharacters(in: .whitespaces)
    }

    /// `20150830` and `20150830T123600Z` for a date, in UTC.
    static func timestamps(_ date: Date) -> (day: String, stamp: String) {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let day = "\(parts.tm_year + 1900)\(two(parts.tm_mon + 1))\(two(parts.tm_mday))"
        return (day, "\(day)T\(two(parts.tm_hour))\(two(parts.tm_min))\(two(parts.tm_sec))Z")
    }

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text = ""
        for byte in bytes {
            text.unicodeScalars.append(Unicode.Scalar(digits[Int(byte >> 4)]))
            text.unicodeScalars.append(Unicode.Scalar(digits[Int(byte & 0x0F)]))
        }
        return text
    }
}
