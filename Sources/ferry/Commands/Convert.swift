import ArgumentParser
import FerryClient
import FerryText
import Foundation
import NIOCore

/// `ferry convert`: the text conversion of transfers, on a local file.
struct Convert: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert text between an EBCDIC (or other single-byte) code page and UTF-8, with record formats.",
        discussion: """
            Streams FILE (or standard input for -) to standard output or --output. The record format describes \
            the EBCDIC side: lines (ended by NL 0x15, or 0x25 with --ebcdic-line-end 25), fb:LRECL (fixed \
            records padded with blanks; trailing blanks are removed on the way to text), vb (4-byte RDWs), \
            vb:bdw or vb:bdw:BLKSIZE (RDWs in blocks with BDWs). The text side reads LF and CRLF and writes \
            --line-end.

            Code pages: IBM-037, 273, 277, 278, 280, 284, 285, 297, 500, 871, 1047, 1140 to 1149, ISO-8859-1, \
            Windows-1252 (any of IBM-1047, IBM1047, CP1047, 1047). A byte or character the target cannot hold \
            stops the conversion with its offset, unless --substitute (then counted in the report). \
            The report (records, bytes, substitutions, split or truncated records) goes to standard error.

            Examples:
              ferry convert payroll.ebc --from IBM-037 --to UTF-8 --records fb:80
              ferry convert rates.csv --from UTF-8 --to IBM-1141 --records vb --output rates.vb
            """
    )

    @Argument(help: "The file to convert, or - for standard input.")
    var file: String

    @Option(name: .long, help: "The file's encoding.")
    var from: String

    @Option(name: .long, help: "The encoding to write.")
    var to: String

    @OptionGroup var settings: TextSettingOptions

    @Option(name: [.short, .long], help: "Write here (a new file, replaced only when the conversion succeeded).")
    var output: String?

    func conversion() throws -> TextConversion {
        guard let source = TextConversion.Encoding.named(from) else {
            throw ValidationError("--from: '\(from)' is not a known encoding: \(Self.known)")
        }
        guard let target = TextConversion.Encoding.named(to) else {
            throw ValidationError("--to: '\(to)' is not a known encoding: \(Self.known)")
        }
        var conversion = TextConversion(from: source, to: target)
        try settings.apply(to: &conversion)
        return conversion
    }

    static var known: String { "UTF-8, " + CodePage.all.map(\.name).joined(separator: ", ") }

    func run() async throws {
        let conversion = try conversion()
        let input: FileHandle
        if file == "-" {
            input = .standardInput
        } else {
            guard let handle = FileHandle(forReadingAtPath: file) else {
                Failure.printError(
                    "cannot read \(file): \(FileManager.default.fileExists(atPath: file) ? "not readable" : "no such file")"
                )
                throw ExitCode(FerryExitCode.localIO.rawValue)
            }
            input = handle
        }
        // A file: written under a temporary name beside it and renamed when done, so that a failed conversion
        // leaves no partial file. Not a file (/dev/null, a FIFO, a terminal): written to as it is, never replaced.
        var status = stat()
        let existing = output.map { stat($0, &status) == 0 } ?? false
        if existing, (status.st_mode & S_IFMT) == S_IFDIR {
            Failure.printError("\(output!) is a folder: name the file to write, e.g. \(output!)/converted.txt")
            throw ExitCode(FerryExitCode.usage.rawValue)
        }
        let direct = existing && (status.st_mode & S_IFMT) != S_IFREG
        let temporary =
            direct
            ? nil
            : output.map {
                (($0 as NSString).deletingLastPathComponent.isEmpty ? "." : ($0 as NSString).deletingLastPathComponent)
                    + "/.\(($0 as NSString).lastPathComponent).ferry-convert-\(getpid())"
            }
        let sink: FileHandle
        if let temporary {
            guard FileManager.default.createFile(atPath: temporary, contents: nil),
                let handle = FileHandle(forWritingAtPath: temporary)
            else {
                Failure.printError("cannot write \(output!): check the folder exists and is writable")
                throw ExitCode(FerryExitCode.localIO.rawValue)
            }
            sink = handle
        } else if let output {
            guard let handle = FileHandle(forWritingAtPath: output) else {
                Failure.printError("cannot write to \(output): \(String(cString: strerror(errno)))")
                throw ExitCode(FerryExitCode.localIO.rawValue)
            }
            sink = handle
        } else {
            sink = .standardOutput
        }
        var converter = TextConverter(conversion)
        var out = ByteBuffer()
        do {
            while let chunk = try input.read(upToCount: 1 << 20), !chunk.isEmpty {
                out.clear()
                try converter.convert(ByteBuffer(bytes: chunk), into: &out)
                try sink.write(contentsOf: out.readableBytesView)
            }
            out.clear()
            try converter.finish(into: &out)
            try sink.write(contentsOf: out.readableBytesView)
            if let temporary, let output {
                try sink.synchronize()
                try sink.close()
                guard rename(temporary, output) == 0 else {
                    throw ConversionError.io(
                        "cannot rename the converted file to \(output): \(String(cString: strerror(errno)))"
                    )
                }
            }
        } catch {
            if let temporary { try? FileManager.default.removeItem(atPath: temporary) }
            Failure.printError(String(describing: error))
            // Settings that do not fit the data are a usage error; reading or writing files, local I/O.
            throw ExitCode(error is ConversionError ? FerryExitCode.usage.rawValue : FerryExitCode.localIO.rawValue)
        }
        let report = converter.report
        FileHandle.standardError.write(
            Data(
                "converted \(report.records) records, \(report.bytesIn) bytes to \(report.bytesOut) (\(conversion))\(report.substituted > 0 ? "; \(report.substituted) characters substituted" : "")\(report.split > 0 ? "; \(report.split) long records split" : "")\(report.truncated > 0 ? "; \(report.truncated) long records truncated" : "")\n"
                    .utf8
            )
        )
    }
}
