import FerryConfig
import FerryTLS
import FerryTestSupport
import Foundation
import Testing
import X509

@testable import FerryDiagnosis

/// `ferry config check`: every finding, each triggered by a file crafted for it.
@Suite("config check findings")
struct ConfigCheckTests {
    @Test("every kind of TLS setup error has its finding, and ids are unique")
    func setupKindsComplete() {
        for code in TLSSetupError.Code.all {
            #expect(ConfigCheck.setupKinds[code] != nil, "\(code) has no finding")
        }
        #expect(Set(TLSSetupError.Code.all.map(\.id)).count == TLSSetupError.Code.all.count)
        #expect(Set(ConfigCheck.setupKinds.keys) == Set(TLSSetupError.Code.all))
    }

    /// A test PKI plus the broken certificates the cases point at.
    static func fixture(_ folder: String) async throws -> TestPKI {
        let pki = try TestPKI(directory: folder + "/pki")
        try pki.issue("old-server", purpose: .server, validFrom: Date.now.addingTimeInterval(-60 * 86_400), days: 30)
        try pki.issue("soon-server", purpose: .server, days: 10)
        try pki.issue("future-server", purpose: .server, validFrom: Date.now.addingTimeInterval(10 * 86_400))
        try pki.issue("client-as-server", purpose: .server, extendedKeyUsage: [.clientAuth])
        try "not a certificate\n".write(toFile: pki.directory + "/garbage.pem", atomically: true, encoding: .utf8)
        // A chain with two intermediate CAs.
        let first = try pki.ca.issueSubordinate(commonName: "Ferry Test Intermediate 1")
        let second = try first.issueSubordinate(commonName: "Ferry Test Intermediate 2")
        let leaf = try second.issue(commonName: "deep", purpose: .server, dnsNames: ["localhost"])
        try [leaf.certificatePEM, second.certificatePEM, first.certificatePEM].joined(separator: "\n").write(
            toFile: pki.directory + "/deep.pem",
            atomically: true,
            encoding: .utf8
        )
        try leaf.privateKeyPEM.write(toFile: pki.directory + "/deep-key.pem", atomically: true, encoding: .utf8)
        return pki
    }

    static let server =
        "server:\n  tls:\n    certificate: pki/server.pem\n    key: pki/server-key.pem\n    ca: pki/ca.pem\n"

    /// (expected finding, file name, contents); `SERVER` stands for the valid receive side.
    static let cases: [(String, String, String)] = [
        ("config-invalid", "f.yaml", "server:\n  tls:\n    certifcate: pki/server.pem\n"),
        ("file-unreadable", "f.yaml", server.replacingOccurrences(of: "pki/server.pem", with: "pki/missing.pem")),
        ("file-not-pem", "f.yaml", server.replacingOccurrences(of: "pki/server.pem", with: "pki/garbage.pem")),
        (
            "key-certificate-mismatch", "f.yaml",
            server.replacingOccurrences(of: "pki/server-key.pem", with: "pki/acme-key.pem")
        ),
        ("certificate-expired", "f.yaml", server.replacingOccurrences(of: "pki/server", with: "pki/old-server")),
        ("certificate-expiring", "f.yaml", server.replacingOccurrences(of: "pki/server", with: "pki/soon-server")),
        (
            "certificate-not-yet-valid", "f.yaml",
            server.replacingOccurrences(of: "pki/server", with: "pki/future-server")
        ),
        (
            "certificate-wrong-eku", "f.yaml",
            server.replacingOccurrences(of: "pki/server", with: "pki/client-as-server")
        ),
        (
            "certificate-wrong-eku", "f.yaml",
            "client:\n  tls:\n    certificate: pki/server.pem\n    key: pki/server-key.pem\n"
        ),
        (
            "ca-file-not-ca", "f.yaml",
            server.replacingOccurrences(of: "ca: pki/ca.pem", with: "ca: [pki/ca.pem, pki/acme.pem]")
        ),
        (
            "chain-deeper-than-verify-depth", "f.yaml",
            server.replacingOccurrences(of: "pki/server", with: "pki/deep") + "    verify-depth: 1\n"
        ),
        ("legacy-version-enabled", "f.yaml", server + "    min-version: \"1.0\"\n"),
        ("verification-off", "f.yaml", server + "    client-auth: none\n"),
        ("verification-off", "f.yaml", "client:\n  tls:\n    verify: false\n"),
        ("ca-names-off", "f.yaml", server + "    send-ca-names: false\n"),
        ("cipher-setting", "f.yaml", server + "    ciphers: ECDHE+AESGMC\n"),
        ("profile-incomplete", "f.yaml", "client:\n  tls:\n    certificate: pki/acme.pem\n    ca: pki/ca.pem\n"),
        ("ssl3-enabled", "f.yaml", server + "    min-version: SSLv3\n"),
        (
            "partner-binding-ambiguous", "f.yaml",
            server + "partners:\n  a:\n    subject: CN=x,O=Ferry\n  b:\n    subject: CN=x,O=Ferry\n"
        ),
        (
            "partner-binding-ambiguous", "f.yaml",
            server + "partners:\n  acme:\n    ca: pki/ca.pem\n  bank:\n    subject: CN=acme,O=Ferry\n"
        ),
        (
            "partner-binding-forgeable", "f.yaml",
            server.replacingOccurrences(of: "ca: pki/ca.pem", with: "ca: [pki/ca.pem, pki/other-ca.pem]")
                + "partners:\n  acme:\n    subject: CN=acme,O=Ferry\n"
        ),
        (
            "partner-binding-forgeable", "f.yaml",
            server.replacingOccurrences(of: "ca: pki/ca.pem", with: "ca: [pki/ca.pem, pki/other-ca.pem]")
                + "  cn-ca: [pki/ca.pem, pki/other-ca.pem]\n"
        ),
        ("config-invalid", "f.yaml", server + "access:\n  r:\n    partners: \"*\"\n    area: ../pki\n"),
        (
            "config-invalid", "f.yaml",
            server + "access:\n  a:\n    partners: [acme]\n    area: x/s\n  b:\n    partners: \"*\"\n    area: y/s\n"
        ),
        ("xcom-dollar", "configssl.cnf", "[PASSWORD]\nRECEIVE_SIDE = pa$$word\n"),
        ("ssl3-enabled", "configssl.cnf", "[SSL_METHOD]\nRECEIVE_SIDE = SSLv3\n"),
        (
            "xcom-ssl-method-all", "configssl.cnf",
            "[SSL_METHOD]\nINITIATE_SIDE = ALL\n[CA]\nINITIATE_SIDE = pki/ca.pem\n"
        ),
        ("xcom-zos-only", "configssl.cnf", "[KEYRING]\nRECEIVE_SIDE = XCOMRING\n[LABLCERT]\nRECEIVE_SIDE = XCOM\n"),
        ("xcom-unknown-setting", "configssl.cnf", "[CERTIFICATES]\nRECEIVE_SIDE = pki/server.pem\n"),
        (
            "verification-off", "configssl.cnf",
            "[VERIFY_CERTIFICATE]\nRECEIVE_SIDE = NO\n[CERTIFICATE]\nRECEIVE_SIDE = pki/server.pem\n[PRIVATEKEY]\nRECEIVE_SIDE = pki/server-key.pem\n"
        ),
        (
            "key-certificate-mismatch", "configssl.cnf",
            "[CERTIFICATE]\nINITIATE_SIDE = pki/acme.pem\n[PRIVATEKEY]\nINITIATE_SIDE = pki/bank-key.pem\n[CA]\nINITIATE_SIDE = pki/ca.pem\n"
        ),
    ]

    @Test("each finding from a crafted file", arguments: cases)
    func finding(expected: String, name: String, contents: String) async throws {
        try await TemporaryDirectory.with { folder in
            _ = try await Self.fixture(folder.path)
            let file = folder.path + "/" + name
            try contents.write(toFile: file, atomically: true, encoding: .utf8)
            let report = await ConfigCheck.check(file: file, environment: [:])
            let found = try #require(
                report.findings.first { $0.id == expected },
                "\(expected) missing from:\n\(report.text)"
            )
            #expect(!found.evidence.isEmpty && !found.fixes.isEmpty)
            let severities = Set(report.findings.map(\.severity))
            #expect(report.exitCode == (severities.contains(.error) ? 2 : severities.contains(.warning) ? 1 : 0))
            #expect(report.text.contains("[\(expected)]"))
        }
    }

    @Test("an encrypted key without its pass phrase")
    func passphrase() async throws {
        try await TemporaryDirectory.with { folder in
            let pki = try await Self.fixture(folder.path)
            guard try await XCOMConfigTests.encrypt(pki.serverKey, to: folder.path + "/enc.pem", passphrase: "secret")
            else { return }
            let file = folder.path + "/f.yaml"
            try Self.server.replacingOccurrences(of: "pki/server-key.pem", with: "enc.pem").write(
                toFile: file,
                atomically: true,
                encoding: .utf8
            )
            #expect(await ConfigCheck.check(file: file, environment: [:]).findings.map(\.id) == ["key-passphrase"])
            try
                (Self.server.replacingOccurrences(of: "pki/server-key.pem", with: "enc.pem")
                + "    key-passphrase-env: PASS\n").write(toFile: file, atomically: true, encoding: .utf8)
            #expect(await ConfigCheck.check(file: file, environment: ["PASS": "secret"]).findings.isEmpty)
            #expect(
                await ConfigCheck.check(file: file, environment: ["PASS": "wrong"]).findings.map(\.id) == [
                    "key-passphrase"
                ]
            )
        }
    }

    @Test("a sound file has no findings; a file with several problems reports all of them")
    func cleanAndSeveral() async throws {
        try await TemporaryDirectory.with { folder in
            _ = try await Self.fixture(folder.path)
            let file = folder.path + "/f.yaml"
            try
                (Self.server
                + "client:\n  tls:\n    certificate: pki/acme.pem\n    key: pki/acme-key.pem\n    ca: pki/ca.pem\n")
                .write(toFile: file, atomically: true, encoding: .utf8)
            // The test PKI's client certificates last 30 days: a week's window keeps them out of it.
            let clean = await ConfigCheck.check(file: file, warningWindow: 7 * 86_400, environment: [:])
            #expect(clean.findings.isEmpty, "\(clean.text)")
            #expect(clean.exitCode == 0)
            #expect(clean.profiles == ["server.tls", "client.tls"])

            try
                (Self.server.replacingOccurrences(of: "pki/server", with: "pki/old-server")
                + "    min-version: \"1.1\"\n    send-ca-names: false\npartners:\n  bank:\n    url: https://bank.example\n    tls:\n      certificate: pki/soon-server.pem\n      key: pki/soon-server-key.pem\n")
                .write(toFile: file, atomically: true, encoding: .utf8)
            let several = await ConfigCheck.check(file: file, environment: [:])
            #expect(
                Set(several.findings.map(\.id)) == [
                    "certificate-expired", "legacy-version-enabled", "ca-names-off", "certificate-expiring",
                    "certificate-wrong-eku",
                ],
                "\(several.text)"
            )
            #expect(several.findings.first?.severity == .error, "most severe first")
            #expect(several.exitCode == 2)
        }
    }

    @Test("ferry config check and import from the command line")
    func commandLine() async throws {
        try await TemporaryDirectory.with { folder in
            _ = try await Self.fixture(folder.path)
            let cnf = folder.path + "/configssl.cnf"
            try
                "[SSL_METHOD]\nRECEIVE_SIDE = TLS\n[CERTIFICATE]\nRECEIVE_SIDE = pki/server.pem\n[PRIVATEKEY]\nRECEIVE_SIDE = pki/server-key.pem\n[CA]\nRECEIVE_SIDE = pki/ca.pem\n[PASSWORD]\nRECEIVE_SIDE = a$b\n"
                .write(toFile: cnf, atomically: true, encoding: .utf8)
            let cli = CLITests()
            let broken = try await cli.run(["config", "check", cnf])
            #expect(broken.status == 2)
            #expect(broken.stdout.contains("ERROR [xcom-dollar]"), "\(broken.output)")
            #expect(broken.stdout.contains("configssl.cnf:10"), "\(broken.output)")

            try
                "[SSL_METHOD]\nRECEIVE_SIDE = TLS\n[CERTIFICATE]\nRECEIVE_SIDE = pki/server.pem\n[PRIVATEKEY]\nRECEIVE_SIDE = pki/server-key.pem\n[CA]\nRECEIVE_SIDE = pki/ca.pem\n"
                .write(toFile: cnf, atomically: true, encoding: .utf8)
            let json = try await cli.run(["config", "check", "--json", cnf])
            #expect(json.status == 0, "\(json.output)")
            let report = try JSONDecoder().decode(ConfigCheck.Report.self, from: Data(json.stdout.utf8))
            #expect(report.format == "xcom" && report.profiles == ["RECEIVE_SIDE"] && report.findings.isEmpty)

            let imported = try await cli.run(["config", "import", cnf, "--output", folder.path + "/ferry.yaml"])
            #expect(imported.status == 0, "\(imported.output)")
            let again = try await cli.run(["config", "import", cnf, "--output", folder.path + "/ferry.yaml"])
            #expect(again.status == 1 && again.stderr.contains("exists"), "never overwrites")
            let checked = try await cli.run(["config", "check", folder.path + "/ferry.yaml"])
            #expect(checked.status == 0, "\(checked.output)")
        }
    }
}
