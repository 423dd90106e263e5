/// A configuration problem: the file, the key and what to do.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public let description: String
    /// A stable identifier when the problem is one `ferry config check` reports by name (e.g. `ssl3-enabled`).
    public let id: String?

    public init(_ description: String, id: String? = nil) {
        self.description = description
        self.id = id
    }
}
