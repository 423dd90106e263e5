/// An `application/problem+json` body (RFC 9457), as the server sends it and the client reads it.
public struct Problem: Codable, Sendable, Equatable, Error, CustomStringConvertible {
    /// A stable identifier such as `https://ferry.dev/problems/path-outside-area`.
    public var type: String
    public var title: String
    public var status: Int
    public var detail: String?
    /// Which quota refused the request and how much of it is left (`quota-exceeded` only).
    public var quota: QuotaState?

    /// A quota's state when it refused a request: its limit, what is used (uploads in progress included), what
    /// remains, and what the request needed; bytes for `bytes`, counts for `files` and `uploads`.
    public struct QuotaState: Codable, Sendable, Equatable {
        public var name: String
        public var limit: Int64
        public var used: Int64
        public var remaining: Int64
        public var needed: Int64

        public init(name: String, limit: Int64, used: Int64, remaining: Int64, needed: Int64) {
            self.name = name
            self.limit = limit
            self.used = used
            self.remaining = remaining
            self.needed = needed
        }
    }

    /// The problem type URI prefix.
    public static let typePrefix = "https://ferry.dev/problems/"
    /// The media type of the body.
    public static let mediaType = "application/problem+json"

    public init(_ slug: String, status: Int, title: String, detail: String? = nil) {
        self.type = Self.typePrefix + slug
        self.status = status
        self.title = title
        self.detail = detail
    }

    /// The last component of `type`, e.g. `path-outside-area`.
    public var slug: String {
        type.hasPrefix(Self.typePrefix) ? String(type.dropFirst(Self.typePrefix.count)) : type
    }

    public var description: String {
        "\(status) \(title)" + (detail.map { ": \($0)" } ?? "") + " [\(slug)]"
    }
}
