import Crypto
import FerryClient
import FerryLedger
import FerryProtocol
import FerryTestSupport
import Foundation
import NIOCore
import Testing

@testable import FerryServer

/// Batches: many small files in one request (`POST` to a folder, `application/vnd.ferry.batch`).
@Suite("Batches of small files", .serialized)
struct BatchTests {
    static func hex(_ bytes: [UInt8]) -> String {
        SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
    }

    /// A batch body: each entry's header line and bytes (with its real digest unless one is given).
    static func body(_ entries: [(path: String, bytes: [UInt8], sha256: String?)]) -> [UInt8] {
        var out = ByteBuffer()
        for entry in entries {
            var line = Batch.headerLine(
                .init(path: entry.path, size: Int64(entry.bytes.count), sha256: entry.sha256 ?? hex(entry.bytes))
            )
            out.writeBuffer(&line)
            out.writeBytes(entry.bytes)
        }
        return Array(out.readableBytesView)
    }

    // MARK: the decoder

    @Test("the decoder gives back every header and byte, however the body is split")
    func decoderSplits() throws {
        let entries: [(path: String, bytes: [UInt8], sha256: String?)] = [
            ("empty.txt", [], nil),
            ("a \"quoted\" name\\.txt", Array("hello".utf8), nil),
            ("sub/dir/big.bin", (0..<70_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }, nil),
        ]
        let body = Self.body(entries)
        for slice in [1, 2, 7, 100, 4096, 16_384, body.count] {
            let decoded = try BatchDecoder.decodeAll(body, slice: slice)
            #expect(decoded.map(\.header.path) == entries.map(\.path), "slice \(slice)")
            #expect(decoded.map(\.bytes) == entries.map(\.bytes), "slice \(slice)")
            #expect(decoded.map(\.header.sha256) == entries.map { Self.hex($0.bytes) })
        }
    }

    @Test(
        "a malformed body is refused with the entry and the reason",
        arguments: [
            ("not json\n", "not JSON"),
            ("{\"path\":\"a\",\"size\":1}\n", "not JSON"),
            ("{\"path\":\"a\",\"size\":-1,\"sha256\":\"\(String(repeating: "0", count: 64))\"}\n", "outside 0..."),
            (
                "{\"path\":\"a\",\"size\":1048577,\"sha256\":\"\(String(repeating: "0", count: 64))\"}\n",
                "send larger files with PUT"
            ),
            ("{\"path\":\"a\",\"size\":1,\"sha256\":\"\(String(repeating: "A", count: 64))\"}\n", "64 lowercase hex"),
            ("{\"path\":\"\",\"size\":1,\"sha256\":\"\(String(repeating: "0", count: 64))\"}\n", "path is empty"),
            (String(repeating: " ", count: 5000), "longer than 4096"),
        ]
    )
    func decoderRefuses(body: String, reason: String) throws {
        var decoder = BatchDecoder()
        var input = ByteBuffer(string: body)
        let error = #expect(throws: BatchFormatError.self) {
            while try decoder.next(from: &input) != nil {}
        }
        #expect(error?.entry == 0)
        #expect(error?.description.contains(reason) == true, "\(String(describing: error))")
    }

    @Test("a body that ends inside an entry or a header is refused at the end")
    func decoderTruncated() throws {
        let whole = Self.body([("a.txt", Array("0123456789".utf8), nil)])
        for (cut, reason) in [(whole.count - 4, "4 bytes before the end"), (10, "inside a header line")] {
            var decoder = BatchDecoder()
            var input = ByteBuffer(bytes: whole[..<cut])
            while try decoder.next(from: &input) != nil {}
            let error = #expect(throws: BatchFormatError.self) { try decoder.finish() }
            #expect(error?.description.contains(reason) == true, "\(String(describing: error))")
        }
    }

    @Test(
        "mutated bodies fed in random slices: the decoder refuses or stays consistent, never more bytes than declared"
    )
    func decoderMutations() async throws {
        let seed = Self.body([
            ("a.txt", Array("hello".utf8), nil), ("sub/b.bin", (0..<300).map { UInt8($0 & 0xFF) }, nil),
            ("empty", [], nil),
        ])
        var random = Mutation.Random(state: Mutation.seed)
        var refused = 0
        var accepted = 0
        for iteration in 0..<Mutation.iterations {
            await Mutation.pause(after: iteration)
            // decodeAll stops the process if the decoder breaks a promise (bytes outside or beyond an entry).
            if (try? BatchDecoder.decodeAll(
                Mutation.mutate(seed, &random),
                slice: Int.random(in: 1...64, using: &random)
            )) != nil {
                accepted += 1
            } else {
                refused += 1
            }
        }
        #expect(refused > 0, "mutations that break the framing are refused")
        #expect(accepted > 0, "mutations inside the bytes are accepted")
    }

    // MARK: against a real server

    @Test(
        "a batch of 1,500 refused entries with long, escape-laden names: at most 1,000 are handled, report and ledger stay bounded and escaped"
    )
    func boundedBatch() async throws {
        let curl = try ExternalTool.require("curl", installHint: CurlIntegrationTests.hint)
        try await TestServerHarness.with { server in
            let name = "../" + String(repeating: "\u{1B}[31m", count: 300)
            let bodyFile = server.folder.path + "/refused.batch"
            try Data(Self.body((0..<1500).map { (name + "\($0)", Array("x".utf8), nil) })).write(
                to: URL(fileURLWithPath: bodyFile)
            )
            let posted = try await ExternalTool.run(
                curl,
                server.curlIdentity("acme") + [
                    "-H", "Content-Type: \(Batch.mediaType)", "--data-binary", "@" + bodyFile, "-w", "\n%{http_code}",
                    server.url("in/"),
                ]
            )
            let (json, status) = try Self.split(posted.stdout)
            #expect(status == "400")
            let report = try JSONDecoder().decode(Batch.Report.self, from: Data(json.utf8))
            #expect(report.files.count == BatchLimits.maximumEntries, "\(report.files.count)")
            #expect(report.problem?.slug == ProblemKind.malformedBatch.slug)
            #expect(
                report.problem?.detail?.hasPrefix(
                    "Too many files in one batch: a batch holds at most \(BatchLimits.maximumEntries) files"
                ) == true
            )
            #expect(report.files.allSatisfy { ($0.problem?.detail?.count ?? 0) <= BatchLimits.maximumDetail + 64 })
            let rows = try await server.ledger.recent(limit: 5000)
            #expect(rows.count == BatchLimits.maximumEntries)
            #expect(
                rows.allSatisfy {
                    !$0.path.contains("\u{1B}") && ($0.error?.count ?? 0) <= BatchLimits.maximumDetail * 2
                        && $0.path.count <= 4096
                }
            )
        }
    }

    @Test(
        "curl posts a batch: good files are committed, each bad one is refused with its reason, nothing partial is left"
    )
    func curlBatch() async throws {
        let curl = try ExternalTool.require("curl", installHint: CurlIntegrationTests.hint)
        try await TestServerHarness.with { server in
            let good = Array("first file\n".utf8)
            let second = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
            let bodyFile = server.folder.path + "/batch.bin"
            // Symbolic links in the area that lead out of it: to a file and to a folder.
            let outside = server.folder.path + "/outside"
            try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
            try Data("keep me".utf8).write(to: URL(fileURLWithPath: outside + "/secret.txt"))
            try FileManager.default.createDirectory(atPath: server.root + "/acme/in", withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(
                atPath: server.root + "/acme/in/file-link",
                withDestinationPath: outside + "/secret.txt"
            )
            try FileManager.default.createSymbolicLink(
                atPath: server.root + "/acme/in/folder-link",
                withDestinationPath: outside
            )
            try Data(
                Self.body([
                    ("a.txt", good, nil),
                    ("b.txt", Array("tampered".utf8), Self.hex(Array("original".utf8))),
                    ("../escape.txt", Array("x".utf8), nil),
                    (".ferry/evil", Array("x".utf8), nil),
                    ("deep/er/c.bin", second, nil),
                    ("file-link", Array("x".utf8), nil),
                    ("folder-link/secret.txt", Array("x".utf8), nil),
                ])
            ).write(to: URL(fileURLWithPath: bodyFile))
            let posted = try await ExternalTool.run(
                curl,
                server.curlIdentity("acme") + [
                    "-H", "Content-Type: \(Batch.mediaType)", "--data-binary", "@" + bodyFile, "-w", "\n%{http_code}",
                    server.url("in/"),
                ]
            )
            #expect(posted.status == 0, "\(posted.output)")
            let (json, status) = try Self.split(posted.stdout)
            #expect(status == "200")
            let report = try JSONDecoder().decode(Batch.Report.self, from: Data(json.utf8))
            #expect(report.files.map(\.status) == [201, 400, 400, 400, 201, 403, 403], "\(report)")
            #expect(
                report.files.map { $0.problem?.slug } == [
                    nil, "digest-mismatch", "bad-path", "bad-path", nil, "path-outside-area", "path-outside-area",
                ]
            )
            #expect(report.committed == 2 && report.failed == 5 && report.problem == nil)
            #expect(try String(contentsOfFile: outside + "/secret.txt", encoding: .utf8) == "keep me")
            #expect(report.files[0].sha256 == Self.hex(good))
            #expect(try Data(contentsOf: URL(fileURLWithPath: server.root + "/acme/in/a.txt")) == Data(good))
            #expect(try Data(contentsOf: URL(fileURLWithPath: server.root + "/acme/in/deep/er/c.bin")) == Data(second))
            #expect(!FileManager.default.fileExists(atPath: server.root + "/acme/in/b.txt"))
            #expect(!FileManager.default.fileExists(atPath: server.root + "/acme/escape.txt"))
            #expect(try FileManager.default.contentsOfDirectory(atPath: server.root + "/.ferry/tmp").isEmpty)

            // The listing knows the committed files' digests (kept by the batch, not recomputed).
            let listing = try await ExternalTool.run(curl, server.curlIdentity("acme") + [server.url("in/")])
            #expect(listing.stdout.contains(Self.hex(good)))

            // One ledger row per entry, refused ones included, with the partner and the TLS facts.
            let rows = try await server.ledger.recent(limit: 20).filter { $0.operation == .put }
            #expect(rows.count == 7)
            #expect(
                rows.filter { $0.result == .ok }.map(\.path).sorted() == ["acme/in/a.txt", "acme/in/deep/er/c.bin"]
            )
            #expect(rows.allSatisfy { $0.partner == "acme" && $0.tlsVersion == "TLS1.3" })
            #expect(rows.first { $0.path.hasSuffix("b.txt") }?.error?.contains("digest-mismatch") == true)

            // Re-sending replaces: 204.
            try Data(Self.body([("a.txt", good, nil)])).write(to: URL(fileURLWithPath: bodyFile))
            let again = try await ExternalTool.run(
                curl,
                server.curlIdentity("acme") + [
                    "-H", "Content-Type: \(Batch.mediaType)", "--data-binary", "@" + bodyFile, server.url("in/"),
                ]
            )
            #expect(
                try JSONDecoder().decode(Batch.Report.self, from: Data(again.stdout.utf8)).files.map(\.status) == [204]
            )
        }
    }

    @Test("a batch cut inside an entry keeps the files before it, commits nothing of the cut one, and says so")
    func truncatedBatch() async throws {
        let curl = try ExternalTool.require("curl", installHint: CurlIntegrationTests.hint)
        try await TestServerHarness.with { server in
            var body = Self.body([
                ("one.txt", Array("complete".utf8), nil), ("two.txt", Array(repeating: 65, count: 1000), nil),
            ])
            body.removeLast(990)
            let bodyFile = server.folder.path + "/cut.bin"
            try Data(body).write(to: URL(fileURLWithPath: bodyFile))
            let posted = try await ExternalTool.run(
                curl,
                server.curlIdentity("acme") + [
                    "-H", "Content-Type: \(Batch.mediaType)", "--data-binary", "@" + bodyFile, "-w", "\n%{http_code}",
                    server.url("in/"),
                ]
            )
            let (json, status) = try Self.split(posted.stdout)
            #expect(status == "400")
            let report = try JSONDecoder().decode(Batch.Report.self, from: Data(json.utf8))
            #expect(report.files.map(\.path) == ["one.txt", "two.txt"])
            #expect(report.files.map(\.status) == [201, 400])
            #expect(report.problem?.slug == "malformed-batch")
            #expect(
                report.problem?.detail?.contains("entry 2: the body ended 990 bytes before the end of this entry")
                    == true,
                "\(String(describing: report.problem))"
            )
            #expect(FileManager.default.fileExists(atPath: server.root + "/acme/in/one.txt"))
            #expect(!FileManager.default.fileExists(atPath: server.root + "/acme/in/two.txt"))
            #expect(try FileManager.default.contentsOfDirectory(atPath: server.root + "/.ferry/tmp").isEmpty)
            let rows = try await server.ledger.recent(limit: 10)
            #expect(rows.filter { $0.result == .ok }.map(\.path) == ["acme/in/one.txt"])
            #expect(rows.contains { $0.path == "acme/in/two.txt" && $0.result == .failed })

            // POST without the batch type, or to a file, is refused with what to do instead.
            let plain = try await ExternalTool.run(
                curl,
                server.curlIdentity("acme") + ["--data-binary", "x", "-w", "\n%{http_code}", server.url("in/")]
            )
            #expect(try Self.split(plain.stdout).status == "415")
            #expect(plain.stdout.contains("upload one file with PUT"))
            let onFile = try await ExternalTool.run(
                curl,
                server.curlIdentity("acme") + [
                    "-H", "Content-Type: \(Batch.mediaType)", "--data-binary", "@" + bodyFile, "-w", "\n%{http_code}",
                    server.url("in/one.txt"),
                ]
            )
            #expect(try Self.split(onFile.stdout).status == "409")
        }
    }

    @Test("ferry send -r sends a folder tree: small files in batches, a large one by itself, all verified and recorded")
    func sendFolder() async throws {
        try await TestServerHarness.with { server in
            let tree = server.folder.path + "/outbox"
            var expected: [String: String] = [:]
            for index in 0..<300 {
                let relative = "day\(index % 3)/file\(index).bin"
                try FileManager.default.createDirectory(
                    atPath: tree + "/day\(index % 3)",
                    withIntermediateDirectories: true
                )
                expected[relative] = try TestFiles.write(tree + "/" + relative, size: 1000 + index * 37)
            }
            expected["large.bin"] = try TestFiles.write(tree + "/large.bin", size: 3 << 20)
            expected["empty.txt"] = try TestFiles.write(tree + "/empty.txt", size: 0)
            let clientLedger = try await SQLiteLedger.open(path: server.folder.path + "/client.sqlite")
            defer { Task { try? await clientLedger.close() } }
            var client = try server.client("acme", ledger: clientLedger)

            // Without --recursive a folder is refused, naming the flag.
            let refused = await #expect(throws: TransferError.self) {
                try await client.send(files: [tree], to: try server.target("in/"))
            }
            #expect(refused?.message.contains("--recursive") == true)

            client.recursive = true
            client.parallelism = 2
            let results = try await client.send(files: [tree], to: try server.target("in/"))
            #expect(results.count == expected.count)
            #expect(results.allSatisfy { $0.verified })
            for (relative, digest) in expected {
                #expect(try TestFiles.sha256(server.root + "/acme/in/outbox/" + relative) == digest, "\(relative)")
            }
            #expect(results.first { $0.local.hasSuffix("large.bin") }?.method == "PUT")
            #expect(results.filter { $0.method == "batch" }.count == expected.count - 1)
            #expect(results.first { $0.local.hasSuffix("day1/file1.bin") }?.status == 201)
            let serverRows = try await server.ledger.recent(limit: 1000)
            #expect(serverRows.filter { $0.operation == .put && $0.result == .ok }.count == expected.count)
            let clientRows = try await clientLedger.recent(limit: 1000)
            #expect(clientRows.count == expected.count)
            #expect(clientRows.allSatisfy { $0.result == .ok && $0.peerSubject?.contains("CN=localhost") == true })

            // A file the server refuses (a file is in the way of its folder) fails the command with the
            // server's reason; the other files of its batch are still committed.
            try FileManager.default.createDirectory(
                atPath: server.root + "/acme/again/outbox",
                withIntermediateDirectories: true
            )
            try Data("in the way".utf8).write(to: URL(fileURLWithPath: server.root + "/acme/again/outbox/day2"))
            client.parallelism = 1
            let partial = await #expect(throws: TransferError.self) {
                try await client.send(files: [tree], to: try server.target("again/"))
            }
            #expect(partial?.code == .rejected)
            #expect(
                partial?.message.contains("outbox/day2/file101.bin refused by the server (409): a file is in the way")
                    == true,
                "\(String(describing: partial))"
            )
            #expect(
                try TestFiles.sha256(server.root + "/acme/again/outbox/day0/file0.bin") == expected["day0/file0.bin"]
            )
            #expect(
                try TestFiles.sha256(server.root + "/acme/again/outbox/day1/file1.bin") == expected["day1/file1.bin"]
            )
        }
    }

    @Test("the CLI: ferry send -r reports every file; without -r a folder is a usage error")
    func cli() async throws {
        let ferry = try CLITests.ferry
        try await TestServerHarness.with { server in
            let tree = server.folder.path + "/tree"
            try FileManager.default.createDirectory(atPath: tree + "/sub", withIntermediateDirectories: true)
            for index in 0..<20 { _ = try TestFiles.write(tree + "/sub/f\(index).txt", size: 100 * index) }
            let identity = [
                "--cert", server.pki.certificate("acme"), "--key", server.pki.key("acme"), "--ca", server.pki.caFile,
                "--no-ledger",
            ]
            let target = "https://localhost:\(server.port)/in/"
            let plain = try await ExternalTool.run(ferry, ["send", tree, target] + identity)
            #expect(plain.status == 1)
            #expect(plain.stderr.contains("is a folder: add --recursive (-r)"), "\(plain.output)")
            let sent = try await ExternalTool.run(ferry, ["send", "-r", tree, target, "--json"] + identity)
            #expect(sent.status == 0, "\(sent.output)")
            let lines = sent.stdout.split(separator: "\n")
            #expect(lines.count == 20)
            #expect(lines.allSatisfy { $0.contains("\"verified\":true") })
            #expect(FileManager.default.fileExists(atPath: server.root + "/acme/in/tree/sub/f19.txt"))

            // One file refused (a file is in the way of its folder on the server): exit 3 naming it, and the
            // files that went are reported as they went, before the error.
            try FileManager.default.createDirectory(atPath: tree + "/other", withIntermediateDirectories: true)
            _ = try TestFiles.write(tree + "/other/blocked.txt", size: 10)
            try FileManager.default.createDirectory(
                atPath: server.root + "/acme/in2/tree",
                withIntermediateDirectories: true
            )
            try Data("in the way".utf8).write(to: URL(fileURLWithPath: server.root + "/acme/in2/tree/other"))
            let partial = try await ExternalTool.run(
                ferry,
                ["send", "-r", tree, "https://localhost:\(server.port)/in2/", "--parallel", "1"] + identity
            )
            #expect(partial.status == 3, "\(partial.output)")
            #expect(
                partial.stderr.contains("tree/other/blocked.txt") && partial.stderr.contains("(409)"),
                "\(partial.stderr)"
            )
            #expect(
                partial.stdout.split(separator: "\n").filter { $0.contains("verified") }.count == 20,
                "\(partial.stdout)"
            )
        }
    }

    static func split(_ output: String) throws -> (json: String, status: String) {
        let parts = output.split(separator: "\n", omittingEmptySubsequences: false)
        return (parts.dropLast().joined(separator: "\n"), String(try #require(parts.last)))
    }
}
