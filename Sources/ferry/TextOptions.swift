import ArgumentParser
import FerryText

/// The settings of a text conversion, as `ferry convert`, `send`, `get` and `queue add` take them (the same
/// names as the `partners.NAME.text` keys). Unset ones keep the defaults.
struct TextSettingOptions: ParsableArguments {
    @Option(name: .long, help: "The EBCDIC side's record format: lines (default), fb:LRECL, vb, vb:bdw[:BLKSIZE].")
    var records: String?

    @Option(name: .customLong("line-end"), help: "Line end written on the text side: lf (default) or crlf.")
    var lineEnd: String?

    @Option(
        name: .customLong("ebcdic-line-end"),
        help: "The EBCDIC line end with records lines: 15 (NL, default) or 25 (LF)."
    )
    var ebcdicLineEnd: String?

    @Flag(name: .long, help: "Replace characters the target cannot hold (EBCDIC SUB, ?, U+FFFD) and count them.")
    var substitute = false

    @Option(name: .long, help: "A record longer than the record length: error (default), split or truncate.")
    var overlong: String?

    @Option(name: .customLong("short-last"), help: "A last fixed record shorter than LRECL: error (default) or keep.")
    var shortLast: String?

    /// The settings given, by their names.
    var given: [String: String] {
        var values: [String: String] = [:]
        values["records"] = records
        values["line-end"] = lineEnd
        values["ebcdic-line-end"] = ebcdicLineEnd
        values["overlong"] = overlong
        values["short-last"] = shortLast
        if substitute { values["unmappable"] = "substitute" }
        return values
    }

    /// Applies the settings given to `conversion`; a bad value is a usage error naming its option.
    func apply(to conversion: inout TextConversion) throws {
        for (name, value) in given.sorted(by: { $0.key < $1.key }) {
            do {
                try conversion.apply(name, value)
            } catch {
                throw ValidationError("--\(error.description)")
            }
        }
    }
}

/// `--text` and its code page on a transfer: the file is text here and in the code page on the partner's side.
struct TextModeOptions: ParsableArguments {
    @Flag(
        name: .long,
        help:
            "Text mode: the local file is text (--encoding), the partner's is in --codepage with --records; converted before sending, or after a download is verified."
    )
    var text = false

    @Option(name: .long, help: "With --text: the partner's code page, e.g. IBM-1047, IBM-037, IBM-1141.")
    var codepage: String?

    @Option(name: .long, help: "With --text: the local text's encoding: UTF-8 (default), ISO-8859-1 or Windows-1252.")
    var encoding: String?

    @OptionGroup var settings: TextSettingOptions

    /// The text mode asked for (to-text direction), `nil` without `--text`.
    func conversion() throws -> TextConversion? {
        guard text else {
            if codepage != nil || encoding != nil || !settings.given.isEmpty {
                throw ValidationError(
                    "--codepage, --encoding, --records and the other text settings need --text (text mode)"
                )
            }
            return nil
        }
        guard let codepage else {
            throw ValidationError("--text needs --codepage, the partner's code page (e.g. --codepage IBM-1047)")
        }
        do {
            var conversion = try TextConversion.textMode(codePage: codepage, encoding: encoding ?? "UTF-8")
            try settings.apply(to: &conversion)
            return conversion
        } catch let error as ConversionError {
            throw ValidationError("--\(error.description)")
        }
    }
}
