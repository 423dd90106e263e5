import FerryText
import NIOCore
import Testing

/// The conversion engine without any peer: tables, records, line ends, unmappable characters, and chunk
/// boundaries anywhere.
@Suite("Text conversion")
struct TextConverterTests {
    static func page(_ name: String) throws -> CodePage { try #require(CodePage.named(name)) }

    /// Converts `input` in chunks of `chunk` bytes (every record boundary and multi-byte character gets cut somewhere).
    static func convert(
        _ input: [UInt8],
        _ conversion: TextConversion,
        chunk: Int = 1 << 20
    ) throws -> ([UInt8], ConversionReport) {
        var converter = TextConverter(conversion)
        var output = ByteBuffer()
        var start = 0
        while start < input.count {
            let end = min(input.count, start + chunk)
            try converter.convert(ByteBuffer(bytes: input[start..<end]), into: &output)
            start = end
        }
        try converter.finish(into: &output)
        return (Array(output.readableBytesView), converter.report)
    }

    static func conversion(_ from: String, _ to: String, records: String = "lines") throws -> TextConversion {
        var conversion = TextConversion(
            from: try #require(TextConversion.Encoding.named(from)),
            to: try #require(TextConversion.Encoding.named(to))
        )
        conversion.records = try #require(TextConversion.RecordFormat.parse(records))
        return conversion
    }

    @Test("every EBCDIC table is a bijection of the 256 bytes, and names resolve in their usual spellings")
    func tables() throws {
        let ebcdic = CodePage.all.filter(\.isEBCDIC)
        #expect(ebcdic.count == 21)
        for page in ebcdic {
            #expect(page.isBijective, "\(page.name)")
            #expect(page.space == 0x40 && page.byte(for: "A") == 0xC1 && page.byte(for: "0") == 0xF0, "\(page.name)")
        }
        #expect(try Self.page("ISO-8859-1").isBijective)
        #expect(try !Self.page("Windows-1252").isBijective, "Windows-1252 leaves five bytes undefined")
        for spelling in ["IBM-1047", "ibm1047", "CP1047", "1047", "CCSID1047"] {
            #expect(CodePage.named(spelling)?.name == "IBM-1047", "\(spelling)")
        }
        #expect(CodePage.named("IBM37")?.name == "IBM-037" && CodePage.named("cp037")?.name == "IBM-037")
        #expect(CodePage.named("IBM-9999") == nil && CodePage.named("latin1")?.name == "ISO-8859-1")
        // Each euro variant differs from its base page only where the euro sign replaced the currency sign.
        let pairs = [
            ("037", "1140", 0x9F), ("273", "1141", 0x9F), ("277", "1142", 0x5A), ("278", "1143", 0x5A),
            ("280", "1144", 0x9F), ("284", "1145", 0x9F), ("285", "1146", 0x9F), ("297", "1147", 0x9F),
            ("500", "1148", 0x9F), ("871", "1149", 0x9F),
        ]
        for (base, euro, position) in pairs {
            let a = try Self.page(base)
            let b = try Self.page(euro)
            let differing = (0...255).filter { a.scalar(for: UInt8($0)) != b.scalar(for: UInt8($0)) }
            #expect(differing == [position] && b.scalar(for: UInt8(position)) == "€", "\(base)/\(euro): \(differing)")
        }
        for euro in 1140...1149 {
            #expect(try Self.page(String(euro)).byte(for: "€") != nil, "IBM-\(euro) has the euro sign")
        }
    }

    @Test("EBCDIC lines to UTF-8 and back, with NL (default) or 0x25 as the line end, cut at every chunk size")
    func lines() throws {
        let text = "Grüße, Ærø; Preis 5 €\nsecond line\n"
        var conversion = try Self.conversion("UTF-8", "IBM-1141")
        for chunk in [1, 2, 3, 7, 1 << 20] {
            let (ebcdic, report) = try Self.convert(Array(text.utf8), conversion, chunk: chunk)
            #expect(report.records == 2)
            #expect(ebcdic.filter { $0 == 0x15 }.count == 2 && !ebcdic.contains(0x25), "NL ends each line")
            #expect(ebcdic.contains(0x9F), "the euro sign of IBM-1141")
            var back = try Self.conversion("IBM-1141", "UTF-8")
            back.lineEnd = .lf
            #expect(String(decoding: try Self.convert(ebcdic, back, chunk: chunk).0, as: UTF8.self) == text)
        }
        conversion.ebcdicLineEnd = .ebcdicLF
        let (lf, _) = try Self.convert(Array(text.utf8), conversion)
        #expect(lf.filter { $0 == 0x25 }.count == 2 && !lf.contains(0x15))
        // CRLF in, CRLF out.
        var crlf = try Self.conversion("IBM-037", "UTF-8")
        crlf.lineEnd = .crlf
        let (windows, _) = try Self.convert([0xC1, 0x15, 0xC2, 0x15], crlf)
        #expect(windows == Array("A\r\nB\r\n".utf8))
        let (fromCRLF, _) = try Self.convert(Array("A\r\nB\r\n".utf8), try Self.conversion("UTF-8", "IBM-037"))
        #expect(fromCRLF == [0xC1, 0x15, 0xC2, 0x15])
    }

    @Test(
        "fixed records: padded with EBCDIC blanks, stripped on the way back; long ones error, split or truncate; a short last one"
    )
    func fixed() throws {
        let text = "00042SMITH     JOHN\n00043O'NEIL MARYANN\n"
        let toFB = try Self.conversion("UTF-8", "IBM-037", records: "fb:20")
        let (records, report) = try Self.convert(Array(text.utf8), toFB, chunk: 5)
        #expect(records.count == 40 && report.records == 2)
        #expect(records[19] == 0x40 && records[39] == 0x40, "padded with the code page's space")
        let (back, _) = try Self.convert(records, try Self.conversion("IBM-037", "UTF-8", records: "fb:20"), chunk: 3)
        #expect(String(decoding: back, as: UTF8.self) == text)

        let long = Array("a record of twenty-five\n".utf8)
        #expect(throws: ConversionError.self) { try Self.convert(long, toFB) }
        do {
            _ = try Self.convert(long, toFB)
        } catch {
            #expect("\(error)".contains("record 1 has 23 bytes, longer than the record length 20"))
        }
        var split = toFB
        split.overlong = .split
        let (pieces, splitReport) = try Self.convert(long, split)
        #expect(pieces.count == 40 && splitReport.split == 1)
        var truncate = toFB
        truncate.overlong = .truncate
        let (cut, cutReport) = try Self.convert(long, truncate)
        #expect(cut.count == 20 && cutReport.truncated == 1)

        var fromFB = try Self.conversion("IBM-037", "UTF-8", records: "fb:4")
        #expect(throws: ConversionError.self) { try Self.convert([0xC1, 0xC2, 0xC3, 0xC4, 0xC5], fromFB) }
        fromFB.shortLast = .keep
        #expect(
            String(decoding: try Self.convert([0xC1, 0xC2, 0xC3, 0xC4, 0xC5], fromFB).0, as: UTF8.self) == "ABCD\nE\n"
        )
    }

    @Test("variable records: RDWs, with and without blocks, cut at every chunk size; a bad RDW names its offset")
    func variable() throws {
        let text = "first\n\nthe third, longer record\n"
        for format in ["vb", "vb:bdw:40"] {
            let (records, _) = try Self.convert(
                Array(text.utf8),
                try Self.conversion("UTF-8", "IBM-500", records: format)
            )
            if format == "vb" {
                #expect(Array(records.prefix(4)) == [0, 9, 0, 0], "RDW: 4 + 5 bytes, then two zero bytes")
                #expect(Array(records[9..<13]) == [0, 4, 0, 0], "an empty record is an RDW alone")
            } else {
                #expect(
                    records[2...3] == [0, 0] && Int(records[0]) << 8 | Int(records[1]) <= 40,
                    "a BDW, blocks within 40 bytes"
                )
            }
            for chunk in [1, 2, 5, 1 << 20] {
                let (back, report) = try Self.convert(
                    records,
                    try Self.conversion("IBM-500", "UTF-8", records: format),
                    chunk: chunk
                )
                #expect(String(decoding: back, as: UTF8.self) == text && report.records == 3, "\(format) \(chunk)")
            }
        }
        do {
            _ = try Self.convert(
                [0, 9, 0, 0, 0xC1, 0xC2, 0xC3, 0xC4, 0xC5, 0x00, 0x02, 0x00, 0x00],
                try Self.conversion("IBM-500", "UTF-8", records: "vb")
            )
            Issue.record("an RDW shorter than 4 was accepted")
        } catch {
            #expect("\(error)".contains("record 2 at byte offset 9"), "\(error)")
        }
        #expect(throws: ConversionError.self, "a file cut inside a record") {
            try Self.convert([0, 9, 0, 0, 0xC1], try Self.conversion("IBM-500", "UTF-8", records: "vb"))
        }
    }

    @Test("unmappable characters: an error with the offset and the character, or substituted and counted")
    func unmappable() throws {
        let text = Array("price: 5 €\n".utf8)
        let strict = try Self.conversion("UTF-8", "IBM-037")
        do {
            _ = try Self.convert(text, strict)
            Issue.record("the euro sign passed into IBM-037")
        } catch {
            #expect("\(error)".contains("byte offset 9") && "\(error)".contains("U+20AC"), "\(error)")
            #expect("\(error)".contains("IBM-1140"), "names a code page that has it: \(error)")
        }
        var lenient = strict
        lenient.unmappable = .substitute
        let (substituted, report) = try Self.convert(text, lenient)
        #expect(report.substituted == 1 && substituted.contains(0x3F))
        // An undefined byte in the source.
        do {
            _ = try Self.convert([0x41, 0x81, 0x0A], try Self.conversion("Windows-1252", "UTF-8"))
            Issue.record("an undefined byte passed")
        } catch {
            #expect("\(error)".contains("byte 0x81 is not defined in WINDOWS-1252"), "\(error)")
        }
        do {
            _ = try Self.convert([0x41, 0xC3, 0x28, 0x0A], try Self.conversion("UTF-8", "IBM-1047"))
            Issue.record("invalid UTF-8 passed")
        } catch {
            #expect("\(error)".contains("byte offset 1") && "\(error)".contains("not valid UTF-8"), "\(error)")
        }
    }

    /// What converting `lines` should give, one character at a time, written independently of the converter: the
    /// source's line end (a CR before an LF one dropped) becomes the target's, each character goes through the code
    /// pages' tables, and one the target lacks becomes its substitute.
    static func reference(
        _ input: [UInt8],
        _ conversion: TextConversion
    ) -> (bytes: [UInt8], substituted: Int) {
        func page(_ encoding: TextConversion.Encoding) -> CodePage? {
            if case .singleByte(let page) = encoding { return page }
            return nil
        }
        let source = page(conversion.from)
        let target = page(conversion.to)
        let terminator: UInt8 =
            source?.isEBCDIC == true ? (conversion.ebcdicLineEnd == .ebcdicLF ? 0x25 : 0x15) : 0x0A
        let lineEnd: [UInt8] =
            target?.isEBCDIC == true
            ? [conversion.ebcdicLineEnd == .ebcdicLF ? 0x25 : 0x15]
            : conversion.lineEnd == .crlf ? [0x0D, 0x0A] : [0x0A]
        var lines = input.split(separator: terminator, omittingEmptySubsequences: false).map(Array.init)
        // The last piece is a line without an end, or nothing after the last line end.
        let unended = lines.removeLast()
        var output: [UInt8] = []
        var substituted = 0
        for (index, var line) in (lines + [unended]).enumerated() where index < lines.count || !unended.isEmpty {
            // A CR before an LF line end belongs to the line end; a CR alone is a character.
            if terminator == 0x0A, index < lines.count, line.last == 0x0D { line.removeLast() }
            let scalars: [Unicode.Scalar] =
                if let source { line.map { source.scalar(for: $0)! } } else {
                    Array(String(decoding: line, as: UTF8.self).unicodeScalars)
                }
            for scalar in scalars {
                if let target {
                    if let byte = target.byte(for: scalar) {
                        output.append(byte)
                    } else {
                        substituted += 1
                        output.append(0x3F)  // SUB in EBCDIC, ? in the others
                    }
                } else {
                    output += Array(String(Character(scalar)).utf8)
                }
            }
            output += lineEnd
        }
        return (output, substituted)
    }

    @Test(
        "random lines with CRs, national and missing characters: the same bytes and substitutions as a per-character reference, at any chunk size"
    )
    func linesAgainstReference() throws {
        var generator = SystemRandomNumberGenerator()
        // Characters that every path must meet: plain, CR alone and before LF, national, the euro (missing from
        // IBM-037 and ISO-8859-1), a CJK character (missing everywhere), and the line ends themselves.
        let pieces = ["a", "Z", "0", " ", "\r", "é", "ü", "Æ", "€", "中", "\n", "\r\n", "\n"]
        let cases: [(String, String, TextConversion.LineEnd, TextConversion.LineEnd)] = [
            ("UTF-8", "IBM-037", .lf, .nl), ("UTF-8", "IBM-1140", .lf, .ebcdicLF), ("UTF-8", "ISO-8859-1", .crlf, .nl),
            ("IBM-1140", "UTF-8", .crlf, .nl), ("IBM-1140", "ISO-8859-1", .lf, .ebcdicLF),
            ("IBM-273", "IBM-1047", .lf, .nl), ("Windows-1252", "IBM-037", .lf, .nl),
        ]
        for (from, to, lineEnd, ebcdicLineEnd) in cases {
            var conversion = try Self.conversion(from, to)
            conversion.unmappable = .substitute
            conversion.lineEnd = lineEnd
            conversion.ebcdicLineEnd = ebcdicLineEnd
            for _ in 0..<20 {
                let text = (0..<Int.random(in: 0..<300, using: &generator)).map { _ in
                    pieces.randomElement(using: &generator)!
                }.joined()
                // The source's own bytes: UTF-8, or the text through the source page (substituted where it lacks a
                // character, so every input is valid).
                var sourceConversion = try Self.conversion("UTF-8", from == "UTF-8" ? "ISO-8859-1" : from)
                sourceConversion.unmappable = .substitute
                sourceConversion.ebcdicLineEnd = ebcdicLineEnd
                let input = from == "UTF-8" ? Array(text.utf8) : try Self.convert(Array(text.utf8), sourceConversion).0
                let expected = Self.reference(input, conversion)
                for chunk in [1, 2, 3, 5, 17, 64, 4096] {
                    let (bytes, report) = try Self.convert(input, conversion, chunk: chunk)
                    let common = min(bytes.count, expected.bytes.count)
                    let differs = (0..<common).first { bytes[$0] != expected.bytes[$0] } ?? common
                    let same = bytes == expected.bytes
                    #expect(
                        same,
                        "\(from) to \(to), chunks of \(chunk): differs at byte \(differs) of \(text.debugDescription)"
                    )
                    #expect(report.substituted == Int64(expected.substituted), "\(from) to \(to), chunks of \(chunk)")
                }
            }
        }
    }

    @Test("a line without an end longer than the limit is refused instead of held in memory")
    func boundedLines() throws {
        let long = [UInt8](repeating: 0xC1, count: TextConverter.maximumLine + 10)
        #expect(throws: ConversionError.self) {
            try Self.convert(long, try Self.conversion("IBM-037", "UTF-8"), chunk: 1 << 16)
        }
    }
}
