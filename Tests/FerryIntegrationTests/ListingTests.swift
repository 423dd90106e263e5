import FerryConfig
import FerryProtocol
import FerryTestSupport
import Foundation
import Testing

/// Folder listings come in ordered pages, so a folder of any size can be listed.
@Suite("Paginated listings")
struct ListingTests {
    @Test("curl pages through a 4,500-entry folder with limit and after; ferry ls follows the pages")
    func pages() async throws {
        let curl = try ExternalTool.require("curl", installHint: "apt-get install curl")
        try await TestServerHarness.with { server in
            let folder = server.root + "/acme/many"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            // Made by another process, so the in-process server's threads are not held up meanwhile.
            let python = try ExternalTool.require("python3", installHint: "apt-get install python3")
            let made = try await ExternalTool.run(
                python,
                ["-c", "import sys\nfor i in range(4500): open(f'{sys.argv[1]}/f{i:05d}.txt', 'w').close()", folder]
            )
            #expect(made.status == 0, "\(made.output)")
            var names: [String] = []
            var after: String?
            var pages = 0
            repeat {
                let query = "?limit=2000" + (after.map { "&after=" + PercentEncoding.encodeSegment($0) } ?? "")
                let outcome = try await ExternalTool.run(
                    curl,
                    server.curlIdentity("acme") + [server.url("many/") + query]
                )
                let page = try #require(
                    try? JSONDecoder().decode(Listing.self, from: Data(outcome.stdout.utf8)),
                    "curl exit \(outcome.status): \(outcome.output.prefix(2_000))"
                )
                #expect(page.entries.count <= 2000)
                names += page.entries.map(\.name)
                after = page.next
                pages += 1
            } while after != nil && pages < 10
            #expect(pages == 3)
            #expect(names.count == 4500 && names == names.sorted() && Set(names).count == 4500)
            // Parameters no page gave: a limit out of range, and cursors that are no name of a folder (empty,
            // longer than a name, with a NUL or a slash) get 400 with the problem named, never a server error.
            let overlong = String(repeating: "a", count: 300)
            for query in ["limit=0", "limit=x", "after=", "after=" + overlong, "after=a%00b", "after=a%2Fb"] {
                let bad = try await ExternalTool.run(
                    curl,
                    server.curlIdentity("acme") + ["-w", "\n%{http_code}", server.url("many/") + "?" + query]
                )
                #expect(bad.stdout.hasSuffix("\n400"), "?\(query): \(bad.output)")
                #expect(bad.stdout.contains("bad-limit"), "?\(query): \(bad.output)")
            }

            let ls = try await ExternalTool.run(
                try CLITests.ferry,
                [
                    "ls", "https://localhost:\(server.port)/many/", "--cert", server.pki.certificate("acme"), "--key",
                    server.pki.key("acme"), "--ca", server.pki.caFile,
                ],
                environment: ProcessInfo.processInfo.environment.merging([
                    "XDG_STATE_HOME": server.folder.path + "/state"
                ]) { $1 }
            )
            #expect(ls.status == 0, "\(ls.stderr)")
            #expect(
                ls.stdout.split(separator: "\n").count == 4500,
                "\(ls.stdout.split(separator: "\n").count) lines (ferry ls reads pages of 2,000)"
            )
        }
    }

    @Test(
        "the top level pages a partner's own names and its mounts together: each name once, in order, whatever the page size",
        arguments: [1, 2, 3, 7]
    )
    func topLevelWithMounts(limit: Int) async throws {
        let curl = try ExternalTool.require("curl", installHint: "apt-get install curl")
        try await TestServerHarness.with(configure: { configuration, _ in
            configuration.accessRules = [
                .init(name: "a", partners: ["*"], area: "shared/a", mount: "bmount", rights: [.read]),
                .init(name: "z", partners: ["*"], area: "shared/z", mount: "zmount", rights: [.read]),
                .init(name: "m", partners: ["*"], area: "shared/m", mount: "m", rights: [.read]),
            ]
        }) { server in
            for name in ["a", "c", "n", "y"] {
                try FileManager.default.createDirectory(
                    atPath: server.root + "/acme/" + name,
                    withIntermediateDirectories: true
                )
            }
            var seen: [String] = []
            var after: String?
            var pages = 0
            repeat {
                let query = "?limit=\(limit)" + (after.map { "&after=" + PercentEncoding.encodeSegment($0) } ?? "")
                let outcome = try await ExternalTool.run(curl, server.curlIdentity("acme") + [server.url("") + query])
                let page = try JSONDecoder().decode(Listing.self, from: Data(outcome.stdout.utf8))
                #expect(page.entries.count <= limit)
                seen += page.entries.map(\.name)
                after = page.next
                pages += 1
            } while after != nil && pages < 20
            #expect(seen == ["a", "bmount", "c", "m", "n", "y", "zmount"], "limit \(limit): \(seen)")
        }
    }

    @Test("a page starts after the cursor, whether or not the cursor's name still exists")
    func cursor() {
        let names = ["b", "a", "d", "c"]
        #expect(Listing.page(of: names, after: nil, limit: 2) == (["a", "b"], true))
        #expect(Listing.page(of: names, after: "b", limit: 2) == (["c", "d"], false))
        #expect(Listing.page(of: names, after: "bb", limit: 5) == (["c", "d"], false))
        #expect(Listing.page(of: names, after: "d", limit: 5) == ([], false))
    }
}
