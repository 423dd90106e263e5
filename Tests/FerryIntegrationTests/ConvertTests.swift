import FerryTestSupport
import Foundation
import Testing

/// `ferry convert` on files made by independent Python scripts: COBOL-style fixed records, z/OS VB files with RDWs
/// (and BDWs), text with euro signs and national characters, and a file with a character the target lacks.
@Suite("ferry convert")
struct ConvertTests {
    /// Writes, with Python's own codecs and struct packing, the same records as FB 80 (cp037), VB with RDWs and
    /// VB with BDWs (cp1140 via the ebcdic package's cp1141 for German text), and the UTF-8 text they hold.
    static let builder = #"""
        import struct, sys
        import ebcdic
        folder = sys.argv[1]
        # A copybook: 01 PAYROLL. 05 EMP-ID PIC 9(6). 05 NAME PIC X(20). 05 CITY PIC X(15). 05 AMOUNT PIC 9(7)V99.
        rows = [("000042", "MÜLLER, JÖRG", "MÜNCHEN", "000123456"), ("000043", "O'NEIL, MARY", "DUBLIN", "000000099"),
                ("000044", "ÅSTRÖM, ÆBLE", "GÖTEBORG", "001000000")]
        lines = ["%-6s%-20s%-15s%-9s" % r for r in rows]
        with open(folder + "/payroll.txt", "w", encoding="utf-8") as f:
            f.write("".join(l.rstrip() + "\n" for l in lines))
        with open(folder + "/payroll.fb80", "wb") as f:
            for l in lines:
                f.write(l.ljust(80).encode("cp500"))
        text = ["Grüße aus Köln: 5 € pro Stück", "", "zweite Zeile mit ÄÖÜ äöü ß"]
        with open(folder + "/german.txt", "w", encoding="utf-8") as f:
            f.write("".join(t + "\n" for t in text))
        records = [t.encode("cp1141") for t in text]
        with open(folder + "/german.vb", "wb") as f:
            for r in records:
                f.write(struct.pack(">HH", len(r) + 4, 0) + r)
        with open(folder + "/german.vbb", "wb") as f:
            block = b"".join(struct.pack(">HH", len(r) + 4, 0) + r for r in records)
            f.write(struct.pack(">HH", len(block) + 4, 0) + block)
        """#

    static func ferry(_ arguments: [String], in folder: String) async throws -> ExternalTool.Outcome {
        try await ExternalTool.run(try CLITests.ferry, arguments, directory: folder)
    }

    @Test("COBOL fixed records, VB with RDWs and with BDWs, built by Python, convert to the same UTF-8 text and back")
    func records() async throws {
        let python = try ExternalTool.require("python3", installHint: "apt-get install python3")
        try await TemporaryDirectory.with("ferry-convert") { folder in
            try Self.builder.write(toFile: folder.path + "/build.py", atomically: true, encoding: .utf8)
            let built = try await ExternalTool.run(python, [folder.path + "/build.py", folder.path])
            try #require(built.status == 0, "\(built.output) (pip install ebcdic)")
            let f = folder.path

            let payroll = try await Self.ferry(
                ["convert", "payroll.fb80", "--from", "IBM-500", "--to", "UTF-8", "--records", "fb:80"],
                in: f
            )
            #expect(payroll.status == 0, "\(payroll.stderr)")
            #expect(payroll.stdout == (try String(contentsOfFile: f + "/payroll.txt", encoding: .utf8)))
            #expect(payroll.stderr.contains("converted 3 records, 240 bytes"), "\(payroll.stderr)")
            let back = try await Self.ferry(
                [
                    "convert", "payroll.txt", "--from", "UTF-8", "--to", "IBM-500", "--records", "fb:80", "--output",
                    "again.fb80",
                ],
                in: f
            )
            #expect(back.status == 0, "\(back.stderr)")
            #expect(
                try Data(contentsOf: URL(fileURLWithPath: f + "/again.fb80"))
                    == Data(contentsOf: URL(fileURLWithPath: f + "/payroll.fb80"))
            )

            let text = try String(contentsOfFile: f + "/german.txt", encoding: .utf8)
            for (file, records) in [("german.vb", "vb"), ("german.vbb", "vb:bdw")] {
                let decoded = try await Self.ferry(
                    ["convert", file, "--from", "IBM-1141", "--to", "UTF-8", "--records", records],
                    in: f
                )
                #expect(decoded.status == 0 && decoded.stdout == text, "\(file): \(decoded.stderr)")
            }
            let encoded = try await Self.ferry(
                ["convert", "german.txt", "--from", "UTF-8", "--to", "IBM-1141", "--records", "vb", "-o", "out.vb"],
                in: f
            )
            #expect(encoded.status == 0, "\(encoded.stderr)")
            #expect(
                try Data(contentsOf: URL(fileURLWithPath: f + "/out.vb"))
                    == Data(contentsOf: URL(fileURLWithPath: f + "/german.vb"))
            )
        }
    }

    @Test(
        "a character the target lacks: an error with its offset and no output file; substituted and counted when asked"
    )
    func unmappable() async throws {
        try await TemporaryDirectory.with("ferry-convert") { folder in
            let f = folder.path
            try "ok line\nprice 5 €\n".write(toFile: f + "/euro.txt", atomically: true, encoding: .utf8)
            let refused = try await Self.ferry(
                ["convert", "euro.txt", "--from", "UTF-8", "--to", "IBM-037", "-o", "out.ebc"],
                in: f
            )
            #expect(refused.status == 1)
            #expect(
                refused.stderr.contains("byte offset 16 (record 2)") && refused.stderr.contains("U+20AC"),
                "\(refused.stderr)"
            )
            #expect(
                try FileManager.default.contentsOfDirectory(atPath: f) == ["euro.txt"],
                "no output, no temporary file"
            )
            let substituted = try await Self.ferry(
                ["convert", "euro.txt", "--from", "UTF-8", "--to", "IBM-037", "--substitute", "-o", "out.ebc"],
                in: f
            )
            #expect(
                substituted.status == 0 && substituted.stderr.contains("1 characters substituted"),
                "\(substituted.stderr)"
            )
            let bad = try await Self.ferry(["convert", "euro.txt", "--from", "IBM-9999", "--to", "UTF-8"], in: f)
            #expect(bad.status == 1 && bad.stderr.contains("'IBM-9999' is not a known encoding"))
        }
    }

    // Not /dev/null itself: a regression would replace the machine's /dev/null with a file (how this was found).
    @Test("--output that is not a file (a FIFO, like /dev/null) is written to, never replaced; a folder is refused")
    func specialOutputs() async throws {
        try await TemporaryDirectory.with("ferry-convert") { folder in
            let f = folder.path
            try "line one\nline two\n".write(toFile: f + "/in.txt", atomically: true, encoding: .utf8)
            #expect(mkfifo(f + "/pipe", 0o600) == 0)
            let cat = try ExternalTool.require("cat", installHint: "coreutils")
            let reader = try BackgroundProcess("/bin/sh", ["-c", "\(cat) '\(f)/pipe' > '\(f)/read.ebc'"])
            let toPipe = try await Self.ferry(
                ["convert", "in.txt", "--from", "UTF-8", "--to", "IBM-037", "-o", "pipe"],
                in: f
            )
            #expect(toPipe.status == 0, "\(toPipe.stderr)")
            for _ in 0..<250 where reader.isRunning { try await Task.sleep(for: .milliseconds(20)) }
            let expected: [UInt8] = [
                0x93, 0x89, 0x95, 0x85, 0x40, 0x96, 0x95, 0x85, 0x15, 0x93, 0x89, 0x95, 0x85, 0x40, 0xA3, 0xA6, 0x96,
                0x15,
            ]
            #expect(Array(try Data(contentsOf: URL(fileURLWithPath: f + "/read.ebc"))) == expected)
            let kind = try FileManager.default.attributesOfItem(atPath: f + "/pipe")[.type] as? FileAttributeType
            #expect(
                kind != nil && kind != .typeRegular,
                "still a FIFO, not replaced by a file: \(String(describing: kind))"
            )
            let toFolder = try await Self.ferry(
                ["convert", "in.txt", "--from", "UTF-8", "--to", "IBM-037", "-o", f],
                in: f
            )
            #expect(toFolder.status == 1 && toFolder.stderr.contains("is a folder"), "\(toFolder.stderr)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: f).sorted() == ["in.txt", "pipe", "read.ebc"])
        }
    }
}
