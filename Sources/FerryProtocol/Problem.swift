/// An `application/problem+json` body (RFC 9457), as the server sends it and the client reads it.
public struct Problem: Codable, Sendable, Equatable, Error, CustomStringConvertible {
    /// A stable identifier such as `https://ferry.dev/problems/path-outside-area`.
    public var type: String
    public var title: String
    public var status: Int
    public var detail: String?

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
