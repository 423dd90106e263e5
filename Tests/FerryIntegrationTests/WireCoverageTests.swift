import FerryProtocol
import FerryTestSupport
import Foundation
import Testing

/// Documented behaviour checked over the wire with curl: folder deletion and the Range forms that fall back to the
/// whole file.
@Suite("Documented behaviour over the wire")
struct WireCoverageTests {
    static func problem(_ body: String) throws -> Problem {
        try JSONDecoder().decode(Problem.self, from: Data(body.utf8))
    }

    @Test(
        "DELETE on a folder: 409 folder-not-empty naming it while it holds a file, 204 once empty; the top of an area is refused"
    )
    func folderDelete() async throws {
        let curl = try ExternalTool.require("curl", installHint: "apt-get install curl")
        try await TestServerHarness.with { server in
            let file = server.folder.path + "/a.txt"
            try "a\n".write(toFile: file, atomically: true, encoding: .utf8)
            let put = try await ExternalTool.run(
                curl,
                server.curlIdentity("acme") + [
                    "-T", file, "-w", "%{http_code}", "-o", "/dev/null", server.url("in/sub/a.txt"),
                ]
            )
            #expect(put.stdout == "201", "\(put.output)")
            let full = try await ExternalTool.run(
                curl,
                server.curlIdentity("acme") + ["-X", "DELETE", "-w", "\n%{http_code}", server.url("in/sub/")]
            )
            let fullLines = full.stdout.split(separator: "\n")
            #expect(fullLines.last == "409", "\(full.output)")
            let refusal = try Self.problem(String(try #require(fullLines.first)))
            #expect(refusal.slug == ProblemKind.folderNotEmpty.slug)
            #expect(refusal.detail == "delete the files inside 'in/sub/' first", "\(refusal)")
            #expect(FileManager.default.fileExists(atPath: server.root + "/acme/in/sub/a.txt"))
            let fileGone = try await ExternalTool.run(
                curl,
                server.curlIdentity("acme") + [
                    "-X", "DELETE", "-w", "%{http_code}", "-o", "/dev/null", server.url("in/sub/a.txt"),
                ]
            )
            #expect(fileGone.stdout == "204", "\(fileGone.output)")
            let empty = try await ExternalTool.run(
                curl,
                server.curlIdentity("acme") + [
                    "-X", "DELETE", "-w", "%{http_code}", "-o", "/dev/null", server.url("in/sub/"),
                ]
            )
            #expect(empty.stdout == "204", "\(empty.output)")
            #expect(!FileManager.default.fileExists(atPath: server.root + "/acme/in/sub"))
            let top = try await ExternalTool.run(
                curl,
                server.curlIdentity("acme") + ["-X", "DELETE", "-w", "\n%{http_code}", server.url("")]
            )
            #expect(top.stdout.split(separator: "\n").last == "403", "\(top.output)")
            #expect(
                try Self.problem(String(try #require(top.stdout.split(separator: "\n").first))).slug
                    == ProblemKind.cannotDeleteArea.slug
            )
        }
    }

    @Test("several ranges, or a malformed Range, get the whole file (200) with its digest; one range gets 206")
    func rangeFallbacks() async throws {
        let curl = try ExternalTool.require("curl", installHint: "apt-get install curl")
        try await TestServerHarness.with { server in
            let file = server.folder.path + "/r.bin"
            let body = String(repeating: "0123456789", count: 100)
            try body.write(toFile: file, atomically: true, encoding: .utf8)
            let put = try await ExternalTool.run(
                curl,
                server.curlIdentity("acme") + [
                    "-T", file, "-w", "%{http_code}", "-o", "/dev/null", server.url("in/r.bin"),
                ]
            )
            #expect(put.stdout == "201", "\(put.output)")
            for range in ["bytes=0-1,5-6", "bytes=x-y", "bytes=5", "items=0-1", "bytes=-"] {
                let got = try await ExternalTool.run(
                    curl,
                    server.curlIdentity("acme") + [
                        "-H", "Range: \(range)", "-w", "\n%{http_code}", server.url("in/r.bin"),
                    ]
                )
                #expect(got.stdout == body + "\n200", "\(range): \(got.output.prefix(200))")
            }
            let one = try await ExternalTool.run(
                curl,
                server.curlIdentity("acme") + [
                    "-H", "Range: bytes=10-19", "-w", "\n%{http_code}", server.url("in/r.bin"),
                ]
            )
            #expect(one.stdout == "0123456789\n206", "\(one.output)")
        }
    }
}
