import FerryObjectStore
import FerryProtocol
import FerryTestSupport
import Foundation
import Testing

/// What two `ferry serve` nodes on one PostgreSQL database and one bucket (SeaweedFS) decide together: quotas (each
/// node admits uploads against the one count in the database, so a partner cannot go over its quota by spreading its
/// uploads over the nodes, and a node that dies stops holding room once it has been silent for the roster's window),
/// and names (a file and a folder of one name are never both made, whichever nodes make them).
@Suite("Quotas and names across nodes")
struct MultiNodeSharingTests {
    static let status = ["-o", "/dev/null", "-w", "%{http_code}"]

    /// Two nodes, `node-a` and `node-b`, on one database and a fresh bucket of the shared SeaweedFS, each with its
    /// own extra YAML; curl as the partner acme.
    struct Cluster {
        let folder: String
        let curl: String
        let ports: [String: Int]
        let nodes: [String: ServeProcess]
        let bucket: S3Client
        let identity: [String]

        func url(_ node: String, _ path: String) -> String { "https://localhost:\(ports[node]!)\(path)" }
        /// The end of both nodes' logs, for a failure's message.
        var log: String { nodes.keys.sorted().map { "\($0): \(nodes[$0]!.log.suffix(1500))" }.joined(separator: "\n") }
    }

    static func withCluster(
        database: String? = nil,
        extras: [String: String] = [:],
        _ body: (Cluster) async throws -> Void
    ) async throws {
        let curl = try ExternalTool.require("curl", installHint: "apt-get install curl")
        let s3 = try await S3TestServer.shared(.seaweedfs)
        var shared = database
        if shared == nil { shared = try await PostgresTestServer.shared().freshDatabase() }
        let database = shared!
        let bucket = try await s3.freshBucket()
        try await TemporaryDirectory.with("ferry-cluster") { folder in
            let pki = try TestPKI(directory: folder.path + "/pki")
            var ports: [String: Int] = [:]
            var nodes: [String: ServeProcess] = [:]
            for name in ["node-a", "node-b"] {
                let written = try MultiNodeTests.writeNodes(
                    [name],
                    in: folder.path,
                    database: database,
                    s3: s3,
                    bucket: bucket.settings.bucket,
                    extra: extras[name] ?? ""
                )
                ports[name] = written.ports[name]
                nodes[name] = try await ServeProcess(
                    config: written.configs[name]!,
                    directory: folder.path + "/" + name
                )
            }
            let identity = [
                "--silent", "--show-error", "--cert", pki.certificate("acme"), "--key", pki.key("acme"), "--cacert",
                pki.caFile,
            ]
            try await body(
                Cluster(folder: folder.path, curl: curl, ports: ports, nodes: nodes, bucket: bucket, identity: identity)
            )
        }
    }

    @Test(
        "bytes, files in flight and open resumable uploads are counted once for both nodes; a DELETE on one gives room to the other; a killed node's hold goes with its heartbeat"
    )
    func sharedQuota() async throws {
        let quota = "quotas:\n  bytes: 10MiB\n  uploads: 2\n"
        try await Self.withCluster(extras: ["node-a": quota, "node-b": quota]) { cluster in
            let (curl, identity, folder, ports) = (cluster.curl, cluster.identity, cluster.folder, cluster.ports)
            func url(_ node: String, _ path: String) -> String { "https://localhost:\(ports[node]!)\(path)" }
            func put(_ file: String, _ node: String, _ name: String, _ options: [String] = []) async throws -> String {
                try await ExternalTool.run(
                    curl,
                    identity + Self.status + options + ["-T", file, url(node, "/v1/files/" + name)]
                ).stdout
            }
            var sizes: [Int: String] = [:]
            for mib in [1, 4, 6] {
                sizes[mib] = folder + "/\(mib).bin"
                try TestFiles.write(sizes[mib]!, size: mib << 20)
            }
            let files = sizes
            let log = { cluster.log }

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
            try await cluster.nodes["node-a"]!.kill()
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

    @Test(
        "a file and a folder of one name made at once on two nodes: one commit wins, the other is refused, every time"
    )
    func fileAgainstFolder() async throws {
        try await Self.withCluster { cluster in
            let (curl, identity, ports, bucket) = (cluster.curl, cluster.identity, cluster.ports, cluster.bucket)
            let file = cluster.folder + "/small.bin"
            try TestFiles.write(file, size: 64 << 10)
            func put(_ node: String, _ path: String) async throws -> String {
                try await ExternalTool.run(
                    curl,
                    identity + Self.status + ["-T", file, "https://localhost:\(ports[node]!)/v1/files/" + path]
                ).stdout
            }
            var outcomes: [String] = []
            for round in 0..<24 {
                // The file `x` on one node, the file `x/y` (which makes `x` a folder) on the other, at once.
                let (fileNode, folderNode) = round % 2 == 0 ? ("node-a", "node-b") : ("node-b", "node-a")
                async let asFile = put(fileNode, "r\(round)/x")
                async let asFolder = put(folderNode, "r\(round)/x/y")
                let codes = [try await asFile, try await asFolder]
                outcomes.append(codes.joined(separator: "/"))
                #expect(codes.filter { $0 == "201" }.count == 1, "round \(round): \(codes)")
                #expect(codes.allSatisfy { $0 == "201" || $0 == "409" }, "round \(round): \(codes)")
            }
            // What the bucket holds agrees: in each round, a file `x` or a folder `x`, never both.
            for round in 0..<24 {
                let keys = try await bucket.list(prefix: "served/acme/r\(round)/", maximum: 10).objects.map(\.key)
                #expect(keys.count == 1, "round \(round): \(keys)")
            }
            print("file against folder, file/folder codes per round:", outcomes.joined(separator: " "))
        }
    }

    @Test(
        "the database stops answering: a PUT without a quota is still committed (under the node's own lock, in seconds), a PUT under a quota gets 503 storage-unavailable, and both work once it is back"
    )
    func databaseOutage() async throws {
        let postgres = try await PostgresTestServer.start(port: freeLoopbackPort())
        do {
            // Node B has a quota, node A none: the two paths that need the database at a commit.
            try await Self.withCluster(database: postgres.url, extras: ["node-b": "quotas:\n  bytes: 10MiB\n"]) {
                cluster in
                let (curl, identity, bucket) = (cluster.curl, cluster.identity, cluster.bucket)
                let file = cluster.folder + "/small.bin"
                try TestFiles.write(file, size: 64 << 10)
                func put(_ node: String, _ path: String) async throws -> (code: String, seconds: Double) {
                    let started = Date()
                    let outcome = try await ExternalTool.run(
                        curl,
                        identity + ["-w", "%{http_code}", "-T", file, cluster.url(node, "/v1/files/" + path)]
                    )
                    return (outcome.stdout, Date().timeIntervalSince(started))
                }
                #expect(try await put("node-a", "before-a.bin").code == "201")
                #expect(try await put("node-b", "before-b.bin").code == "201")
                await postgres.halt()
                let unquoted = try await put("node-a", "during-a.bin")
                #expect(unquoted.code == "201", "\(unquoted) \(cluster.log)")
                #expect(unquoted.seconds < 30, "not the two minutes of a lock's deadline: \(unquoted.seconds) s")
                let refused = try await put("node-b", "during-b.bin")
                #expect(
                    refused.code.hasSuffix("503") && refused.code.contains("storage-unavailable"),
                    "\(refused) \(cluster.log)"
                )
                #expect(refused.seconds < 30, "\(refused.seconds) s")
                print(
                    "database outage: PUT without a quota \(unquoted.code) in \(unquoted.seconds) s, under a quota in \(refused.seconds) s"
                )
                try await postgres.resume()
                var after = try await put("node-b", "after-b.bin")
                for _ in 0..<20 where after.code != "201" {
                    try await Task.sleep(for: .seconds(1))
                    after = try await put("node-b", "after-b.bin")
                }
                #expect(after.code == "201", "\(after)")
                let keys = try await bucket.list(prefix: "served/acme/", maximum: 10).objects.map(\.key).sorted()
                #expect(
                    keys
                        == ["after-b.bin", "before-a.bin", "before-b.bin", "during-a.bin"].map { "served/acme/" + $0 },
                    "\(keys)"
                )
            }
        } catch {
            await postgres.stop()
            throw error
        }
        await postgres.stop()
    }
}
