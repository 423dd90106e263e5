import FerryClient
import FerryConfig
import FerryProtocol
import FerryServer
import FerryTestSupport
import Foundation
import Logging
import Testing

/// Per-partner quotas on bytes, files and open resumable uploads, against a running server with curl and the
/// Ferry client.
@Suite("Partner quotas")
struct QuotaTests {
    static let status = ["-o", "/dev/null", "-w", "%{http_code} %{size_upload}"]

    /// The problem+json body of a refused request.
    static func problem(_ outcome: ExternalTool.Outcome) throws -> Problem {
        try JSONDecoder().decode(Problem.self, from: Data(outcome.stdout.utf8))
    }

    @Test(
        "bytes: PUTs by Content-Length and chunked, replacement, a file larger than the whole quota, DELETE and files removed by other means"
    )
    func bytes() async throws {
        let curl = try ExternalTool.require("curl", installHint: "apt-get install curl")
        try await TestServerHarness.with(configure: { configuration, _ in
            configuration.quota = .init(bytes: 10 << 20)
        }) { server in
            let four = server.folder.path + "/four.bin"
            try TestFiles.write(four, size: 4 << 20)
            let eleven = server.folder.path + "/eleven.bin"
            try TestFiles.write(eleven, size: 11 << 20)
            func put(_ file: String, _ name: String, chunked: Bool = false) async throws -> ExternalTool.Outcome {
                try await ExternalTool.run(
                    curl,
                    server.curlIdentity("acme") + (chunked ? ["-H", "Transfer-Encoding: chunked"] : []) + [
                        "-T", file, server.url(name),
                    ]
                )
            }
            func putStatus(_ file: String, _ name: String, chunked: Bool = false) async throws -> String {
                try await ExternalTool.run(
                    curl,
                    server.curlIdentity("acme") + Self.status + (chunked ? ["-H", "Transfer-Encoding: chunked"] : [])
                        + ["-T", file, server.url(name)]
                ).stdout
            }
            #expect(try await putStatus(four, "a.bin").hasPrefix("201"))
            #expect(try await putStatus(four, "b.bin").hasPrefix("201"))
            // 8 MiB used of 10: a third 4 MiB file does not fit, and curl (HTTP/1.1, Expect: 100-continue) never sends
            // its body.
            let early = try await ExternalTool.run(
                curl,
                server.curlIdentity("acme") + ["--http1.1", "--expect100-timeout", "20"] + Self.status + [
                    "-T", four, server.url("c.bin"),
                ]
            )
            let parts = early.stdout.split(separator: " ")
            #expect(
                parts.first == "507" && (parts.last.flatMap { Int($0) } ?? .max) < 1 << 20,
                "refused before the body: \(early.stdout)"
            )
            let refused = try Self.problem(try await put(four, "c.bin"))
            #expect(refused.slug == "quota-exceeded" && refused.status == 507)
            #expect(
                refused.quota
                    == Problem.QuotaState(
                        name: "bytes",
                        limit: 10 << 20,
                        used: 8 << 20,
                        remaining: 2 << 20,
                        needed: 4 << 20
                    ),
                "\(refused)"
            )
            #expect(refused.detail?.contains("acme") == true, "\(refused)")
            // Chunked: the bytes are counted as they arrive and checked before the commit.
            #expect(try await putStatus(four, "c.bin", chunked: true).hasPrefix("507"))
            // Replacing a file counts only the difference.
            #expect(try await putStatus(four, "a.bin").hasPrefix("204"))
            // A file larger than the whole quota can never fit: 413.
            let tooBig = try Self.problem(try await put(eleven, "huge.bin"))
            #expect(tooBig.status == 413 && tooBig.quota?.name == "bytes")
            #expect(
                try FileManager.default.contentsOfDirectory(atPath: server.root + "/acme").sorted() == [
                    "a.bin", "b.bin",
                ]
            )
            // DELETE gives the room back.
            #expect(
                try await ExternalTool.run(
                    curl,
                    server.curlIdentity("acme") + Self.status + ["-X", "DELETE", server.url("b.bin")]
                ).stdout.hasPrefix("204")
            )
            #expect(try await putStatus(four, "c.bin").hasPrefix("201"))
            // A file removed on the server's disk by other means (a partner's post-processing) is seen before a refusal.
            #expect(try await putStatus(four, "d.bin").hasPrefix("507"))
            try FileManager.default.removeItem(atPath: server.root + "/acme/a.bin")
            #expect(try await putStatus(four, "d.bin").hasPrefix("201"))
            // Another partner's home has its own quota.
            #expect(
                try await ExternalTool.run(
                    curl,
                    server.curlIdentity("bank") + Self.status + ["-T", four, server.url("g.bin")]
                ).stdout.hasPrefix("201")
            )
            let temporary = (try? FileManager.default.contentsOfDirectory(atPath: server.root + "/.ferry/tmp")) ?? []
            #expect(temporary.isEmpty, "\(temporary)")
        }
    }

    @Test("two uploads racing for the last room: exactly one is stored, the other gets 507")
    func race() async throws {
        let curl = try ExternalTool.require("curl", installHint: "apt-get install curl")
        try await TestServerHarness.with(configure: { configuration, _ in
            configuration.quota = .init(bytes: 10 << 20)
        }) { server in
            let six = server.folder.path + "/six.bin"
            try TestFiles.write(six, size: 6 << 20)
            let common = server.curlIdentity("acme") + Self.status + ["--limit-rate", "4M", "-T", six]
            let one = common + [server.url("one.bin")]
            let two = common + [server.url("two.bin")]
            async let first = ExternalTool.run(curl, one)
            async let second = ExternalTool.run(curl, two)
            let codes = [try await first.stdout, try await second.stdout].map { String($0.prefix(3)) }.sorted()
            #expect(codes == ["201", "507"], "\(codes)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: server.root + "/acme").count == 1)
        }
    }

    @Test(
        "files: the next new file over the limit gets 507 (replacing one does not count); a batch stores what fits and refuses the rest"
    )
    func files() async throws {
        let curl = try ExternalTool.require("curl", installHint: "apt-get install curl")
        try await TestServerHarness.with(configure: { configuration, _ in
            configuration.quota = .init(files: 3)
        }) { server in
            let small = server.folder.path + "/small.txt"
            try "hello".write(toFile: small, atomically: true, encoding: .utf8)
            for name in ["one.txt", "two.txt"] {
                #expect(
                    try await ExternalTool.run(
                        curl,
                        server.curlIdentity("acme") + Self.status + ["-T", small, server.url(name)]
                    ).stdout.hasPrefix("201")
                )
            }
            #expect(
                try await ExternalTool.run(
                    curl,
                    server.curlIdentity("acme") + Self.status + ["-T", small, server.url("one.txt")]
                ).stdout.hasPrefix("204")
            )
            // A batch of three into a home with one slot left.
            var body = Data()
            for name in ["b1.txt", "b2.txt", "b3.txt"] {
                body +=
                    try JSONEncoder().encode(
                        Batch.Header(path: name, size: 1, sha256: TestHashes.sha256Hex(Array("x".utf8)))
                    ) + Data("\nx".utf8)
            }
            let batchFile = server.folder.path + "/batch"
            try body.write(to: URL(fileURLWithPath: batchFile))
            let posted = try await ExternalTool.run(
                curl,
                server.curlIdentity("acme") + [
                    "-H", "Content-Type: \(Batch.mediaType)", "--data-binary", "@" + batchFile, server.url(""),
                ]
            )
            let report = try JSONDecoder().decode(Batch.Report.self, from: Data(posted.stdout.utf8))
            #expect(report.files.map(\.status) == [201, 507, 507], "\(posted.stdout)")
            #expect(report.files.last?.problem?.quota?.name == "files")
            let refused = try Self.problem(
                try await ExternalTool.run(curl, server.curlIdentity("acme") + ["-T", small, server.url("four.txt")])
            )
            #expect(
                refused.quota == Problem.QuotaState(name: "files", limit: 3, used: 3, remaining: 0, needed: 1),
                "\(refused)"
            )
            #expect(
                try FileManager.default.contentsOfDirectory(atPath: server.root + "/acme").sorted() == [
                    "b1.txt", "one.txt", "two.txt",
                ]
            )
        }
    }

    @Test(
        "open resumable uploads: the third gets 429 until one is cancelled; a creation longer than the bytes left gets 507; ferry send reports the quota without retrying"
    )
    func uploads() async throws {
        let curl = try ExternalTool.require("curl", installHint: "apt-get install curl")
        try await TestServerHarness.with(configure: { configuration, _ in
            configuration.quota = .init(bytes: 64 << 20, uploads: 2)
        }) { server in
            let base = "https://localhost:\(server.port)/v1/uploads"
            func create(_ name: String, length: Int) async throws -> ExternalTool.Outcome {
                try await ExternalTool.run(
                    curl,
                    server.curlIdentity("acme") + [
                        "-D", "-", "-X", "POST", "-H", "Tus-Resumable: 1.0.0", "-H", "Upload-Length: \(length)",
                        "-H", "Upload-Metadata: path " + Data(name.utf8).base64EncodedString(), base,
                    ]
                )
            }
            let first = try await create("u1.bin", length: 30 << 20)
            #expect(first.stdout.hasPrefix("HTTP/2 201") || first.stdout.hasPrefix("HTTP/1.1 201"), "\(first.stdout)")
            // 30 MiB of 64 are held by the first upload: a second of 40 MiB does not fit.
            let tooLong = try await create("u2.bin", length: 40 << 20)
            #expect(tooLong.stdout.contains(" 507"), "\(tooLong.stdout)")
            #expect(try await create("u2.bin", length: 10 << 20).stdout.contains(" 201"))
            let third = try await create("u3.bin", length: 1 << 20)
            #expect(third.stdout.contains(" 429"), "\(third.stdout)")
            #expect(third.stdout.contains("\"name\":\"uploads\""), "\(third.stdout)")
            // Cancelling one makes room for another.
            let location = try #require(
                first.stdout.split(separator: "\r\n").first { $0.lowercased().hasPrefix("location:") }
            ).dropFirst("location: ".count)
            let cancelled = try await ExternalTool.run(
                curl,
                server.curlIdentity("acme") + Self.status + [
                    "-X", "DELETE", "-H", "Tus-Resumable: 1.0.0", "https://localhost:\(server.port)" + location,
                ]
            )
            #expect(cancelled.stdout.hasPrefix("204"))
            let fourth = try await create("u3.bin", length: 1 << 20)
            #expect(fourth.stdout.contains(" 201"))

            // ferry send (with u3 cancelled, 54 MiB left): a 60 MiB file is refused as a rejection (exit code 3, which the
            // client does not retry), with the quota.
            #expect(
                try await ExternalTool.run(
                    curl,
                    server.curlIdentity("acme") + Self.status + [
                        "-X", "DELETE", "-H", "Tus-Resumable: 1.0.0",
                        "https://localhost:\(server.port)"
                            + (try #require(
                                fourth.stdout.split(separator: "\r\n").first { $0.lowercased().hasPrefix("location:") }
                            ).dropFirst("location: ".count)),
                    ]
                ).stdout.hasPrefix("204")
            )
            let file = server.folder.path + "/big.bin"
            try TestFiles.write(file, size: 60 << 20)
            let client = try server.client("acme")
            await #expect {
                try await client.send(files: [file], to: try server.target("big.bin"))
            } throws: { error in
                let problem = (error as? TransferError)?.problem
                return problem?.slug == "quota-exceeded" && problem?.quota?.name == "bytes"
                    && (error as? TransferError)?.code == .rejected
            }
        }
    }

    @Test("open resumable uploads still count after a restart")
    func restart() async throws {
        let curl = try ExternalTool.require("curl", installHint: "apt-get install curl")
        let folder = try TemporaryDirectory("ferry-quota")
        defer { folder.remove() }
        let pki = try TestPKI(directory: folder.path + "/pki")
        var configuration = FerryConfiguration()
        configuration.root = folder.path + "/root"
        configuration.listen = "127.0.0.1:0"
        configuration.serverTLS = pki.serverProfile
        configuration.quota = .init(bytes: 20 << 20, uploads: 1)
        var logger = Logger(label: "ferry.test")
        logger.logLevel = .error
        func create(port: Int, length: Int) async throws -> String {
            try await ExternalTool.run(
                curl,
                [
                    "-s", "--cert", pki.certificate("acme"), "--key", pki.key("acme"), "--cacert", pki.caFile, "-o",
                    "/dev/null", "-w", "%{http_code}",
                    "-X", "POST", "-H", "Tus-Resumable: 1.0.0", "-H", "Upload-Length: \(length)",
                    "-H", "Upload-Metadata: path " + Data("r.bin".utf8).base64EncodedString(),
                    "https://localhost:\(port)/v1/uploads",
                ]
            ).stdout
        }
        let first = try await RunningServer.start(
            try await FerryServer.prepare(configuration: configuration),
            logger: logger,
            executor: ServerExecutor.shared
        )
        #expect(try await create(port: first.port, length: 15 << 20) == "201")
        try await first.stop()
        configuration.quota = .init(bytes: 20 << 20, uploads: 2)
        let second = try await RunningServer.start(
            try await FerryServer.prepare(configuration: configuration),
            logger: logger,
            executor: ServerExecutor.shared
        )
        // The upload from before the restart still holds 15 MiB of the 20.
        #expect(try await create(port: second.port, length: 10 << 20) == "507")
        #expect(try await create(port: second.port, length: 5 << 20) == "201")
        #expect(try await create(port: second.port, length: 1) == "429")
        try await second.stop()
    }
}
