import FerryClient
import FerryConfig
import FerryDiagnosis
import FerryLedger
import FerryProtocol
import FerryTLS
import FerryTestSupport
import Foundation
import Testing

/// Certificate revocation lists made by `openssl ca` and checked by a real server and client: revoked partners
/// are refused in the handshake, a reload that revokes or removes a CA closes the connections it no longer
/// accepts, and lists that are forged or expired are caught.
@Suite("Revocation lists", .serialized)
struct RevocationTests {
    static let hint = "apt-get install openssl"

    /// An `openssl ca` set-up over the test CA (database, CRL number), in the PKI folder.
    struct OpenSSLCA {
        let openssl: String
        let folder: String

        init(openssl: String, pki: TestPKI, authority: CertificateAuthority? = nil, name: String = "ca") throws {
            self.openssl = openssl
            folder = pki.directory + "/openssl-\(name)"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let ca = authority ?? pki.ca
            try ca.certificatePEM.write(toFile: folder + "/ca.pem", atomically: true, encoding: .utf8)
            try ca.privateKeyPEM.write(toFile: folder + "/ca-key.pem", atomically: true, encoding: .utf8)
            FileManager.default.createFile(atPath: folder + "/index.txt", contents: nil)
            try "1000\n".write(toFile: folder + "/crlnumber", atomically: true, encoding: .utf8)
            try """
            [ ca ]
            default_ca = CA_default
            [ CA_default ]
            database = \(folder)/index.txt
            crlnumber = \(folder)/crlnumber
            default_md = sha256
            default_crl_days = 30
            certificate = \(folder)/ca.pem
            private_key = \(folder)/ca-key.pem
            """.write(toFile: folder + "/ca.cnf", atomically: true, encoding: .utf8)
        }

        func revoke(_ certificate: String) async throws {
            let outcome = try await ExternalTool.run(
                openssl,
                ["ca", "-config", folder + "/ca.cnf", "-batch", "-revoke", certificate]
            )
            #expect(outcome.status == 0, "\(outcome.output)")
        }

        /// Writes the CRL (PEM) to `path`, through a temporary file so a watcher never sees half of it.
        func writeCRL(to path: String, extra: [String] = []) async throws {
            let outcome = try await ExternalTool.run(
                openssl,
                ["ca", "-config", folder + "/ca.cnf", "-batch", "-gencrl", "-out", path + ".new"] + extra
            )
            #expect(outcome.status == 0, "\(outcome.output)")
            _ = rename(path + ".new", path)
        }
    }

    /// Runs `openssl s_client` with a kept-open standard input: the connection stays up until the server ends it.
    final class OpenConnection {
        let process = Process()
        let input = Pipe()
        let output: String

        init(openssl: String, port: Int, pki: TestPKI, name: String, folder: String) throws {
            output = folder + "/s_client-\(name).log"
            FileManager.default.createFile(atPath: output, contents: nil)
            process.executableURL = URL(fileURLWithPath: openssl)
            process.arguments = [
                "s_client", "-connect", "127.0.0.1:\(port)", "-servername", "localhost", "-CAfile", pki.caFile,
                "-cert", pki.certificate(name), "-key", pki.key(name), "-quiet",
            ]
            process.standardInput = input
            process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
            process.standardError = process.standardOutput
            try process.run()
            input.fileHandleForWriting.write(Data("GET /v1/files/ HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8))
        }

        var log: String { (try? String(contentsOfFile: output, encoding: .utf8)) ?? "" }

        func waitForExit(seconds: Double) async throws -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while process.isRunning, Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
            return !process.isRunning
        }

        deinit { if process.isRunning { process.terminate() } }
    }

    @Test(
        "a revoked client certificate is refused in the handshake (TLS 1.2 and 1.3), with a ledger row and the finding; others still connect"
    )
    func revokedClient() async throws {
        let openssl = try ExternalTool.require("openssl", installHint: Self.hint)
        let curl = try ExternalTool.require("curl", installHint: "apt-get install curl")
        let folder = try TemporaryDirectory("ferry-crl")
        defer { folder.remove() }
        let pki = try TestPKI(directory: folder.path + "/pki")
        let ca = try OpenSSLCA(openssl: openssl, pki: pki)
        try await ca.revoke(pki.certificate("acme"))
        let crl = folder.path + "/ca.crl"
        try await ca.writeCRL(to: crl)
        try await TestServerHarness.with(configure: { configuration, _ in
            configuration.serverTLS = ServerTLSProfile(
                certificate: pki.serverCertificate,
                privateKey: pki.serverKey,
                trustedCAs: [pki.caFile]
            )
            configuration.serverTLS?.crlFiles = [crl]
        }) { server in
            let identity = [
                "--silent", "--show-error", "--cacert", pki.caFile, "-o", "/dev/null", "-w", "%{http_code}",
            ]
            for version in ["1.2", "1.3"] {
                let revoked = try await ExternalTool.run(
                    curl,
                    identity + [
                        "--cert", pki.certificate("acme"), "--key", pki.key("acme"), "--tlsv\(version)", "--tls-max",
                        version, "https://localhost:\(server.port)/v1/files/",
                    ]
                )
                #expect(revoked.stdout == "000", "TLS \(version): \(revoked.output)")
                // TLS 1.2: the server's alert comes before the client's Finished is answered, so curl reads it. TLS 1.3:
                // the client certificate travels after the server's Finished and curl may find the connection already
                // reset before it reads the alert (seen under load); the ledger rows below prove the refusal either way.
                if version == "1.2" { #expect(revoked.stderr.contains("alert"), "\(revoked.stderr)") }
            }
            let bank = try await ExternalTool.run(
                curl,
                identity + [
                    "--cert", pki.certificate("bank"), "--key", pki.key("bank"),
                    "https://localhost:\(server.port)/v1/files/",
                ]
            )
            #expect(bank.stdout == "200", "\(bank.output)")
            var rows: [LedgerEntry] = []
            for _ in 0..<100 where rows.count < 2 {
                try await Task.sleep(for: .milliseconds(50))
                rows = try await server.ledger.recent(limit: 100).filter { $0.operation == .tls }
            }
            #expect(rows.count == 2, "\(rows)")
            for row in rows {
                #expect(row.findings.first == "certificate-revoked", "\(row.findings)")
                #expect(row.error?.contains("was revoked on") == true, "\(row.error ?? "")")
                #expect(row.peerSubject?.contains("CN=acme") == true)
            }
            #expect(
                !FileManager.default.fileExists(atPath: server.root + "/acme"),
                "a revoked partner reached its area"
            )
        }
    }

    @Test("a reload that adds a revocation or removes a CA closes the connections it no longer accepts, and only those")
    func reloadClosesConnections() async throws {
        let openssl = try ExternalTool.require("openssl", installHint: Self.hint)
        let folder = try TemporaryDirectory("ferry-crl-reload")
        defer { folder.remove() }
        let pki = try TestPKI(directory: folder.path + "/pki")
        let ca = try OpenSSLCA(openssl: openssl, pki: pki)
        let crl = folder.path + "/ca.crl"
        try await ca.writeCRL(to: crl)
        // Both CAs in one file: removing one is an edit of that file.
        let cas = folder.path + "/cas.pem"
        try
            (String(contentsOfFile: pki.caFile, encoding: .utf8) + "\n"
            + String(contentsOfFile: pki.otherCAFile, encoding: .utf8) + "\n").write(
                toFile: cas,
                atomically: true,
                encoding: .utf8
            )
        try await TestServerHarness.with(configure: { configuration, _ in
            configuration.serverTLS = ServerTLSProfile(
                certificate: pki.serverCertificate,
                privateKey: pki.serverKey,
                trustedCAs: [cas]
            )
            configuration.serverTLS?.crlFiles = [crl]
            configuration.commonNameCAs = [pki.caFile, pki.otherCAFile]
        }) { server in
            let acme = try OpenConnection(
                openssl: openssl,
                port: server.port,
                pki: pki,
                name: "acme",
                folder: folder.path
            )
            let bank = try OpenConnection(
                openssl: openssl,
                port: server.port,
                pki: pki,
                name: "bank",
                folder: folder.path
            )
            let intruder = try OpenConnection(
                openssl: openssl,
                port: server.port,
                pki: pki,
                name: "intruder",
                folder: folder.path
            )
            for connection in [acme, bank, intruder] {
                for _ in 0..<100 where !connection.log.contains("HTTP/1.1 200") {
                    try await Task.sleep(for: .milliseconds(50))
                }
                #expect(connection.log.contains("HTTP/1.1 200"), "\(connection.log)")
            }
            // Revoke acme: the server notices the new CRL by itself and closes acme's connection only.
            try await ca.revoke(pki.certificate("acme"))
            try await ca.writeCRL(to: crl)
            #expect(
                try await acme.waitForExit(seconds: 15),
                "acme's connection is still open after its certificate was revoked"
            )
            #expect(bank.process.isRunning && intruder.process.isRunning)
            // Remove the other CA: the intruder's connection goes, bank's stays.
            try String(contentsOfFile: pki.caFile, encoding: .utf8).write(
                toFile: cas,
                atomically: true,
                encoding: .utf8
            )
            #expect(try await intruder.waitForExit(seconds: 15), "a connection from a removed CA is still open")
            #expect(bank.process.isRunning, "a connection the new context accepts was closed")
        }
    }

    @Test("client.tls.crl: a revoked server certificate stops the client with the reason")
    func revokedServer() async throws {
        let openssl = try ExternalTool.require("openssl", installHint: Self.hint)
        try await TestServerHarness.with { server in
            let ca = try OpenSSLCA(openssl: openssl, pki: server.pki)
            try await ca.revoke(server.pki.serverCertificate)
            let crl = server.folder.path + "/ca.crl"
            try await ca.writeCRL(to: crl)
            var profile = server.pki.clientProfile("acme")
            profile.core.crlFiles = [crl]
            let client = TransferClient(tls: try profile.makeConfiguration(), ledger: nil)
            await #expect {
                try await client.list(try server.target(""))
            } throws: { error in
                let error = error as? TransferError
                return error?.code == .tlsHandshake && error?.message.contains("revoked") == true
            }
            // Without the list the same client connects.
            _ = try await server.client("acme").list(try server.target(""))
        }
    }

    @Test(
        "a forged or foreign list is refused or flagged at load; an expired one is a warning in the log and in config check"
    )
    func badLists() async throws {
        let openssl = try ExternalTool.require("openssl", installHint: Self.hint)
        try await TemporaryDirectory.with("ferry-crl-bad") { folder in
            let pki = try TestPKI(directory: folder.path + "/pki")
            let ca = try OpenSSLCA(openssl: openssl, pki: pki)
            let good = folder.path + "/good.crl"
            try await ca.writeCRL(to: good)
            // A signature that is not the CA's: the DER's last byte flipped.
            let der = folder.path + "/forged.der"
            _ = try await ExternalTool.run(openssl, ["crl", "-in", good, "-outform", "DER", "-out", der])
            var bytes = try Data(contentsOf: URL(fileURLWithPath: der))
            bytes[bytes.count - 1] ^= 0x01
            try bytes.write(to: URL(fileURLWithPath: der))
            var profile = pki.serverProfile
            profile.crlFiles = [der]
            #expect(throws: TLSSetupError.self) { try profile.makeConfiguration() }
            do { _ = try profile.makeConfiguration() } catch {
                #expect(String(describing: error).contains("did not sign it"), "\(error)")
            }
            // A certificate where a list belongs.
            profile.crlFiles = [pki.caFile]
            do {
                _ = try profile.makeConfiguration()
                Issue.record("a certificate was taken as a CRL")
            } catch {
                #expect((error as? TLSSetupError)?.code == .badCRL, "\(error)")
            }
            // A list from a CA the server does not trust: loaded with a warning.
            let other = try OpenSSLCA(openssl: openssl, pki: pki, authority: pki.otherCA, name: "other")
            let foreign = folder.path + "/foreign.crl"
            try await other.writeCRL(to: foreign)
            profile.crlFiles = [foreign]
            #expect(try profile.makeConfiguration().warnings.contains { $0.contains("not among the trusted CAs") })
            // An expired list.
            let expired = folder.path + "/expired.crl"
            try await ca.writeCRL(
                to: expired,
                extra: ["-crl_lastupdate", "20200101000000Z", "-crl_nextupdate", "20200201000000Z"]
            )
            profile.crlFiles = [expired]
            #expect(try profile.makeConfiguration().warnings.contains { $0.contains("was due for renewal") })
            let yaml = folder.path + "/ferry.yaml"
            try
                "server:\n  tls:\n    certificate: pki/server.pem\n    key: pki/server-key.pem\n    ca: pki/ca.pem\n    crl: expired.crl\n"
                .write(toFile: yaml, atomically: true, encoding: .utf8)
            let report = await ConfigCheck.check(file: yaml, environment: [:])
            #expect(report.findings.map(\.id).contains("crl-expired"), "\(report.text)")
            try
                "server:\n  tls:\n    certificate: pki/server.pem\n    key: pki/server-key.pem\n    ca: pki/ca.pem\n    crl: forged.der\n"
                .write(toFile: yaml, atomically: true, encoding: .utf8)
            #expect(await ConfigCheck.check(file: yaml, environment: [:]).findings.map(\.id).contains("crl-invalid"))
        }
    }
}
