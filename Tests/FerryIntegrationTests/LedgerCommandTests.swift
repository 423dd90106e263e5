import FerryTestSupport
import Foundation
import SQLiteNIO
import Testing

/// `ferry ledger verify` and `export` from the command line after real transfers, and the export checked by a
/// program that is not Ferry (scripts/ledger-audit, Python's hashlib).
@Suite("ferry ledger")
struct LedgerCommandTests {
    static let audit = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/ledger-audit").path

    static func sql(_ path: String, _ statement: String) async throws {
        let connection = try await SQLiteConnection.open(storage: .file(path: path))
        _ = try await connection.query(statement, [])
        try await connection.close()
    }

    @Test(
        "after real transfers both ledgers verify and their exports audit; an edited row, a deleted row and a cut end are each named, by ferry and by the independent audit"
    )
    func verifyAndExport() async throws {
        let python = try ExternalTool.require("python3", installHint: "apt-get install python3")
        try await TestServerHarness.with { server in
            let cli = CLITests()
            let folder = server.folder.path
            let environment = ["XDG_STATE_HOME": folder + "/state"]
            let identity = [
                "--cert", server.pki.certificate("acme"), "--key", server.pki.key("acme"), "--ca", server.pki.caFile,
            ]
            let base = "https://localhost:\(server.port)"
            for index in 0..<4 {
                let file = folder + "/file-\(index).csv"
                _ = try TestFiles.write(file, size: 1000 + index)
                let sent = try await cli.run(["send", file, base + "/in/"] + identity, environment: environment)
                #expect(sent.status == 0, "\(sent.output)")
            }
            let missing = try await cli.run(
                ["get", base + "/in/none.csv", folder + "/none.csv"] + identity,
                environment: environment
            )
            #expect(missing.status == 3, "a failed transfer is a row too: \(missing.output)")

            let serverLedger = server.root + "/.ferry/ledger.sqlite"
            for (label, source) in [("client", [String]()), ("server", ["--server", "--root", server.root])] {
                let verify = try await cli.run(["ledger", "verify"] + source, environment: environment)
                #expect(verify.status == 0, "\(label): \(verify.output)")
                // Four files sent, and the failed get where this side records it.
                let rows = try #require(
                    verify.stdout.firstMatch(of: /chain local: ok, (\d+) rows/).flatMap { Int($0.1) },
                    "\(label): \(verify.output)"
                )
                #expect(rows >= 4, "\(label): \(verify.output)")
                let export = folder + "/\(label).jsonl"
                let exported = try await cli.run(
                    ["ledger", "export", "--output", export] + source,
                    environment: environment
                )
                #expect(
                    exported.status == 0 && exported.stderr.contains("chain local: head seq \(rows) "),
                    "\(exported.output)"
                )
                let audited = try await ExternalTool.run(python, [Self.audit, export], timeout: 60)
                #expect(
                    audited.status == 0 && audited.stdout.contains("chain local: ok, \(rows) rows"),
                    "\(audited.output)"
                )
                let csv = try await cli.run(["ledger", "export", "--format", "csv"] + source, environment: environment)
                #expect(csv.stdout.split(separator: "\r\n").count == rows + 1, "\(label): a header and every row")
            }

            // An insider edits the server's ledger: the bytes of the third row.
            try await Self.sql(serverLedger, "UPDATE transfers SET bytes = bytes + 1 WHERE seq = 3")
            let edited = try await cli.run(
                ["ledger", "verify", "--server", "--root", server.root],
                environment: environment
            )
            #expect(edited.status == 4, "\(edited.output)")
            #expect(
                edited.stdout.contains("BROKEN at seq 3") && edited.stdout.contains("content does not match"),
                "\(edited.output)"
            )
            let json = try await cli.run(
                ["ledger", "verify", "--server", "--root", server.root, "--json"],
                environment: environment
            )
            let report = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
            let broken = ((report?["chains"] as? [[String: Any]])?.first?["broken"] as? [String: Any])
            #expect(broken?["seq"] as? Int == 3, "\(json.output)")
            // The audit finds the same row in an export taken now.
            let now = folder + "/server-now.jsonl"
            _ = try await cli.run(
                ["ledger", "export", "--server", "--root", server.root, "--output", now],
                environment: environment
            )
            let audited = try await ExternalTool.run(python, [Self.audit, now], timeout: 60)
            #expect(audited.status == 4 && audited.stdout.contains("BROKEN at seq 3"), "\(audited.output)")

            // The client's ledger: a row deleted in the middle, then the last row cut (seen only against the heads).
            let clientLedger = folder + "/state/ferry/ledger.sqlite"
            try await Self.sql(clientLedger, "DELETE FROM transfers WHERE seq = 2")
            let deleted = try await cli.run(["ledger", "verify"], environment: environment)
            #expect(
                deleted.status == 4 && deleted.stdout.contains("rows 2 to 2 of the chain are missing"),
                "\(deleted.output)"
            )
            try await Self.sql(clientLedger, "DELETE FROM transfers WHERE seq <> 1")
            let cut = try await cli.run(["ledger", "verify"], environment: environment)
            #expect(cut.status == 0, "a chain cut after row 1 holds on its own: \(cut.output)")
            let kept = try await cli.run(
                ["ledger", "verify", "--heads", folder + "/client.jsonl"],
                environment: environment
            )
            #expect(kept.status == 4 && kept.stdout.contains("removed from its end"), "\(kept.output)")

            let noLedger = try await cli.run(
                ["ledger", "verify", "--ledger", folder + "/none.sqlite"],
                environment: environment
            )
            #expect(noLedger.status == 1 && noLedger.stderr.contains("no ledger at"), "\(noLedger.output)")
        }
    }
}
