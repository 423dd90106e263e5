import FerryTestSupport
import Foundation
import Testing

/// Two `ferry serve` nodes with one PostgreSQL ledger (`database.url`): each records its transfers there, and
/// `ferry history --server` from either node's configuration shows them all.
@Suite("Nodes sharing a PostgreSQL ledger")
struct SharedLedgerTests {
    @Test(
        "uploads to two nodes: one ledger holds both, read back from either node; with the database down uploads still answer and their rows follow when it is back; a database that is not there stops the start"
    )
    func twoNodes() async throws {
        let curl = try ExternalTool.require("curl", installHint: "apt-get install curl")
        let postgres = try await PostgresTestServer.start(port: freeLoopbackPort())
        do {
            try await TemporaryDirectory.with("ferry-nodes") { folder in
                let pki = try TestPKI(directory: folder.path + "/pki")
                var configs: [String] = []
                var nodes: [ServeProcess] = []
                for name in ["node-a", "node-b"] {
                    let node = folder.path + "/" + name
                    try FileManager.default.createDirectory(atPath: node, withIntermediateDirectories: true)
                    let config = node + "/ferry.yaml"
                    try """
                    listen: 127.0.0.1:0
                    root: root
                    server:
                      tls: {certificate: ../pki/server.pem, key: ../pki/server-key.pem, ca: ../pki/ca.pem}
                    database:
                      url: "\(postgres.url)"
                      node: \(name)
                    """.write(toFile: config, atomically: true, encoding: .utf8)
                    configs.append(config)
                    nodes.append(try await ServeProcess(config: config, directory: node))
                }
                try "hello".write(toFile: folder.path + "/hello.txt", atomically: true, encoding: .utf8)
                for (index, node) in nodes.enumerated() {
                    let put = try await ExternalTool.run(
                        curl,
                        [
                            "--silent", "--show-error", "--cert", pki.certificate("acme"), "--key", pki.key("acme"),
                            "--cacert", pki.caFile, "-o", "/dev/null", "-w", "%{http_code}", "-T",
                            folder.path + "/hello.txt", "https://localhost:\(node.port)/v1/files/from-\(index).txt",
                        ]
                    )
                    #expect(put.stdout == "201", "\(put.output)")
                }
                // From either node (a row the database was slow to take may sit in the spool for a few seconds).
                for config in configs {
                    var history = try await ExternalTool.run(
                        try CLITests.ferry,
                        ["history", "--server", "--json", "--config", config]
                    )
                    for _ in 0..<30
                    where !(history.stdout.contains("from-0.txt") && history.stdout.contains("from-1.txt")) {
                        try await Task.sleep(for: .seconds(1))
                        history = try await ExternalTool.run(
                            try CLITests.ferry,
                            ["history", "--server", "--json", "--config", config]
                        )
                    }
                    #expect(history.status == 0, "\(history.output)")
                    #expect(
                        history.stdout.contains("from-0.txt") && history.stdout.contains("from-1.txt"),
                        "\(history.output)"
                    )
                }
                // A resumable upload half sent while the database answers: its record and lease live there.
                func tus(_ arguments: [String], body: String? = nil) async throws -> (status: String, text: String) {
                    let outcome = try await ExternalTool.run(
                        curl,
                        [
                            "--silent", "--show-error", "--cert", pki.certificate("acme"), "--key", pki.key("acme"),
                            "--cacert", pki.caFile, "-D", "-", "-H", "Tus-Resumable: 1.0.0",
                        ] + (body.map { ["--data-binary", $0] } ?? []) + arguments
                    )
                    let status = outcome.stdout.split(separator: " ").dropFirst().first.map(String.init) ?? ""
                    return (status, outcome.stdout)
                }
                let metadata = "path " + Data("resumed.txt".utf8).base64EncodedString()
                let created = try await tus([
                    "-X", "POST", "-H", "Upload-Length: 10", "-H", "Upload-Metadata: \(metadata)",
                    "https://localhost:\(nodes[0].port)/v1/uploads",
                ])
                #expect(created.status == "201", "\(created.text)")
                let location = try #require(
                    created.text.split(separator: "\r\n").first { $0.lowercased().hasPrefix("location:") }
                )
                .dropFirst("location: ".count)
                let upload = "https://localhost:\(nodes[0].port)" + location
                let octet = ["-H", "Content-Type: application/offset+octet-stream"]
                let first = try await tus(["-X", "PATCH", "-H", "Upload-Offset: 0"] + octet + [upload], body: "01234")
                #expect(first.status == "204", "\(first.text)")

                // The database stops (as a crash would): uploads still answer at once, each row waits in the node's
                // spool, and reaches the database once it is back.
                await postgres.halt()
                // A PATCH needs its lease from the database: 503 storage-unavailable, which a client retries, and
                // nothing of its body is taken.
                let refused = try await tus(
                    ["-X", "PATCH", "-H", "Upload-Offset: 5"] + octet + [upload],
                    body: "56789"
                )
                #expect(refused.status == "503", "\(refused.text)")
                #expect(refused.text.contains("storage-unavailable"), "\(refused.text)")
                for index in 2..<4 {
                    let started = Date()
                    let put = try await ExternalTool.run(
                        curl,
                        [
                            "--silent", "--show-error", "--cert", pki.certificate("acme"), "--key", pki.key("acme"),
                            "--cacert", pki.caFile, "-o", "/dev/null", "-w", "%{http_code}", "-T",
                            folder.path + "/hello.txt", "https://localhost:\(nodes[0].port)/v1/files/from-\(index).txt",
                        ]
                    )
                    #expect(put.stdout == "201", "\(put.output)")
                    #expect(
                        Date().timeIntervalSince(started) < 50,
                        "an upload waits a few seconds for the database, not the minute it waited before the spool"
                    )
                }
                // The spool, or the part of it a flush is offering (moved aside while the database does not answer).
                let spool = folder.path + "/node-a/root/.ferry/ledger-spool.jsonl"
                let spooled = [spool, spool + ".sending"].compactMap {
                    try? String(contentsOfFile: $0, encoding: .utf8)
                }
                #expect(spooled.joined().contains("from-2.txt"), "the row waits in the spool")
                try await postgres.resume()
                var delivered = false
                for _ in 0..<60 where !delivered {
                    try await Task.sleep(for: .seconds(1))
                    let history = try await ExternalTool.run(
                        try CLITests.ferry,
                        ["history", "--server", "--json", "--config", configs[1]]
                    )
                    delivered = history.stdout.contains("from-2.txt") && history.stdout.contains("from-3.txt")
                }
                #expect(delivered, "the spooled rows reached the database after it came back")
                #expect(
                    !FileManager.default.fileExists(atPath: spool)
                        && !FileManager.default.fileExists(atPath: spool + ".sending"),
                    "and left the spool"
                )
                // Back: the upload is where the 503 left it, and its last PATCH completes it (the nodes here keep
                // files in folders of their own, so the file is at node A).
                let resumed = try await tus(
                    ["-X", "PATCH", "-H", "Upload-Offset: 5"] + octet + [upload],
                    body: "56789"
                )
                #expect(resumed.status == "204", "\(resumed.text)")
                let fetched = try await ExternalTool.run(
                    curl,
                    [
                        "--silent", "--show-error", "--cert", pki.certificate("acme"), "--key", pki.key("acme"),
                        "--cacert", pki.caFile, "https://localhost:\(nodes[0].port)/v1/files/resumed.txt",
                    ]
                )
                #expect(fetched.stdout == "0123456789", "\(fetched.output)")
                // No SQLite ledger was made beside either node.
                for name in ["node-a", "node-b"] {
                    #expect(!FileManager.default.fileExists(atPath: folder.path + "/\(name)/root/.ferry/ledger.sqlite"))
                }
                // A database that is not there: the node does not start, and says which database.
                let bad = folder.path + "/node-a/bad.yaml"
                try (try String(contentsOfFile: configs[0], encoding: .utf8))
                    .replacingOccurrences(of: "127.0.0.1:\(postgres.port)", with: "127.0.0.1:\(freeLoopbackPort())")
                    .write(toFile: bad, atomically: true, encoding: .utf8)
                do {
                    _ = try await ServeProcess(config: bad, directory: folder.path + "/node-a")
                    Issue.record("a node started without its database")
                } catch let failure as ServeProcess.StartFailure {
                    #expect(
                        failure.log.contains("cannot prepare the database postgres://ferry@127.0.0.1"),
                        "\(failure.log)"
                    )
                }
                for node in nodes { try await node.kill() }
            }
        } catch {
            await postgres.stop()
            throw error
        }
        await postgres.stop()
    }
}
