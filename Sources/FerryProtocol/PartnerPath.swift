/// A path inside a partner's view of the server, checked and normalised before it touches any file system.
///
/// Built from the raw, still percent-encoded path of a request URL. Every segment is decoded on its own, so an
/// encoded slash (`%2F`) can never create a new segment, and every path attack is refused here
/// (docs/security.md): `.` and `..` (also encoded), empty segments (`//`), NUL and other control characters, backslashes,
/// invalid UTF-8 or percent-encoding, and the reserved `.ferry` state folder.
public struct PartnerPath: Hashable, Sendable, CustomStringConvertible {
    /// The decoded segments, never empty strings, never `.` or `..`.
    public let segments: [String]
    /// Whether the request named a directory (the raw path ended with `/`).
    public let isDirectory: Bool

    /// The longest path Ferry accepts, in bytes after decoding.
    public static let maximumLength = 4096
    /// The longest segment Ferry accepts, in bytes (the usual file-system name limit).
    public static let maximumSegmentLength = 255
    /// Names starting with this prefix are reserved for the server's own state.
    public static let reservedPrefix = ".ferry"

    /// The root of the partner's view.
    public static let root = PartnerPath(checkedSegments: [], isDirectory: true)

    init(checkedSegments: [String], isDirectory: Bool) {
        self.segments = checkedSegments
        self.isDirectory = isDirectory
    }

    /// Parses the part of a URL path after the route prefix, still percent-encoded.
    ///
    /// - Parameter encoded: for `/v1/files/in/a%20b.csv`, the string `in/a%20b.csv`. An empty string is the root.
    /// - Throws: ``PathError`` naming the first problem found.
    public init(encoded: Substring) throws(PathError) {
        if encoded.isEmpty {
            self = .root
            return
        }
        if encoded.utf8.count > Self.maximumLength * 3 {
            throw PathError(.tooLong, path: String(encoded.prefix(64)))
        }
        if encoded.hasPrefix("/") {
            throw PathError(.absolute, path: String(encoded))
        }
        var raw = encoded.split(separator: "/", omittingEmptySubsequences: false)
        var isDirectory = false
        if raw.count > 1, raw.last == "" {
            raw.removeLast()
            isDirectory = true
        }
        var segments: [String] = []
        segments.reserveCapacity(raw.count)
        var total = 0
        for piece in raw {
            let segment = try Self.decodeSegment(piece, whole: encoded)
            total += segment.utf8.count + 1
            segments.append(segment)
        }
        if total > Self.maximumLength {
            throw PathError(.tooLong, path: String(encoded.prefix(64)))
        }
        self.init(checkedSegments: segments, isDirectory: isDirectory)
    }

    /// Parses a plain (not percent-encoded) relative path, as typed in a configuration file or on a command line.
    public init(plain: String) throws(PathError) {
        try self.init(encoded: Substring(PercentEncoding.encodePath(plain)))
    }

    static func decodeSegment(_ piece: Substring, whole: Substring) throws(PathError) -> String {
        let path = String(whole)
        if piece.isEmpty {
            throw PathError(.emptySegment, path: path)
        }
        guard let bytes = PercentEncoding.decode(piece) else {
            throw PathError(.badEncoding, path: path)
        }
        if bytes.count > Self.maximumSegmentLength {
            throw PathError(.tooLong, path: path)
        }
        for byte in bytes {
            switch byte {
            case 0: throw PathError(.nul, path: path)
            case 1..<0x20, 0x7F: throw PathError(.controlCharacter, path: path)
            case UInt8(ascii: "\\"): throw PathError(.backslash, path: path)
            case UInt8(ascii: "/"): throw PathError(.encodedSlash, path: path)
            default: break
            }
        }
        guard let segment = String(validating: bytes, as: UTF8.self) else {
            throw PathError(.badEncoding, path: path)
        }
        if segment == "." || segment == ".." {
            throw PathError(.dotSegment, path: path)
        }
        // C1 controls and bidirectional overrides/isolates (C0 and DEL are refused above, byte by byte).
        if segment.unicodeScalars.contains(where: TerminalText.isUnsafe) {
            throw PathError(.controlCharacter, path: path)
        }
        // Compared without case: on a case-insensitive file system `.FERRY` is the state folder too.
        if segment.lowercased().hasPrefix(Self.reservedPrefix) {
            throw PathError(.reserved, path: path)
        }
        return segment
    }

    /// The path joined with `/`, relative, without a trailing slash.
    public var relative: String { segments.joined(separator: "/") }

    /// The path as it appears in a URL after the route prefix, percent-encoded.
    public var encoded: String {
        segments.map(PercentEncoding.encodeSegment).joined(separator: "/")
            + (isDirectory && !segments.isEmpty ? "/" : "")
    }

    public var description: String { relative.isEmpty ? "/" : relative + (isDirectory ? "/" : "") }

    /// The last segment, if any.
    public var name: String? { segments.last }

    /// This path with one more segment.
    public func appending(_ name: String) throws(PathError) -> PartnerPath {
        let checked = try Self.decodeSegment(Substring(PercentEncoding.encodeSegment(name)), whole: Substring(name))
        return PartnerPath(checkedSegments: segments + [checked], isDirectory: false)
    }

    /// The path without its first `count` segments.
    public func dropping(first count: Int) -> PartnerPath {
        PartnerPath(checkedSegments: Array(segments.dropFirst(count)), isDirectory: isDirectory)
    }
}
