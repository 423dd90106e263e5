/// A folder listing, as the server sends it (`GET` on a folder) and the client reads it: one page of entries
/// in the order of their names (by bytes, stable), and the cursor of the next page when there is one.
///
/// `GET /v1/files/FOLDER/?limit=N&after=NAME`: up to `limit` entries (default ``defaultLimit``, at most
/// ``maximumLimit``) whose names sort after `after`; `next` is the `after` of the next page.
public struct Listing: Codable, Sendable, Equatable {
    public struct Entry: Codable, Sendable, Equatable {
        public let name: String
        /// `file`, `directory` or `other`.
        public let type: String
        public let size: Int64?
        public let modified: String?
        public let sha256: String?

        public init(name: String, type: String, size: Int64?, modified: String?, sha256: String?) {
            self.name = name
            self.type = type
            self.size = size
            self.modified = modified
            self.sha256 = sha256
        }
    }

    public let path: String
    public var entries: [Entry]
    /// The `after` value of the next page; `nil` on the last page.
    public var next: String?

    public init(path: String, entries: [Entry], next: String? = nil) {
        self.path = path
        self.entries = entries
        self.next = next
    }

    public static let defaultLimit = 1000
    public static let maximumLimit = 10_000

    /// The names of one page: those after `after`, at most `limit`, and whether more follow.
    /// The order of names in listings: by their UTF-8 bytes (as an object store lists keys).
    public static func precedes(_ a: String, _ b: String) -> Bool {
        a.utf8.lexicographicallyPrecedes(b.utf8)
    }

    public static func page(of names: [String], after: String?, limit: Int) -> (names: ArraySlice<String>, more: Bool) {
        let sorted = names.sorted(by: precedes)
        // The first name after the cursor (the cursor itself need not exist any more).
        let start =
            after.map { cursor in sorted.firstIndex { precedes(cursor, $0) } ?? sorted.endIndex } ?? sorted.startIndex
        let end = min(sorted.endIndex, start + limit)
        return (sorted[start..<end], end < sorted.endIndex)
    }
}
