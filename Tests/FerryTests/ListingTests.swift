import FerryProtocol
import FerryTestSupport
import Foundation
import Testing

/// Folder listings come in ordered pages, so a folder of any size can be listed.
@Suite("Paginated listings")
struct ListingTests {
    @Test("curl pages through a folder with limit and after; ferry ls follows the pages of a 12,000-entry folder")
    func pages() async throws {
        guard let curl = try ExternalTool.require("curl", installHint: "apt-get install curl") else { return }
        try await TestServerHarness.with { server in
            let folder = server.root + "/acme/many"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            for index in 0..<12_000 {
                FileManager.default.createFile(atPath: folder + "/f\(String(format: "%05d", index)).txt", contents: nil)
            }
            var names: [String] = []
            var after: String?
            var pages = 0
            repeat {
                let query = "?limit=5000" + (after.map { "&after=" + PercentEncoding.encodeSegment($0) } ?? "")
                let outcome = try await ExternalTool.run(curl, server.curlIdentity("acme") + [server.url("many/") + query])
                let page = try JSONDecoder().decode(Listing.self, from: Data(outcome.stdout.utf8))
                #expect(page.entries.count <= 5000)
                names += page.entries.map(\.name)
                after = page.next
                pages += 1
            } while after != nil && pages < 10
            #expect(pages == 3)
            #expect(names.count == 12_000 && names == names.sorted() && Set(names).count == 12_000)
            let bad = try await ExternalTool.run(curl, server.curlIdentity("acme") + ["-o", "/dev/null", "-w", "%{http_code}", server.url("many/") + "?limit=0"])
            #expect(bad.stdout == "400")

            let ls = try await ExternalTool.run(
                try CLITests.ferry,
                ["ls", "https://localhost:\(server.port)/many/", "--cert", server.pki.certificate("acme"), "--key", server.pki.key("acme"), "--ca", server.pki.caFile],
                environment: ProcessInfo.processInfo.environment.merging(["XDG_STATE_HOME": server.folder.path + "/state"]) { $1 })
            #expect(ls.status == 0, "\(ls.stderr)")
            #expect(ls.stdout.split(separator: "\n").count == 12_000, "\(ls.stdout.split(separator: "\n").count) lines")
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
