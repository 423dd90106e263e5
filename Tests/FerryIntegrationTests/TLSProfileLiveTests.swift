import FerryClient
import FerryConfig
import FerryLedger
import FerryProtocol
import FerryServer
import FerryTLS
import FerryTestSupport
import Foundation
import NIOSSL
import Testing

/// TLS profiles on a real server, against real peers: a server started from a configssl.cnf, protocol versions
/// with openssl s_client, verify depth and TLS 1.3 suites with curl, and a certificate reload while an upload
/// is in flight.
@Suite("TLS profiles on a live server", .serialized)
struct TLSProfileLiveTests {
    static let opensslHint = "apt-get install openssl"
    static let curlHint = "apt-get install curl"

    /// `ferry serve` as its own process (so it can be sent SIGHUP); returns it and its port.
    static func serve(
        _ arguments: [String],
        environment: [String: String] = [:]
    ) async throws -> (BackgroundProcess, Int) {
        var variables = ProcessInfo.processInfo.environment
        for (key, value) in environment { variables[key] = value }
        let server = try BackgroundProcess(
            try CLITests.ferry,
            ["serve", "--listen", "127.0.0.1:0"] + arguments,
            environment: variables
        )
        guard try await server.waitForOutput("https://", timeout: 30) else {
            await server.stop()
            throw ServeProcess.StartFailure(log: server.output)
        }
        // The whole line with the address, not the part of it printed so far.
        let deadline = ContinuousClock.now + .seconds(10)
        while !(server.output.split(separator: "https://", maxSplits: 1).last?.contains("\n") ?? false),
            ContinuousClock.now < deadline
        {
            try await Task.sleep(for: .milliseconds(10))
        }
        let url =
            server.output.split(whereSeparator: { $0 == " " || $0 == "\n" }).first { $0.hasPrefix("https://") } ?? ""
        let port = try #require(
            Int(url.split(separator: ":").last?.split(separator: " ").first ?? ""),
            "no port in \(server.output)"
        )
        return (server, port)
    }

    @Test(
        "a server started from a configssl.cnf (encrypted key, '$' in its pass phrase) accepts the clients its [CA] names and refuses others"
    )
    func fromConfigSSL() async throws {
        let curl = try ExternalTool.require("curl", installHint: Self.curlHint)
        try await TemporaryDirectory.with { folder in
            let pki = try TestPKI(directory: folder.path + "/ssl")
            guard
                try await XCOMConfigTests.encrypt(
                    pki.serverKey,
                    to: folder.path + "/ssl/serverkey.pem",
                    passphrase: "pa$$word"
                )
            else { return }
            let cnf = folder.path + "/configssl.cnf"
            try """
            # XCOM TLS settings, as shipped, with the receive side filled in
            [SSL_METHOD]
            INITIATE_SIDE = ALL
            RECEIVE_SIDE = TLS
            [VERIFY_CERTIFICATE]
            RECEIVE_SIDE = YES
            [VERIFY_DEPTH]
            RECEIVE_SIDE = 4
            [CA]
            RECEIVE_SIDE = ssl/ca.pem
            [CERTIFICATE]
            RECEIVE_SIDE = ssl/server.pem
            [PRIVATEKEY]
            RECEIVE_SIDE = ssl/serverkey.pem
            [PASSWORD]
            RECEIVE_SIDE = pa\\$\\$word
            [KEYRING]
            RECEIVE_SIDE = XCOMRING
            """.write(toFile: cnf, atomically: true, encoding: .utf8)
            let (server, port) = try await Self.serve(["--xcom-config", cnf, "--root", folder.path + "/root"])
            defer { Task { await server.stop() } }
            #expect(
                server.output.contains("only z/OS System SSL can read"),
                "the KEYRING section is explained at startup"
            )
            #expect(server.output.contains("client certificates required, CA names sent"))

            try Data(repeating: 7, count: 100_000).write(to: URL(fileURLWithPath: folder.path + "/payload.bin"))
            let cli = CLITests()
            let sent = try await cli.run([
                "send", "--cert", pki.certificate("acme"), "--key", pki.key("acme"), "--ca", pki.caFile, "--no-ledger",
                folder.path + "/payload.bin", "https://localhost:\(port)/",
            ])
            #expect(sent.status == 0, "\(sent.output)")
            let curled = try await ExternalTool.run(
                curl,
                [
                    "--silent", "--show-error", "--cert", pki.certificate("bank"), "--key", pki.key("bank"), "--cacert",
                    pki.caFile,
                    "-o", "/dev/null", "-w", "%{http_code}", "-T", folder.path + "/payload.bin",
                    "https://localhost:\(port)/v1/files/curl.bin",
                ]
            )
            #expect(curled.stdout == "201", "\(curled.output)")
            let intruder = try await ExternalTool.run(
                curl,
                [
                    "--silent", "--show-error", "--cert", pki.certificate("intruder"), "--key", pki.key("intruder"),
                    "--cacert", pki.caFile,
                    "-o", "/dev/null", "https://localhost:\(port)/v1/files/",
                ]
            )
            #expect(intruder.status != 0, "a client certificate from another CA is refused at the handshake")
            // curl's own message depends on when it notices the alert; the server's log says what it sent.
            #expect(try await server.waitForOutput("TLS handshake failed", timeout: 10), "\(server.output)")
            #expect(server.output.contains("unknown_ca"), "\(server.output)")
        }
    }

    /// openssl s_client with a client certificate, at one protocol version; TLS 1.0/1.1 need OpenSSL's
    /// security level 0 on the client side.
    static func sClient(_ server: TestServerHarness, _ arguments: [String]) async throws -> String {
        let openssl = try ExternalTool.require("openssl", installHint: opensslHint)
        let outcome = try await ExternalTool.run(
            openssl,
            [
                "s_client", "-connect", "127.0.0.1:\(server.port)", "-servername", "localhost",
                "-cert", server.pki.certificate("acme"), "-key", server.pki.key("acme"), "-CAfile", server.pki.caFile,
            ] + arguments,
            input: "",
            timeout: 30
        )
        return outcome.output
    }

    @Test("openssl s_client -tls1_1 is refused by default and accepted when the profile allows TLS 1.1")
    func legacyVersion() async throws {
        let tls11 = ["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"]
        try await TestServerHarness.with { server in
            let refused = try await Self.sClient(server, tls11)
            #expect(refused.contains("alert protocol version"), "\(refused)")
        }
        try await TestServerHarness.with(configure: { configuration, _ in
            configuration.serverTLS?.minimumVersion = .tlsv11
        }) { server in
            #expect(
                try server.running.server.tls.current.warnings.contains { $0.contains("TLS 1.0/1.1 are deprecated") }
            )
            let accepted = try await Self.sClient(server, tls11)
            #expect(accepted.contains("Protocol  : TLSv1.1") || accepted.contains("Protocol: TLSv1.1"), "\(accepted)")
            #expect(accepted.contains("Cipher is ECDHE-ECDSA-AES"), "a CBC suite, the best TLS 1.1 has: \(accepted)")
            #expect(accepted.contains("Verification: OK") || accepted.contains("Verify return code: 0 (ok)"))
        }
    }

    @Test("VERIFY_CERTIFICATE RECEIVE_SIDE = NO: no client certificate is requested, with a warning")
    func noClientCertificate() async throws {
        try await TestServerHarness.with(configure: { configuration, _ in
            configuration.serverTLS?.clientAuthentication = .none
        }) { server in
            #expect(server.running.server.tls.current.warnings.contains { $0.contains("client-auth is none") })
            let trace = try await Self.sClient(server, ["-tls1_2", "-trace"])
            #expect(trace.contains("ServerHelloDone"), "\(trace)")
            #expect(!trace.contains("CertificateRequest"), "no CertificateRequest: \(trace)")
        }
    }

    /// A client certificate two intermediate CAs below the root, as a chain file curl sends whole.
    static func deepClient(_ pki: TestPKI) throws -> (chain: String, key: String) {
        let first = try pki.ca.issueSubordinate(commonName: "Ferry Test Intermediate 1")
        let second = try first.issueSubordinate(commonName: "Ferry Test Intermediate 2")
        let leaf = try second.issue(commonName: "deep", purpose: .client)
        let chain = pki.directory + "/deep-chain.pem"
        try [leaf.certificatePEM, second.certificatePEM, first.certificatePEM].joined(separator: "\n").write(
            toFile: chain,
            atomically: true,
            encoding: .utf8
        )
        try leaf.privateKeyPEM.write(toFile: pki.directory + "/deep-key.pem", atomically: true, encoding: .utf8)
        return (chain, pki.directory + "/deep-key.pem")
    }

    @Test(
        "verify depth: a client chain with two intermediate CAs is refused at depth 1 (with the reason in the ledger) and accepted at depth 2",
        arguments: [1, 2]
    )
    func verifyDepth(depth: Int) async throws {
        let curl = try ExternalTool.require("curl", installHint: Self.curlHint)
        try await TestServerHarness.with(configure: { configuration, _ in
            configuration.serverTLS?.verifyDepth = depth
        }) { server in
            let (chain, key) = try Self.deepClient(server.pki)
            let outcome = try await ExternalTool.run(
                curl,
                [
                    "--silent", "--show-error", "--cert", chain, "--key", key, "--cacert", server.pki.caFile,
                    "-o", "/dev/null", "-w", "%{http_code}", "--data-binary", "x", "-X", "PUT", server.url("deep.txt"),
                ]
            )
            if depth == 2 {
                #expect(outcome.stdout == "201", "\(outcome.output)")
            } else {
                #expect(outcome.status != 0, "\(outcome.output)")
                var rows = try await server.ledger.recent(limit: 10)
                for _ in 0..<50 where rows.isEmpty {
                    try await Task.sleep(for: .milliseconds(100))
                    rows = try await server.ledger.recent(limit: 10)
                }
                let row = try #require(rows.first)
                #expect(row.operation == .tls && row.result == .failed)
                #expect(row.error?.contains("deeper than verify-depth 1") == true, "\(row.error ?? "")")
            }
        }
    }

    @Test(
        "the initiate side's verify depth: a server chain with two intermediates is refused at depth 1, with the reason, and accepted at 2"
    )
    func clientVerifyDepth() async throws {
        try await TestServerHarness.with(configure: { configuration, pki in
            let first = try! pki.ca.issueSubordinate(commonName: "Ferry Test Intermediate 1")
            let second = try! first.issueSubordinate(commonName: "Ferry Test Intermediate 2")
            let leaf = try! second.issue(
                commonName: "deep-server",
                purpose: .server,
                dnsNames: ["localhost"],
                ipAddresses: ["127.0.0.1"]
            )
            try! [leaf.certificatePEM, second.certificatePEM, first.certificatePEM].joined(separator: "\n").write(
                toFile: pki.directory + "/deep-server.pem",
                atomically: true,
                encoding: .utf8
            )
            try! leaf.privateKeyPEM.write(
                toFile: pki.directory + "/deep-server-key.pem",
                atomically: true,
                encoding: .utf8
            )
            configuration.serverTLS?.certificate = pki.directory + "/deep-server.pem"
            configuration.serverTLS?.privateKey = pki.directory + "/deep-server-key.pem"
        }) { server in
            var profile = server.pki.clientProfile("acme")
            profile.verifyDepth = 1
            do {
                _ = try await TransferClient(tls: try profile.makeConfiguration(), ledger: nil).list(
                    try server.target("")
                )
                Issue.record("a chain deeper than verify-depth must be refused")
            } catch let error as TransferError {
                #expect(error.code == .tlsHandshake)
                #expect(
                    error.message.contains(
                        "This client refused the server: the peer's certificate chain has more than 1 intermediate"
                    ),
                    "\(error.message)"
                )
            }
            profile.verifyDepth = 2
            _ = try await TransferClient(tls: try profile.makeConfiguration(), ledger: nil).list(try server.target(""))
        }
    }

    @Test(
        "TLS 1.3 cipher-suites: a connection that agrees on a suite outside the list is closed; one inside it works",
        arguments: ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384"]
    )
    func tls13Suites(offered: String) async throws {
        let curl = try ExternalTool.require("curl", installHint: Self.curlHint)
        try await TestServerHarness.with(configure: { configuration, _ in
            configuration.serverTLS?.tls13Suites = ["TLS_AES_256_GCM_SHA384"]
        }) { server in
            let outcome = try await ExternalTool.run(
                curl,
                server.curlIdentity("acme") + [
                    "--tlsv1.3", "--tls13-ciphers", offered,
                    "-o", "/dev/null", "-w", "%{http_code}", "--data-binary", "x", "-X", "PUT", server.url("suite.txt"),
                ]
            )
            if offered == "TLS_AES_256_GCM_SHA384" {
                #expect(outcome.stdout == "201", "\(outcome.output)")
            } else {
                #expect(outcome.status != 0 && outcome.stdout != "201", "\(outcome.output)")
                #expect(!FileManager.default.fileExists(atPath: server.root + "/acme/suite.txt"))
            }
        }
    }

    @Test(
        "hot reload: SIGHUP swaps the server certificate without dropping an upload in flight; a bad file keeps the old one; expiry is warned; reloads are logged; health shows liveness only"
    )
    func hotReload() async throws {
        let curl = try ExternalTool.require("curl", installHint: Self.curlHint)
        let openssl = try ExternalTool.require("openssl", installHint: Self.opensslHint)
        try await TemporaryDirectory.with { folder in
            let pki = try TestPKI(directory: folder.path + "/pki")
            // A server certificate that expires in 10 days: warned about at startup.
            try pki.issue("server", purpose: .server, days: 10)
            let config = folder.path + "/ferry.yaml"
            try
                "root: \(folder.path)/root\nserver:\n  tls: {certificate: \(pki.serverCertificate), key: \(pki.serverKey), ca: \(pki.caFile)}\n"
                .write(toFile: config, atomically: true, encoding: .utf8)
            let (server, port) = try await Self.serve(["--config", config])
            defer { Task { await server.stop() } }
            // Logged by the certificate service as the server starts, beside the banner: waited for, not assumed
            // to come first.
            for _ in 0..<100 where !server.output.contains("certificate expiring") {
                try await Task.sleep(for: .milliseconds(100))
            }
            // Certificate times have whole seconds, so "10 days from now" may count as 9 or 10 whole days.
            #expect(
                server.output.contains("certificate expiring")
                    && (server.output.contains("expires in 9 day(s)")
                        || server.output.contains("expires in 10 day(s)")),
                "\(server.output)"
            )

            func servedSubject() async throws -> String {
                let outcome = try await ExternalTool.run(
                    openssl,
                    [
                        "s_client", "-connect", "127.0.0.1:\(port)", "-servername", "localhost", "-CAfile", pki.caFile,
                        "-cert", pki.certificate("acme"), "-key", pki.key("acme"),
                    ],
                    input: "",
                    timeout: 30
                )
                return outcome.output.split(separator: "\n").first { $0.hasPrefix("subject=") }.map(String.init)
                    ?? outcome.output
            }
            #expect(try await servedSubject().contains("CN = server"))

            // An upload paced at 4 MiB/s, 16 MiB long: in flight across the reload.
            let source = folder.path + "/big.bin"
            FileManager.default.createFile(atPath: source, contents: nil)
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: source))
            for index in 0..<16 { handle.write(Data(repeating: UInt8(index), count: 1 << 20)) }
            try handle.close()
            async let upload = ExternalTool.run(
                curl,
                [
                    "--silent", "--show-error", "--cert", pki.certificate("acme"), "--key", pki.key("acme"), "--cacert",
                    pki.caFile,
                    "--limit-rate", "4M", "-o", "/dev/null", "-w", "%{http_code}", "-T", source,
                    "https://localhost:\(port)/v1/files/big.bin",
                ]
            )
            // In flight: the server is writing its staged file.
            let staged = folder.path + "/root/.ferry/tmp"
            #expect(
                await waitForPart(in: staged, atLeast: 1 << 20, named: { $0.hasPrefix("put-") }),
                "the upload never started"
            )

            // Renew: a new certificate and key under the same names; the server notices the change by itself.
            let renewed = try pki.ca.issue(
                commonName: "renewed",
                purpose: .server,
                dnsNames: ["localhost"],
                ipAddresses: ["127.0.0.1"]
            )
            try renewed.privateKeyPEM.write(toFile: pki.serverKey, atomically: true, encoding: .utf8)
            try renewed.certificatePEM.write(toFile: pki.serverCertificate, atomically: true, encoding: .utf8)
            #expect(
                try await server.waitForOutput("reason=a certificate, key or CA file changed", timeout: 10),
                "\(server.output)"
            )
            #expect(server.output.contains("TLS context reloaded"))
            #expect(
                !server.output.contains("TLS reload refused"),
                "the key and certificate were replaced one after the other: one reload, no mismatch"
            )
            #expect(try await servedSubject().contains("CN = renewed"), "new connections get the new certificate")
            #expect(
                try !FileManager.default.contentsOfDirectory(atPath: staged).isEmpty,
                "the upload was still in flight after the reload"
            )

            let uploaded = try await upload
            #expect(
                uploaded.status == 0 && uploaded.stdout == "201",
                "the upload in flight finished: \(uploaded.output)"
            )
            let original = try Data(contentsOf: URL(fileURLWithPath: source))
            let stored = try Data(contentsOf: URL(fileURLWithPath: folder.path + "/root/acme/big.bin"))
            #expect(stored == original)

            // SIGHUP reloads at once.
            server.send(SIGHUP)
            #expect(try await server.waitForOutput("reason=SIGHUP", timeout: 10), "\(server.output)")

            // A broken file is refused; the renewed certificate stays in use.
            try "-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n".write(
                toFile: pki.serverCertificate,
                atomically: true,
                encoding: .utf8
            )
            #expect(try await server.waitForOutput("TLS reload refused", timeout: 10), "\(server.output)")
            #expect(try await servedSubject().contains("CN = renewed"))

            // The operator reads reloads in the log: start, file change, SIGHUP; the refused reload does not count.
            #expect(
                server.output.contains("generation=2") && server.output.contains("generation=3"),
                "\(server.output)"
            )
            #expect(server.output.contains("subject=CN=renewed,O=Ferry"))
            // A partner gets liveness only: no files, subjects or reload counts.
            let health = try await ExternalTool.run(
                curl,
                [
                    "--silent", "--cert", pki.certificate("acme"), "--key", pki.key("acme"), "--cacert", pki.caFile,
                    "https://localhost:\(port)/v1/health",
                ]
            )
            #expect(health.stdout == #"{"status":"ok"}"#, "\(health.output)")
        }
    }
}
