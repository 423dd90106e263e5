import FerryClient
import FerryConfig
import FerryTestSupport
import Foundation
import Testing

/// How files are committed: without replacing when asked, and with one mode however they arrive.
@Suite("Commits")
struct CommitTests {
    static func mode(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    @Test(
        "two concurrent uploads with If-None-Match: * to one name: exactly one wins, the other gets 412, and the file is the winner's"
    )
    func noReplaceRace() async throws {
        let curl = try ExternalTool.require("curl", installHint: "apt-get install curl")
        try await TestServerHarness.with { server in
            let first = server.folder.path + "/first.bin"
            let second = server.folder.path + "/second.bin"
            let digests = [
                try TestFiles.write(first, size: 4 << 20, seed: 1), try TestFiles.write(second, size: 4 << 20, seed: 2),
            ]
            for round in 0..<5 {
                let name = server.url("race-\(round).bin")
                let arguments = ["-o", "/dev/null", "-w", "%{http_code}", "-H", "If-None-Match: *", "--http1.1"]
                async let a = ExternalTool.run(curl, server.curlIdentity("acme") + arguments + ["-T", first, name])
                async let b = ExternalTool.run(curl, server.curlIdentity("acme") + arguments + ["-T", second, name])
                let statuses = [try await a.stdout, try await b.stdout].sorted()
                #expect(statuses == ["201", "412"], "round \(round): \(statuses)")
                let stored = try Data(contentsOf: URL(fileURLWithPath: server.root + "/acme/race-\(round).bin"))
                let digest = TestHashes.sha256Hex(Array(stored))
                #expect(digests.contains(digest), "round \(round): the stored file is neither upload")
            }
        }
    }

    @Test(
        "committed files have uploads.file-mode whether they came by PUT or resumable upload; the server's state is 0700/0600"
    )
    func modes() async throws {
        let curl = try ExternalTool.require("curl", installHint: "apt-get install curl")
        try await TestServerHarness.with { server in
            let file = server.folder.path + "/f.bin"
            try TestFiles.write(file, size: 100_000)
            _ = try await ExternalTool.run(curl, server.curlIdentity("acme") + ["-T", file, server.url("put.bin")])
            var client = try server.client("acme")
            client.uploadMode = .resumable
            _ = try await client.send(files: [file], to: try server.target("tus/"))
            #expect(try Self.mode(server.root + "/acme/put.bin") == 0o640)
            #expect(try Self.mode(server.root + "/acme/tus/f.bin") == 0o640)
            #expect(try Self.mode(server.root + "/.ferry") == 0o700)
            #expect(try Self.mode(server.root + "/.ferry/ledger.sqlite") == 0o600)
        }
    }
}
