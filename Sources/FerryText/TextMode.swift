import Crypto
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// Text mode of a transfer: the conversion from the record side (a code page, usually EBCDIC, with its record
/// format) to the text side (UTF-8 by default), and back. A partner's profile (`partners.NAME.text`) and the
/// client's `--text` options both describe it in the same settings, parsed here once.
extension TextConversion {
    /// The names of the settings a text profile takes besides the code page and the text encoding, as
    /// configuration keys and `--` options (`records`, `line-end`, ...).
    public static let settingNames = ["records", "line-end", "ebcdic-line-end", "unmappable", "overlong", "short-last"]

    /// The text mode between `codePage` (the record side) and `encoding` (the text side), in the to-text direction.
    /// `settings` holds values for `settingNames`; what is missing keeps its default.
    public static func textMode(
        codePage: String,
        encoding: String = "UTF-8",
        settings: [String: String] = [:]
    ) throws(ConversionError) -> TextConversion {
        guard let page = CodePage.named(codePage) else {
            throw ConversionError(
                "codepage: '\(codePage)' is not a known code page: \(CodePage.all.map(\.name).joined(separator: ", "))"
            )
        }
        guard let text = Encoding.named(encoding), text.codePage?.isEBCDIC != true else {
            throw ConversionError(
                "encoding: '\(encoding)' is not a text encoding: UTF-8, ISO-8859-1 or Windows-1252"
            )
        }
        guard Encoding.singleByte(page) != text else {
            throw ConversionError("codepage and encoding are both \(page.name): nothing would be converted")
        }
        var conversion = TextConversion(from: .singleByte(page), to: text)
        for (key, value) in settings.sorted(by: { $0.key < $1.key }) {
            try conversion.apply(key, value)
        }
        return conversion
    }

    /// Sets one of `settingNames` from its text form; the error names the setting and the values it takes.
    public mutating func apply(_ name: String, _ value: String) throws(ConversionError) {
        switch name {
        case "records":
            guard let format = RecordFormat.parse(value) else {
                throw ConversionError(
                    "records: '\(value)' is not lines, fb:LRECL (1-32760), vb, vb:bdw or vb:bdw:BLKSIZE"
                )
            }
            records = format
        case "line-end":
            guard let end = ["lf": LineEnd.lf, "crlf": .crlf][value.lowercased()] else {
                throw ConversionError("line-end: '\(value)' must be lf or crlf")
            }
            lineEnd = end
        case "ebcdic-line-end":
            guard ["15", "25", "0x15", "0x25"].contains(value.lowercased()) else {
                throw ConversionError("ebcdic-line-end: '\(value)' must be 15 (NL) or 25 (LF)")
            }
            ebcdicLineEnd = value.hasSuffix("25") ? .ebcdicLF : .nl
        case "unmappable":
            guard let choice = ["error": Unmappable.error, "substitute": .substitute][value.lowercased()] else {
                throw ConversionError("unmappable: '\(value)' must be error or substitute")
            }
            unmappable = choice
        case "overlong":
            guard let choice = Overlong(rawValue: value.lowercased()) else {
                throw ConversionError("overlong: '\(value)' must be error, split or truncate")
            }
            overlong = choice
        case "short-last":
            guard let choice = ShortLast(rawValue: value.lowercased()) else {
                throw ConversionError("short-last: '\(value)' must be error or keep")
            }
            shortLast = choice
        default:
            throw ConversionError(
                "'\(name)' is not a text setting: \(Self.settingNames.joined(separator: ", "))"
            )
        }
    }

    /// The same conversion the other way (text to records for a to-text mode), with the same settings.
    public var reversed: TextConversion {
        var other = self
        other.from = to
        other.to = from
        return other
    }
}

/// A whole file converted, as transfers do before sending or after receiving: streamed in 1 MiB chunks, written
/// under a temporary name beside the destination and renamed only when the conversion succeeded, with the
/// SHA-256 of both sides.
public struct TextFileConversion: Sendable {
    public var report: ConversionReport
    /// The SHA-256 (hex) of the bytes read and of the bytes written.
    public var sourceSHA256: String
    public var outputSHA256: String
}

extension TextConversion {
    /// Converts the file at `source` into a new file at `destination` (replaced only on success; an error leaves
    /// nothing there and no temporary file). Blocking: run it off the cooperative pool for large files.
    public func convertFile(at source: String, to destination: String) throws(ConversionError) -> TextFileConversion {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw ConversionError.io("cannot read \(source): \(String(cString: strerror(errno)))") }
        defer { close(input) }
        let slash = destination.lastIndex(of: "/")
        let folder = slash.map { String(destination[..<$0]) } ?? "."
        let name = slash.map { String(destination[destination.index(after: $0)...]) } ?? destination
        let temporary =
            "\(folder.isEmpty ? "/" : folder)/.\(name).ferry-text-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let output = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard output >= 0 else {
            throw ConversionError.io("cannot write \(destination): \(String(cString: strerror(errno)))")
        }
        var done = false
        defer {
            close(output)
            if !done { unlink(temporary) }
        }
        var converter = TextConverter(self)
        var sourceHash = SHA256()
        var outputHash = SHA256()
        var chunk = ByteBuffer()
        var out = ByteBuffer()
        func flush() throws(ConversionError) {
            out.withUnsafeReadableBytes { outputHash.update(bufferPointer: $0) }
            try Self.writeAll(out, to: output, name: destination)
            out.clear()
        }
        while true {
            chunk.clear()
            var failure: Int32 = 0
            chunk.writeWithUnsafeMutableBytes(minimumWritableBytes: 1 << 20) { raw in
                while true {
                    let count = read(input, raw.baseAddress!, 1 << 20)
                    if count < 0, errno == EINTR { continue }
                    if count < 0 { failure = errno }
                    return max(count, 0)
                }
            }
            if failure != 0 { throw ConversionError.io("cannot read \(source): \(String(cString: strerror(failure)))") }
            if chunk.readableBytes == 0 { break }
            chunk.withUnsafeReadableBytes { sourceHash.update(bufferPointer: $0) }
            try converter.convert(chunk, into: &out)
            try flush()
        }
        try converter.finish(into: &out)
        try flush()
        guard fsync(output) == 0, rename(temporary, destination) == 0 else {
            throw ConversionError.io("cannot write \(destination): \(String(cString: strerror(errno)))")
        }
        done = true
        return TextFileConversion(
            report: converter.report,
            sourceSHA256: Self.hex(sourceHash.finalize()),
            outputSHA256: Self.hex(outputHash.finalize())
        )
    }

    static func hex(_ digest: SHA256.Digest) -> String {
        digest.map { String($0 >> 4, radix: 16) + String($0 & 0xF, radix: 16) }.joined()
    }

    static func writeAll(_ buffer: ByteBuffer, to fd: Int32, name: String) throws(ConversionError) {
        var failure: Int32 = 0
        buffer.withUnsafeReadableBytes { raw in
            var done = 0
            while done < raw.count {
                let count = write(fd, raw.baseAddress! + done, raw.count - done)
                if count < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                done += count
            }
        }
        if failure != 0 { throw ConversionError.io("cannot write \(name): \(String(cString: strerror(failure)))") }
    }
}

extension ConversionReport: CustomStringConvertible {
    /// What the conversion did beyond converting, for results and the ledger: substitutions, split and truncated
    /// records (empty when none).
    public var notes: String {
        var parts: [String] = []
        if substituted > 0 { parts.append("\(substituted) characters substituted") }
        if split > 0 { parts.append("\(split) long records split") }
        if truncated > 0 { parts.append("\(truncated) long records truncated") }
        return parts.joined(separator: "; ")
    }

    public var description: String {
        "\(records) records, \(bytesIn) bytes to \(bytesOut)" + (notes.isEmpty ? "" : "; " + notes)
    }
}

extension TextConversion {
    /// A text mode's settings in the form `textMode(codePage:encoding:settings:)` reads (`codepage`, `encoding`
    /// and `settingNames`), for a queued transfer to keep and replay. For a to-text mode (from the code page).
    public var settings: [String: String] {
        [
            "codepage": from.description,
            "encoding": to.description,
            "records": records.description,
            "line-end": lineEnd.rawValue,
            "ebcdic-line-end": ebcdicLineEnd == .ebcdicLF ? "25" : "15",
            "unmappable": unmappable == .error ? "error" : "substitute",
            "overlong": overlong.rawValue,
            "short-last": shortLast.rawValue,
        ]
    }

    /// The text mode kept as `settings`.
    public static func textMode(settings: [String: String]) throws(ConversionError) -> TextConversion {
        guard let page = settings["codepage"] else { throw ConversionError("codepage: a text mode needs a code page") }
        return try textMode(
            codePage: page,
            encoding: settings["encoding"] ?? "UTF-8",
            settings: settings.filter { settingNames.contains($0.key) }
        )
    }
}
