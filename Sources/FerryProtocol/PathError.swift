/// Why a request path was refused. Stable `code` strings for problem types and logs.
public struct PathError: Error, Hashable, Sendable, CustomStringConvertible {
    enum Code: String, Sendable {
        case absolute = "absolute-path"
        case emptySegment = "empty-segment"
        case dotSegment = "dot-segment"
        case nul = "nul-byte"
        case controlCharacter = "control-character"
        case backslash = "backslash"
        case encodedSlash = "encoded-slash"
        case badEncoding = "bad-encoding"
        case reserved = "reserved-name"
        case tooLong = "path-too-long"
    }

    let code: Code
    /// The offending path, as received (shortened when very long).
    public let path: String

    init(_ code: Code, path: String) {
        self.code = code
        self.path = path
    }

    /// A stable identifier of the problem, safe for metric labels and problem types.
    public var shortDescription: String { code.rawValue }

    public var description: String {
        let why: String
        switch code {
        case .absolute: why = "it is absolute (starts with '/'); paths are relative to your area"
        case .emptySegment: why = "it has an empty segment ('//')"
        case .dotSegment: why = "it contains a '.' or '..' segment (also when percent-encoded)"
        case .nul: why = "it contains a NUL byte"
        case .controlCharacter:
            why = "it contains a control character (C0, DEL, C1) or a bidirectional override or isolate"
        case .backslash: why = "it contains a backslash; use '/' to separate folders"
        case .encodedSlash: why = "it contains an encoded '/' (%2F) inside a name"
        case .badEncoding: why = "it is not valid percent-encoded UTF-8"
        case .reserved: why = "names starting with '.ferry' are reserved for the server"
        case .tooLong:
            why =
                "it is longer than \(PartnerPath.maximumLength) bytes or has a name over \(PartnerPath.maximumSegmentLength) bytes"
        }
        return "path '\(TerminalText.escaped(path))' refused: \(why)"
    }
}
