import FerryObjectStore
import FerryProtocol
import FerryTestSupport
import Foundation
import Testing

/// Quotas with two `ferry serve` nodes on one PostgreSQL database and one bucket (SeaweedFS): each node admits
/// uploads against the one count in the database, so a partner cannot go over its quota by spreading its uploads
/// over the nodes, and a node that dies stops holding room once it has been silent for the roster's window.
@Suite("Quotas across nodes")
struct MultiNodeQuotaTests {
    static let status = ["-o", "/dev/null", "-w", "%{http_code}"]

    @Test(
        "bytes, files in flight and open resumable uploads are counted once for both nodes; a DELETE on one gives room to the other; a killed node's hold goes with its heartbeat"
    )
    func sharedQuota() async throws {
        let curl = try ExternalTool.require("curl", installHint: "apt-get install curl")
        let s3 = try await S3TestServer.shared(.seaweedfs)
        let database = try await PostgresTestServer.shared().freshDatabase()
        let bucket = try await s3.freshBucket()
        try await TemporaryDirectory.with("ferry-node-quotas") { folder in
            let pki = try TestPKI(directory: folder.path + "/pki")
            let (ports, configs) = try MultiNodeTests.writeNodes(
                ["node-a", "node-b"],
                in: folder.path,
                database: database,
                s3: s3,
                bucket: bucket.settings.bucket,
                extra: "quotas:\n  bytes: 10MiB\n  uploads: 2\n"
            )
            let nodeA = try await ServeProcess(config: configs["node-a"]!, directory: folder.path + "/node-a")
            let nodeB = try await ServeProcess(config: configs["node-b"]!, directory: folder.path + "/node-b")
            let identity = [
                "--silent", "--show-error", "--cert", pki.certificate("acme"), "--key", pki.key("acme"), "--cacert",
                pki.caFile,
            ]
            func url(_ node: String, _ path: String) -> String { "https://localhost:\(ports[node]!)\(path)" }
            func put(_ file: String, _ node: String, _ name: String, _ options: [String] = []) async throws -> String {
                try await ExternalTool.run(
                    curl,
                    identity + Self.status + options + ["-T", file, url(node, "/v1/files/" + name)]
                ).stdout
            }
            var sizes: [Int: String] = [:]
            for mib in [1, 4, 6] {
                sizes[mib] = folder.path + "/\(mib).bin"
                try TestFiles.write(sizes[mib]!, size: mib << 20)
            }
            let files = sizes
            let log = { "A: \(nodeA.log.suffix(1500))\nB: \(nodeB.log.suffix(1500))" }

            // Commits on one node count on the other: A sees B's 4 MiB.
            #expect(try await put(files[4]!, "node-a", "a.bin") == "201", "\(log())")
            #expect(try await put(files[4]!, "node-b", "b.bin") == "201", "\(log())")
            let refused = try await ExternalTool.run(
                curl,
                identity + ["-T", files[4]!, url("node-a", "/v1/files/c.bin")]
            )
            let problem = try? JSONDecoder().decode(Problem.self, from: Data(refused.stdout.utf8))
            #expect(problem?.status == 507 && problem?.quota?.used == 8 << 20, "\(refused.stdout)")
            // A DELETE on B gives the room back to A.
            #expect(
                try await ExternalTool.run(
                    curl,
                    identity + Self.status + ["-X", "DELETE", url("node-b", "/v1/files/b.bin")]
                )
                .stdout == "204"
            )
            #expect(try await put(files[4]!, "node-a", "c.bin") == "201", "\(log())")

            // 8 MiB of 10 used: of three 1 MiB uploads racing on both nodes for the last 2 MiB, two fit.
            let racing = ["--limit-rate", "512K"]
            let one = files[1]!
            async let first = put(one, "node-a", "r1.bin", racing)
            async let second = put(one, "node-b", "r2.bin", racing)
            async let third = put(one, "node-b", "r3.bin", racing)
            let codes = [try await first, try await second, try await third].sorted()
            #expect(codes == ["201", "201", "507"], "\(codes) \(log())")
            #expect(try await put(files[1]!, "node-a", "r4.bin") == "507")

            // Emptied through B (the uploads' holds of 1 byte stay).
            for name in ["a.bin", "c.bin", "r1.bin", "r2.bin", "r3.bin"] {
                _ = try await ExternalTool.run(
                    curl,
                    identity + Self.status + ["-X", "DELETE", url("node-b", "/v1/files/" + name)]
                )
            }
            // Open resumable uploads: two in all, whichever node each was created on.
            func create(_ node: String, _ name: String) async throws -> String {
                try await ExternalTool.run(
                    curl,
                    identity + Self.status + [
                        "-X", "POST", "-H", "Tus-Resumable: 1.0.0", "-H", "Upload-Length: 1",
                        "-H", "Upload-Metadata: path " + Data(name.utf8).base64EncodedString(),
                        url(node, "/v1/uploads"),
                    ]
                ).stdout
            }
            #expect(try await create("node-a", "u1.bin") == "201")
            #expect(try await create("node-b", "u2.bin") == "201")
            #expect(try await create("node-a", "u3.bin") == "429")
            #expect(try await create("node-b", "u3.bin") == "429")

            // A node killed in the middle of an upload: its hold counts while it may still be alive, and goes once it
            // has been silent for the roster's window (30 s).
            let slowArguments =
                identity + Self.status + ["--limit-rate", "256K", "-T", files[6]!, url("node-a", "/v1/files/slow.bin")]
            async let slow = ExternalTool.run(curl, slowArguments)
            try await Task.sleep(for: .seconds(2))
            try await nodeA.kill()
            _ = try? await slow
            let killed = Date()
            #expect(try await put(files[6]!, "node-b", "after.bin") == "507", "the killed node's hold still counts")
            var stored = false
            while !stored, Date().timeIntervalSince(killed) < 90 {
                try await Task.sleep(for: .seconds(3))
                stored = try await put(files[6]!, "node-b", "after.bin") == "201"
            }
            #expect(stored, "the hold of the killed node went: \(log())")
            #expect(Date().timeIntervalSince(killed) > 20, "not before the node could have been silent for the window")
            let listing = try await ExternalTool.run(curl, identity + [url("node-b", "/v1/files/")]).stdout
            #expect(!listing.contains("slow.bin") && listing.contains("after.bin"), "\(listing)")
        }
    }
}
