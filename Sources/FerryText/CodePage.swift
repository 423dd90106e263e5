/// A single-byte code page: each byte's Unicode scalar, and the way back. The tables are data generated from glibc
/// iconv (`scripts/gen-codepages`, `CodePageTables.swift`) and checked against Python's codecs, the PyPI `ebcdic`
/// package and iconv in the tests.
public struct CodePage: Sendable, Equatable, CustomStringConvertible {
    public let name: String
    public let summary: String
    /// Byte to scalar; `undefined` where the code page has no character for the byte.
    let toUnicode: [UInt16]
    /// Scalar (BMP) to byte, or `undefined`.
    let fromUnicode: [UInt16]

    static let undefined: UInt16 = 0xFFFF

    init(name: String, summary: String, table: [UInt16]) {
        precondition(table.count == 256)
        self.name = name
        self.summary = summary
        self.toUnicode = table
        var reverse = [UInt16](repeating: Self.undefined, count: 65_536)
        // The first byte wins where two bytes map to one scalar (no table here has such a pair: see isBijective).
        for (byte, scalar) in table.enumerated().reversed() where scalar != Self.undefined {
            reverse[Int(scalar)] = UInt16(byte)
        }
        self.fromUnicode = reverse
    }

    public var description: String { name }

    public static func == (lhs: CodePage, rhs: CodePage) -> Bool { lhs.name == rhs.name }

    /// Whether the code page is EBCDIC (records and the NL line end apply to it).
    public var isEBCDIC: Bool { name.hasPrefix("IBM-") }

    /// The byte of the space character (0x40 in EBCDIC, 0x20 in ASCII-based pages).
    public var space: UInt8 { UInt8(fromUnicode[0x20]) }

    /// The scalar of a byte, or nil where the code page defines none.
    public func scalar(for byte: UInt8) -> Unicode.Scalar? {
        let value = toUnicode[Int(byte)]
        return value == Self.undefined ? nil : Unicode.Scalar(UInt32(value))
    }

    /// The byte of a scalar, or nil where the code page has none.
    public func byte(for scalar: Unicode.Scalar) -> UInt8? {
        guard scalar.value < 0xFFFF else { return nil }
        let value = fromUnicode[Int(scalar.value)]
        return value == Self.undefined ? nil : UInt8(value)
    }

    /// Every byte has a character and no two bytes share one: converting to Unicode and back gives every byte.
    public var isBijective: Bool {
        !toUnicode.contains(Self.undefined) && Set(toUnicode).count == 256
    }

    /// Ferry's code pages.
    public static let all: [CodePage] = generated.map {
        CodePage(name: $0.name, summary: $0.description, table: $0.table)
    }

    /// A code page by name: `IBM-1047`, `IBM1047`, `CP1047`, `1047`, `ibm-037`, `IBM37`, `ISO-8859-1`, `latin1`,
    /// `Windows-1252`, `cp1252`.
    public static func named(_ text: String) -> CodePage? {
        let key = String(text.uppercased().map { $0 == "_" ? "-" : $0 })
        switch key {
        case "ISO-8859-1", "ISO8859-1", "LATIN1", "LATIN-1", "L1": return all.first { $0.name == "ISO-8859-1" }
        case "WINDOWS-1252", "CP1252", "WIN1252": return all.first { $0.name == "WINDOWS-1252" }
        default: break
        }
        var digits = Substring(key)
        for prefix in ["IBM-", "IBM", "CP-", "CP", "CCSID-", "CCSID"] where digits.hasPrefix(prefix) {
            digits = digits.dropFirst(prefix.count)
            break
        }
        guard let number = Int(digits), digits.allSatisfy({ $0.isNumber }) else { return nil }
        let written = String(number)
        let canonical = "IBM-" + String(repeating: "0", count: max(0, 3 - written.count)) + written
        return all.first { $0.name == canonical }
    }
}
