import FerryTestSupport
import Foundation
import Testing

/// Traces of live Ferry connections: `ferry send --trace --pcapng`, `ferry trace` on the result, and the
/// server's flight recorder (failed handshakes logged with their trace, `--pcapng-dir`).
@Suite("Handshake traces of live connections", .serialized)
struct TraceLiveTests {
    func ferry(
        _ arguments: [String],
        directory: String? = nil,
        state: String? = nil
    ) async throws -> ExternalTool.Outcome {
        var environment = ProcessInfo.processInfo.environment
        if let state { environment["XDG_STATE_HOME"] = state }
        return try await ExternalTool.run(
            try CLITests.ferry,
            arguments,
            timeout: 60,
            environment: environment,
            directory: directory
        )
    }

    @Test(
        "send --trace prints the decrypted handshake; --pcapng writes a file tshark decodes and decrypts with no options"
    )
    func clientTrace() async throws {
        try await TestServerHarness.with { server in
            let file = server.folder.path + "/data.bin"
            _ = try TestFiles.write(file, size: 300_000)
            let capture = server.folder.path + "/send.pcapng"
            let identity = [
                "--cert", server.pki.certificate("acme"), "--key", server.pki.key("acme"), "--ca", server.pki.caFile,
            ]
            let send = try await ferry(
                ["send", file, "https://localhost:\(server.port)/in/", "--trace", "--pcapng", capture] + identity,
                state: server.folder.path + "/state"
            )
            #expect(send.status == 0, "\(send.output)")
            #expect(send.stderr.contains(" ->  0.000"), "\(send.stderr)")
            #expect(send.stderr.contains("TLS1.0: HSHK( CLIENT_HELLO )"))
            #expect(
                send.stderr.contains(
                    "TLS1.2: [decrypted] HSHK( ENCRYPTED_EXTENSIONS CERTIFICATE_REQUEST CERTIFICATE CERTIFICATE_VERIFY FINISHED )"
                )
            )
            #expect(send.stderr.contains("TLS1.2: [decrypted] HSHK( CERTIFICATE CERTIFICATE_VERIFY FINISHED )"))
            #expect(send.stderr.contains("negotiated TLS1.3"))

            // tshark reads the keys from the file's Decryption Secrets Block: no key log option.
            let tshark = try await HandshakeFacts.tshark(capture, keylog: nil, serverPort: server.port)
            #expect(
                tshark.serverMessages.prefix(6) == [2, 8, 13, 11, 15, 20],
                "tshark decrypted the server's flight: \(tshark)"
            )
            #expect(tshark.clientMessages.prefix(4) == [1, 11, 15, 20])
            #expect(tshark.distinguishedNames == ["CN=Ferry Test CA,O=Example"])
            #expect(try HandshakeFacts.ferry(capture, keylog: nil) == tshark)

            let json = try await ferry(["trace", capture, "--json"])
            #expect(json.status == 0, "\(json.output)")
            let objects = json.stdout.split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
            #expect(objects.count == json.stdout.split(separator: "\n").count, "every line is a JSON object")
            #expect(objects.first?["event"] as? String == "connection")
            let outcome = objects.last { $0["event"] as? String == "outcome" }
            #expect(outcome?["version"] as? String == "TLS1.3")
            #expect(outcome?["handshake_completed"] as? Bool == true)
            let decrypted = objects.filter { $0["protection"] as? String == "decrypted" }
            #expect(!decrypted.isEmpty)
        }
    }

    @Test("get --trace=verbose names the server certificate and the CA list")
    func verboseTrace() async throws {
        try await TestServerHarness.with { server in
            try FileManager.default.createDirectory(atPath: server.root + "/acme", withIntermediateDirectories: true)
            try Data("hello".utf8).write(to: URL(fileURLWithPath: server.root + "/acme/hello.txt"))
            let identity = [
                "--cert", server.pki.certificate("acme"), "--key", server.pki.key("acme"), "--ca", server.pki.caFile,
            ]
            let get = try await ferry(
                [
                    "get", "https://localhost:\(server.port)/hello.txt", server.folder.path + "/copy.txt",
                    "--trace=verbose",
                ] + identity,
                state: server.folder.path + "/state"
            )
            #expect(get.status == 0, "\(get.output)")
            #expect(get.stderr.contains("Subject: CN=localhost"))
            #expect(get.stderr.contains("Distinguished Name: CN=Ferry Test CA,O=Example"))
            #expect(get.stderr.contains("Extension: certificate_authorities"))
        }
    }

    @Test("ferry serve logs a failed handshake with its trace and writes it to --pcapng-dir")
    func serverFlightRecorder() async throws {
        try await TemporaryDirectory.with("ferry-trace") { folder in
            let pki = try TestPKI(directory: folder.path + "/pki")
            let port = freeLoopbackPort()
            let config = try ServeProcess.writeConfig(in: folder.path, port: port)
            let server = try await ServeProcess(
                config: config,
                directory: folder.path,
                arguments: ["--pcapng-dir", "captures"]
            )
            // A client whose certificate comes from a CA the server does not trust.
            let state = folder.path + "/state"
            let refused = try await ferry(
                [
                    "ls", "https://localhost:\(port)/", "--cert", pki.certificate("intruder"), "--key",
                    pki.key("intruder"), "--ca", pki.caFile,
                ],
                state: state
            )
            #expect(refused.status == 2, "\(refused.output)")
            // The client's message carries the findings from its own trace, the library's words last.
            #expect(
                refused.stderr.contains("[peer-alert] The server aborted the handshake with unknown_ca (48)"),
                "\(refused.stderr)"
            )
            #expect(
                refused.stderr.contains("the client's certificate: CN=intruder") == false,
                "evidence stays out of the short message"
            )
            let lines = refused.stderr.split(separator: "\n")
            #expect(lines.last?.hasPrefix("TLS library said:") == true)
            // The client ledger keeps the failure with its finding ids.
            let history = try await ferry(["history", "--json"], state: state)
            let rows = try JSONSerialization.jsonObject(with: Data(history.stdout.utf8)) as? [[String: Any]]
            #expect(rows?.first?["result"] as? String == "failed", "\(history.output)")
            // The send path runs the CA-name checks on the certificate it sent, as diagnose does.
            #expect(
                rows?.first?["findings"] as? [String] == ["client-issuer-not-in-ca-names", "peer-alert"],
                "\(history.output)"
            )
            #expect(rows?.first?["operation"] as? String == "LIST")
            var log = ""
            for _ in 0..<100 where !log.contains("UNKNOWN_CA )") {
                try await Task.sleep(for: .milliseconds(50))
                log = server.log
            }
            #expect(log.contains("TLS handshake failed; trace (-> sent by this server)"), "\(log)")
            #expect(log.contains("findings=peer-alert"))
            // The server's ledger keeps the refused handshake too, with its findings and the client's identity.
            let serverHistory = try await ferry(
                ["history", "--server", "--root", "root", "--json"],
                directory: folder.path
            )
            let serverRows = try JSONSerialization.jsonObject(with: Data(serverHistory.stdout.utf8)) as? [[String: Any]]
            let refusedRow = serverRows?.first { $0["operation"] as? String == "TLS" }
            #expect(refusedRow?["result"] as? String == "failed", "\(serverHistory.output)")
            #expect(refusedRow?["findings"] as? [String] == ["peer-alert"])
            #expect((refusedRow?["peerSubject"] as? String)?.contains("CN=intruder") == true)
            #expect(log.contains("[peer-alert] This side (the server) aborted the handshake with unknown_ca (48)"))
            let alertLine = log.split(separator: "\n").first { $0.contains("ALERT( FATAL: UNKNOWN_CA )") }
            // Sent by this server (->), encrypted under TLS 1.3 and decrypted with the connection's keys; the record
            // layer's legacy version is TLS 1.2.
            #expect(
                alertLine?.hasPrefix(" -> ") == true
                    && alertLine?.hasSuffix("TLS1.2: [decrypted] ALERT( FATAL: UNKNOWN_CA )") == true,
                "\(String(describing: alertLine))"
            )
            let captures = try FileManager.default.contentsOfDirectory(atPath: folder.path + "/captures")
            let failed = try #require(captures.first { $0.hasSuffix("-failed.pcapng") }, "\(captures)")
            let trace = try await ferry(["trace", folder.path + "/captures/" + failed])
            #expect(trace.status == 0)
            #expect(trace.stdout.contains("handshake failed: the server sent FATAL: UNKNOWN_CA"), "\(trace.stdout)")
            try await server.kill()
        }
    }

    @Test("ferry trace explains what it cannot read")
    func traceErrors() async throws {
        try await TemporaryDirectory.with("ferry-trace") { folder in
            let text = folder.path + "/notes.txt"
            try "hello".write(toFile: text, atomically: true, encoding: .utf8)
            let notCapture = try await ferry(["trace", text])
            #expect(notCapture.status == 1)
            #expect(notCapture.stderr.contains("not a pcap or pcapng file"))
            let missing = try await ferry(["trace", folder.path + "/nope.pcapng"])
            #expect(missing.status == 1)
            #expect(missing.stderr.contains("cannot read"))
        }
    }
}
