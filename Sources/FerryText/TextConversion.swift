/// How text is converted: from one encoding to another, with the record format of the record side (the EBCDIC
/// side, or the side given records), line ends, and what to do with characters the target cannot hold.
public struct TextConversion: Sendable, Equatable, CustomStringConvertible {
    public enum Encoding: Sendable, Equatable, CustomStringConvertible {
        case utf8
        case singleByte(CodePage)

        public static func named(_ text: String) -> Encoding? {
            let key = text.uppercased()
            if key == "UTF-8" || key == "UTF8" { return .utf8 }
            return CodePage.named(text).map(Encoding.singleByte)
        }

        public var description: String {
            switch self {
            case .utf8: "UTF-8"
            case .singleByte(let page): page.name
            }
        }

        var codePage: CodePage? {
            if case .singleByte(let page) = self { return page }
            return nil
        }
    }

    /// How the record side's records are laid out.
    public enum RecordFormat: Sendable, Equatable, CustomStringConvertible {
        /// Lines, each ended by the side's line end.
        case lines
        /// Fixed-length records of `length` bytes (z/OS RECFM=FB, LRECL), padded with the code page's space.
        case fixed(length: Int)
        /// Variable records, each after a 4-byte record descriptor word (RDW: the length with the RDW, big-endian,
        /// then two zero bytes), in blocks after a block descriptor word (BDW) when `blockSize` is set (z/OS VB).
        case variable(blockSize: Int?)

        /// `lines`, `fb:80`, `vb`, `vb:bdw` (blocks of at most 32760 bytes), `vb:bdw:27998`.
        public static func parse(_ text: String) -> RecordFormat? {
            let parts = text.lowercased().split(separator: ":").map(String.init)
            switch parts.first {
            case "lines" where parts.count == 1: return .lines
            case "fb", "f":
                guard parts.count == 2, let length = Int(parts[1]), (1...32_760).contains(length) else { return nil }
                return .fixed(length: length)
            case "vb", "v":
                if parts.count == 1 { return .variable(blockSize: nil) }
                guard parts[1] == "bdw" else { return nil }
                if parts.count == 2 { return .variable(blockSize: 32_760) }
                guard parts.count == 3, let size = Int(parts[2]), (8...32_760).contains(size) else { return nil }
                return .variable(blockSize: size)
            default: return nil
            }
        }

        public var description: String {
            switch self {
            case .lines: "lines"
            case .fixed(let length): "fb:\(length)"
            case .variable(nil): "vb"
            case .variable(let size?): "vb:bdw:\(size)"
            }
        }
    }

    /// The line end of text: LF or CRLF on the ASCII side (reading accepts both); on the EBCDIC side NL (0x15) or
    /// LF (0x25). References disagree on which of the two is the line end (CPython and glibc map 0x25 to U+000A and
    /// 0x15 to U+0085; the PyPI `ebcdic` package's cp1047 swaps them), so Ferry makes it a setting: NL by default,
    /// the line end of z/OS UNIX text files.
    public enum LineEnd: String, Sendable, Equatable, CaseIterable {
        case lf, crlf, nl
        /// 0x25 as the EBCDIC line end.
        case ebcdicLF = "ebcdic-lf"
    }

    public enum Unmappable: Sendable, Equatable {
        /// Stop with an error naming the byte offset and the character.
        case error
        /// Write the target's substitute (EBCDIC SUB 0x3F, `?` in ASCII pages, U+FFFD in UTF-8) and count it.
        case substitute
    }

    /// A record longer than a fixed length (or a variable record's maximum).
    public enum Overlong: String, Sendable, Equatable, CaseIterable {
        case error, split, truncate
    }

    /// A last fixed-length record shorter than the length (converting from fixed records).
    public enum ShortLast: String, Sendable, Equatable, CaseIterable {
        case error, keep
    }

    public var from: Encoding
    public var to: Encoding
    public var records: RecordFormat = .lines
    /// The line end written on the text side (and on the record side with `lines` when it is EBCDIC: `nl` or
    /// `ebcdicLF`).
    public var lineEnd: LineEnd = .lf
    public var ebcdicLineEnd: LineEnd = .nl
    public var unmappable: Unmappable = .error
    public var overlong: Overlong = .error
    public var shortLast: ShortLast = .error

    public init(from: Encoding, to: Encoding) {
        self.from = from
        self.to = to
    }

    /// Which side the record format describes: the EBCDIC one (the source when both are).
    var recordsOnSource: Bool {
        if from.codePage?.isEBCDIC == true { return true }
        if to.codePage?.isEBCDIC == true { return false }
        return true
    }

    /// The settings in one line, for the ledger and the result (an audit can replay the conversion with them).
    public var description: String {
        var parts = ["from \(from)", "to \(to)", "records \(records)"]
        parts.append("line-end \(lineEnd.rawValue)")
        if from.codePage?.isEBCDIC == true || to.codePage?.isEBCDIC == true {
            parts.append("ebcdic-line-end \(ebcdicLineEnd == .ebcdicLF ? "0x25" : "0x15")")
        }
        parts.append("unmappable \(unmappable == .error ? "error" : "substitute")")
        if case .fixed = records {
            parts.append("overlong \(overlong.rawValue)")
            parts.append("short-last \(shortLast.rawValue)")
        }
        if case .variable = records { parts.append("overlong \(overlong.rawValue)") }
        return parts.joined(separator: ", ")
    }
}

/// What a conversion did.
public struct ConversionReport: Sendable, Equatable {
    public var bytesIn: Int64 = 0
    public var bytesOut: Int64 = 0
    public var records: Int64 = 0
    /// Characters replaced by the substitute.
    public var substituted: Int64 = 0
    /// Records split or truncated because they were longer than the record length.
    public var split: Int64 = 0
    public var truncated: Int64 = 0
    /// Trailing blanks removed from fixed records.
    public init() {}
}

/// A conversion that cannot go on: where and why.
public struct ConversionError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }

    /// A file that could not be read or written around a conversion.
    public static func io(_ description: String) -> ConversionError { ConversionError(description) }
}
