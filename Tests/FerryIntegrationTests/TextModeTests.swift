import FerryClient
import FerryConfig
import FerryLedger
import FerryProtocol
import FerryTestSupport
import FerryText
import Foundation
import Testing

/// Text mode in transfers, against files an independent Python script made with its own codecs: a partner's
/// `partners.NAME.text` profile on the server (curl PUT and GET, ranges, Ferry's batch and tus), and the client's
/// `ferry send --text` / `ferry get --text`, resumption included.
@Suite("Text mode transfers")
struct TextModeTests {
    /// Writes COBOL-style FB 80 records in cp037 and cp1140 (with euro signs) and the UTF-8 text they hold, and a
    /// large text for resumption with its cp1140 FB 80 form.
    static let builder = #"""
        import sys
        folder = sys.argv[1]
        rows = [("000042", "MÜLLER, JÖRG", "MÜNCHEN", "000123456"), ("000043", "O'NEIL, MARY", "DUBLIN", "000000099"),
                ("000044", "ÅSTRÖM, ÆBLE", "GÖTEBORG", "001000000")]
        lines = ["%-6s%-20s%-15s%-9s" % r for r in rows]
        def write(name, lines, codec):
            with open(folder + "/" + name + ".txt", "w", encoding="utf-8") as f:
                f.write("".join(l.rstrip() + "\n" for l in lines))
            with open(folder + "/" + name + ".fb80", "wb") as f:
                for l in lines:
                    f.write(l.ljust(80).encode(codec))
        write("payroll", lines, "cp037")
        write("euro", ["RATE EUR 1.00 € = 1.08 USD", "FEE 2,50 € PER FILE", "GRÜßE"], "cp1140")
        big = ["%08d %s" % (i, "BETRAG %d,%02d € AN MÜLLER & SÖHNE" % (i % 9999, i % 100)) for i in range(int(sys.argv[2]))]
        write("big", big, "cp1140")
        """#

    static func build(_ folder: String, bigLines: Int = 10) async throws {
        let python = try ExternalTool.require("python3", installHint: "apt-get install python3")
        try builder.write(toFile: folder + "/build.py", atomically: true, encoding: .utf8)
        let built = try await ExternalTool.run(python, [folder + "/build.py", folder, String(bigLines)])
        try #require(built.status == 0, "\(built.output)")
    }

    static func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    @Test(
        "a partner's text profile: EBCDIC records PUT with curl, sent in a batch and with tus are stored as UTF-8; fetched back as the same EBCDIC bytes, ranges included; other names stay bytes; bad records and unmappable text are refused with nothing stored"
    )
    func partnerProfile() async throws {
        let curl = try ExternalTool.require("curl", installHint: "apt-get install curl")
        try await TestServerHarness.with(configure: { configuration, _ in
            var partner = FerryConfiguration.Partner(name: "acme")
            var conversion = try! TextConversion.textMode(codePage: "IBM-037")
            conversion.records = .fixed(length: 80)
            partner.text = .init(conversion: conversion, match: ["*.DAT", "*.dat"])
            partner.subject = "CN=acme,O=Ferry"
            configuration.partners["acme"] = partner
        }) { server in
            let f = server.folder.path
            try await Self.build(f)
            let text = try Self.bytes(f + "/payroll.txt")
            let records = try Self.bytes(f + "/payroll.fb80")
            let identity = server.curlIdentity("acme")
            func run(_ arguments: [String]) async throws -> ExternalTool.Outcome {
                try await ExternalTool.run(curl, identity + arguments)
            }

            // curl PUT: stored as UTF-8 text.
            let put = try await run([
                "-w", "%{http_code}", "-o", "/dev/null", "-T", f + "/payroll.fb80", server.url("in/PAY.DAT"),
            ])
            #expect(put.stdout == "201", "\(put.output)")
            #expect(try Self.bytes(server.root + "/acme/in/PAY.DAT") == text)
            let rows = try await server.ledger.transfers(LedgerQuery(operation: .put, pathPrefix: "acme/in/PAY.DAT"))
            let row = try #require(rows.entries.first)
            #expect(row.sha256 == TestHashes.sha256Hex(Array(records)) && row.bytes == Int64(records.count))
            #expect(row.fileSHA256 == TestHashes.sha256Hex(Array(text)))
            #expect(row.conversion?.hasPrefix("from IBM-037, to UTF-8, records fb:80") == true, "\(row)")

            // Ferry's batch (a small file into a folder) and a tus upload: the same.
            var client = try server.client("acme")
            try FileManager.default.copyItem(atPath: f + "/payroll.fb80", toPath: f + "/batch.dat")
            _ = try await client.send(files: [f + "/batch.dat"], to: try server.target("in/"))
            #expect(try Self.bytes(server.root + "/acme/in/batch.dat") == text)
            client.uploadMode = .resumable
            _ = try await client.send(files: [f + "/payroll.fb80"], to: try server.target("in/tus.dat"))
            #expect(try Self.bytes(server.root + "/acme/in/tus.dat") == text)
            let tus = try await server.ledger.transfers(LedgerQuery(operation: .tus, pathPrefix: "acme/in/tus.dat"))
            #expect(tus.entries.first?.fileSHA256 == TestHashes.sha256Hex(Array(text)))

            // GET: the stored text converted back, byte for byte, with the converted digest; a range is a record.
            let download = f + "/back.fb80"
            let got = try await run(["-D", "-", "-o", download, server.url("in/PAY.DAT")])
            #expect(try Self.bytes(download) == records)
            let expected = Data(TestHashes.sha256(Array(records))).base64EncodedString()
            #expect(
                got.stdout.lowercased().contains("repr-digest: sha-256=:\(expected.lowercased()):"),
                "\(got.stdout)"
            )
            #expect(got.stdout.contains("-text-"), "the validator names the converted form: \(got.stdout)")
            let second = try await run(["-r", "80-159", "-o", f + "/second", server.url("in/PAY.DAT")])
            #expect(second.status == 0)
            #expect(try Self.bytes(f + "/second") == records[80..<160])
            let head = try await run(["-I", server.url("in/PAY.DAT")])
            #expect(head.stdout.lowercased().contains("content-length: \(records.count)"), "\(head.stdout)")
            // And the Ferry client's download checks the digest of what came.
            var getter = try server.client("acme")
            getter.retry = RetryPolicy(retries: 0, baseWait: 0)
            let fetched = try await getter.get(try server.target("in/PAY.DAT"), to: f + "/ferry.fb80")
            #expect(
                try Self.bytes(f + "/ferry.fb80") == records && fetched.sha256 == TestHashes.sha256Hex(Array(records))
            )

            // A name the profile does not match is bytes.
            _ = try await run(["-T", f + "/payroll.fb80", server.url("in/raw.bin")])
            #expect(try Self.bytes(server.root + "/acme/in/raw.bin") == records)

            // 81 bytes are not FB 80 records: 422, nothing stored, nothing left in the temporary folder.
            try (records + Data([0x40])).write(to: URL(fileURLWithPath: f + "/short.fb80"))
            let short = try await run(["-w", "\n%{http_code}", "-T", f + "/short.fb80", server.url("in/SHORT.DAT")])
            #expect(short.stdout.hasSuffix("\n422"), "\(short.output)")
            let problem = try JSONDecoder().decode(
                Problem.self,
                from: Data(short.stdout.split(separator: "\n").dropLast().joined(separator: "\n").utf8)
            )
            #expect(problem.slug == "conversion-failed" && problem.detail?.contains("record") == true, "\(problem)")
            #expect(!FileManager.default.fileExists(atPath: server.root + "/acme/in/SHORT.DAT"))
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: server.root + "/.ferry/tmp")) ?? []).isEmpty)
            let failed = try await server.ledger.transfers(LedgerQuery(result: .failed, pathPrefix: "acme/in/SHORT"))
            #expect(failed.entries.first?.error?.contains("conversion-failed") == true, "\(failed.entries)")

            // Stored text IBM-037 cannot hold (the euro sign): the fetch is refused, naming the character.
            try "PRICE 5 €\n".write(toFile: server.root + "/acme/in/EURO.DAT", atomically: true, encoding: .utf8)
            let euro = try await run(["-w", "\n%{http_code}", server.url("in/EURO.DAT")])
            #expect(euro.stdout.hasSuffix("\n422") && euro.stdout.contains("U+20AC"), "\(euro.output)")
        }
    }

    @Test(
        "ferry send --text converts before sending and ferry get --text after the digest matched: the server holds Python's cp1140 records; a file the settings cannot convert fails with nothing sent or written"
    )
    func clientTextMode() async throws {
        let ferry = try CLITests.ferry
        try await TestServerHarness.with { server in
            let f = server.folder.path
            try await Self.build(f)
            let identity = [
                "--cert", server.pki.certificate("acme"), "--key", server.pki.key("acme"), "--ca", server.pki.caFile,
                "--no-ledger",
            ]
            let text = ["--text", "--codepage", "IBM-1140", "--records", "fb:80"]
            let base = "https://localhost:\(server.port)/in/"
            let sent = try await ExternalTool.run(ferry, ["send", f + "/euro.txt", base, "--json"] + text + identity)
            #expect(sent.status == 0, "\(sent.output)")
            #expect(try Self.bytes(server.root + "/acme/in/euro.txt") == (try Self.bytes(f + "/euro.fb80")))
            let result = try JSONDecoder().decode(TransferResult.self, from: Data(sent.stdout.utf8))
            let euroDigest = try TestFiles.sha256(f + "/euro.txt")
            #expect(result.local == f + "/euro.txt" && result.fileSHA256 == euroDigest)
            #expect(result.sha256 == (try TestFiles.sha256(f + "/euro.fb80")))
            #expect(result.conversion?.contains("from UTF-8, to IBM-1140, records fb:80") == true, "\(sent.stdout)")

            let got = try await ExternalTool.run(
                ferry,
                ["get", base + "euro.txt", f + "/back.txt"] + text + identity,
                directory: f
            )
            #expect(got.status == 0, "\(got.output)")
            #expect(got.stdout.contains("text mode: from IBM-1140, to UTF-8"), "\(got.stdout)")
            #expect(try Self.bytes(f + "/back.txt") == (try Self.bytes(f + "/euro.txt")))
            #expect(!FileManager.default.fileExists(atPath: f + "/back.txt.part"))

            // IBM-037 has no euro sign: nothing is sent.
            let refused = try await ExternalTool.run(
                ferry,
                ["send", f + "/euro.txt", base + "e037.txt", "--text", "--codepage", "IBM-037"] + identity
            )
            #expect(refused.status == 1 && refused.stderr.contains("U+20AC"), "\(refused.output)")
            #expect(!FileManager.default.fileExists(atPath: server.root + "/acme/in/e037.txt"))

            // 81 bytes are not FB 80: the download is verified, then not converted; the bytes are kept aside.
            try (try Self.bytes(f + "/euro.fb80") + Data([0x40])).write(
                to: URL(fileURLWithPath: server.root + "/acme/in/odd")
            )
            let odd = try await ExternalTool.run(ferry, ["get", base + "odd", f + "/odd.txt"] + text + identity)
            #expect(odd.status == 1 && odd.stderr.contains("arrived whole and verified"), "\(odd.output)")
            #expect(!FileManager.default.fileExists(atPath: f + "/odd.txt"))
            #expect(try Self.bytes(f + "/odd.txt.received") == (try Self.bytes(server.root + "/acme/in/odd")))

            // Settings without --text, and a bad setting, are usage errors naming the option.
            let loose = try await ExternalTool.run(
                ferry,
                ["send", f + "/euro.txt", base, "--records", "fb:80"] + identity
            )
            #expect(loose.status != 0 && loose.stderr.contains("need --text"), "\(loose.output)")
            let bad = try await ExternalTool.run(
                ferry,
                ["get", base + "euro.txt", "--text", "--codepage", "IBM-1140", "--records", "fb:99999"] + identity
            )
            #expect(bad.status != 0 && bad.stderr.contains("--records: 'fb:99999'"), "\(bad.output)")
        }
    }

    @Test(
        "ferry send --text killed mid-upload: the rerun resumes on the same converted bytes and the server gets Python's"
    )
    func resumedTextSend() async throws {
        try await TestServerHarness.with { server in
            let f = server.folder.path
            // About 40 MiB of FB 80 records.
            try await Self.build(f, bigLines: 520_000)
            let state = f + "/state"
            let command = [
                "send", f + "/big.txt", "https://localhost:\(server.port)/in/", "--json", "--mode", "tus",
                "--text", "--codepage", "IBM-1140", "--records", "fb:80",
                "--cert", server.pki.certificate("acme"), "--key", server.pki.key("acme"), "--ca", server.pki.caFile,
            ]
            let reached = try await ferryKilledMidUpload(
                command + ["--limit-rate", "8M"],
                state: state,
                uploads: server.root + "/.ferry/uploads",
                atLeast: 12 << 20
            )
            #expect(reached)
            #expect(!FileManager.default.fileExists(atPath: server.root + "/acme/in/big.txt"))

            let rerun = try await ferry(command, state: state)
            #expect(rerun.status == 0, "\(rerun.output)")
            let result = try JSONDecoder().decode(TransferResult.self, from: Data(rerun.stdout.utf8))
            #expect(result.resumedFrom >= 8 << 20, "\(rerun.stdout)")
            #expect(try TestFiles.sha256(server.root + "/acme/in/big.txt") == (try TestFiles.sha256(f + "/big.fb80")))
            #expect(result.fileSHA256 == (try TestFiles.sha256(f + "/big.txt")))
            // The converted copy was for resumption only: gone once verified.
            let staged = (try? FileManager.default.contentsOfDirectory(atPath: state + "/ferry/text")) ?? []
            #expect(staged.isEmpty, "\(staged)")
        }
    }

    @Test(
        "a hostile partner's records: bad RDWs and BDWs, a record cut short, a length past the block, random bytes and a line without end are refused with 422 naming the offset; nothing stored, no temporary file or upload left, the server keeps serving"
    )
    func hostileRecords() async throws {
        let curl = try ExternalTool.require("curl", installHint: "apt-get install curl")
        try await TestServerHarness.with(configure: { configuration, _ in
            var acme = FerryConfiguration.Partner(name: "acme")
            acme.subject = "CN=acme,O=Ferry"
            acme.text = .init(
                conversion: try! TextConversion.textMode(codePage: "IBM-037", settings: ["records": "vb:bdw"])
            )
            configuration.partners["acme"] = acme
            var bank = FerryConfiguration.Partner(name: "bank")
            bank.subject = "CN=bank,O=Ferry"
            bank.text = .init(conversion: try! TextConversion.textMode(codePage: "IBM-1047"))
            configuration.partners["bank"] = bank
        }) { server in
            let f = server.folder.path
            func rdw(_ length: Int) -> [UInt8] { [UInt8(length >> 8), UInt8(length & 0xFF), 0, 0] }
            let record = rdw(9) + [0xC8, 0xC5, 0xD3, 0xD3, 0xD6]  // HELLO in IBM-037
            let good = rdw(4 + record.count) + record
            let hostile: [(String, [UInt8])] = [
                ("zero-bdw", [0, 0, 0, 0] + record),
                ("bdw-reserved", [0, 13, 1, 0] + record),
                ("zero-rdw", rdw(12) + [0, 0, 0, 0] + record),
                ("rdw-reserved", rdw(13) + [0, 9, 0xFF, 0] + Array(record[4...])),
                ("rdw-past-block", rdw(13) + rdw(0xFFFF) + Array(record[4...])),
                ("cut-short", rdw(40_000) + rdw(32_000) + [UInt8](repeating: 0xC1, count: 100)),
                ("cut-in-block", Array(good) + rdw(20) + Array(record)),
                ("random", TestFiles.bytes(4 << 20, seed: UInt64.random(in: 0...UInt64.max))),
            ]
            let identity = server.curlIdentity("acme")
            for (name, bytes) in hostile {
                try Data(bytes).write(to: URL(fileURLWithPath: f + "/" + name))
                let put = try await ExternalTool.run(
                    curl,
                    identity + ["-sS", "-w", "\n%{http_code}", "-T", f + "/" + name, server.url("in/" + name)]
                )
                #expect(put.stdout.hasSuffix("\n422"), "\(name): \(put.output)")
                #expect(
                    put.stdout.contains("conversion-failed") && put.stdout.contains("offset"),
                    "\(name): \(put.stdout)"
                )
                #expect(!FileManager.default.fileExists(atPath: server.root + "/acme/in/" + name), "\(name)")
            }
            // A line of 3 MiB without a line end (a file sent as lines that is not text) is cut at the line limit.
            try Data(repeating: 0xC1, count: 3 << 20).write(to: URL(fileURLWithPath: f + "/endless"))
            let endless = try await ExternalTool.run(
                curl,
                server.curlIdentity("bank") + [
                    "-sS", "-w", "\n%{http_code}", "-T", f + "/endless", server.url("in/endless"),
                ]
            )
            #expect(endless.stdout.hasSuffix("\n422") && endless.stdout.contains("longer than"), "\(endless.output)")
            #expect(!FileManager.default.fileExists(atPath: server.root + "/bank/in/endless"))

            // The same hostile bytes by tus: refused after the last byte, the upload and its part removed.
            var client = try server.client("acme")
            client.uploadMode = .resumable
            client.retry = RetryPolicy(retries: 0, baseWait: 0)
            await #expect(throws: TransferError.self) {
                _ = try await client.send(files: [f + "/cut-in-block"], to: try server.target("in/tus-cut"))
            }
            #expect(!FileManager.default.fileExists(atPath: server.root + "/acme/in/tus-cut"))
            let uploads = (try? FileManager.default.contentsOfDirectory(atPath: server.root + "/.ferry/uploads")) ?? []
            #expect(uploads.isEmpty, "no upload state is left: \(uploads)")
            let temporary = (try? FileManager.default.contentsOfDirectory(atPath: server.root + "/.ferry/tmp")) ?? []
            #expect(temporary.isEmpty, "no temporary file is left: \(temporary)")
            let failed = try await server.ledger.transfers(LedgerQuery(result: .failed, pathPrefix: "acme/in/"))
            #expect(failed.entries.count >= hostile.count, "each refusal has its ledger row: \(failed.entries.count)")

            // The server still converts a well-formed file.
            try Data(good).write(to: URL(fileURLWithPath: f + "/good"))
            let put = try await ExternalTool.run(
                curl,
                identity + ["-sS", "-w", "%{http_code}", "-o", "/dev/null", "-T", f + "/good", server.url("in/good")]
            )
            #expect(put.stdout == "201", "\(put.output)")
            #expect(try Self.bytes(server.root + "/acme/in/good") == Data("HELLO\n".utf8))
        }
    }
}
