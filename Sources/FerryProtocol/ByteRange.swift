/// A `Range` request header (RFC 9110 §14) resolved against a representation of known length.
public enum RangeRequest: Equatable, Sendable {
    /// Serve the whole representation with 200: no `Range`, a syntactically invalid one, another unit, or
    /// several ranges (which RFC 9110 §14.2 lets a server ignore).
    case whole
    /// Serve bytes `range` (upper bound exclusive) with 206 and `Content-Range: bytes first-last/length`.
    case partial(Range<Int64>)
    /// 416 with `Content-Range: bytes */length`: no range overlaps the representation.
    case unsatisfiable

    /// Resolves a `Range` header value against `length`.
    public init(header: String?, length: Int64) {
        guard let header else {
            self = .whole
            return
        }
        let trimmed = header.trimmingSpaces()
        guard let equals = trimmed.firstIndex(of: "="),
            trimmed[..<equals].trimmingSpaces().lowercased() == "bytes"
        else {
            self = .whole
            return
        }
        let specs = trimmed[trimmed.index(after: equals)...].split(separator: ",", omittingEmptySubsequences: false)
        guard specs.count == 1, let spec = ByteRangeSpec(Substring(specs[0].trimmingSpaces())) else {
            self = .whole
            return
        }
        self = spec.resolve(length: length)
    }

    /// The `Content-Range` value for this answer.
    public func contentRange(length: Int64) -> String? {
        switch self {
        case .whole: return nil
        case .partial(let range): return "bytes \(range.lowerBound)-\(range.upperBound - 1)/\(length)"
        case .unsatisfiable: return "bytes */\(length)"
        }
    }
}

/// One `first-last`, `first-` or `-suffix` byte range.
enum ByteRangeSpec: Equatable {
    case from(Int64, through: Int64?)
    case suffix(Int64)

    init?(_ text: Substring) {
        guard let dash = text.firstIndex(of: "-") else { return nil }
        let first = text[..<dash]
        let last = text[text.index(after: dash)...]
        if first.isEmpty {
            guard let count = Int64(digits: last) else { return nil }
            self = .suffix(count)
        } else {
            guard let start = Int64(digits: first) else { return nil }
            if last.isEmpty {
                self = .from(start, through: nil)
            } else {
                guard let end = Int64(digits: last), end >= start else { return nil }
                self = .from(start, through: end)
            }
        }
    }

    func resolve(length: Int64) -> RangeRequest {
        switch self {
        case .from(let start, let end):
            guard start < length else { return .unsatisfiable }
            let last = min(end ?? (length - 1), length - 1)
            return .partial(start..<(last + 1))
        case .suffix(let count):
            guard count > 0, length > 0 else { return .unsatisfiable }
            return .partial(max(0, length - count)..<length)
        }
    }
}

extension Int64 {
    /// Parses a run of ASCII digits only (no sign, no spaces), refusing overflow.
    init?(digits: Substring) {
        guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let value = Int64(digits) else {
            return nil
        }
        self = value
    }
}

extension StringProtocol {
    func trimmingSpaces() -> Substring {
        var sub = Substring(self)
        while let first = sub.first, first == " " || first == "\t" { sub.removeFirst() }
        while let last = sub.last, last == " " || last == "\t" { sub.removeLast() }
        return sub
    }
}

/// A `Content-Range` response header (RFC 9110 §14.4) as a client reads it: `bytes first-last/length`, with the
/// length `*` when unknown, or `bytes */length` for a 416. Anything else is `nil`: a client must not guess where
/// bytes belong.
public struct ContentRange: Equatable, Sendable {
    /// The bytes this response carries (upper bound exclusive); `nil` for `bytes */length`.
    public let range: Range<Int64>?
    /// The whole representation's length, when the server knows it.
    public let total: Int64?

    public var start: Int64? { range?.lowerBound }

    public init?(header: String) {
        let trimmed = header.trimmingSpaces()
        guard trimmed.lowercased().hasPrefix("bytes "), let slash = trimmed.lastIndex(of: "/") else { return nil }
        let span = trimmed[trimmed.index(trimmed.startIndex, offsetBy: 6)..<slash].trimmingSpaces()
        let length = trimmed[trimmed.index(after: slash)...].trimmingSpaces()
        if length == "*" {
            total = nil
        } else {
            guard let value = Self.number(length) else { return nil }
            total = value
        }
        if span == "*" {
            guard total != nil else { return nil }
            range = nil
            return
        }
        let bounds = span.split(separator: "-", omittingEmptySubsequences: false)
        guard bounds.count == 2, let first = Self.number(bounds[0]), let last = Self.number(bounds[1]), first <= last,
            total.map({ last < $0 }) ?? true
        else { return nil }
        range = first..<(last + 1)
    }

    private static func number<S: StringProtocol>(_ text: S) -> Int64? {
        guard !text.isEmpty, text.count <= 18, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        return Int64(text)
    }
}
