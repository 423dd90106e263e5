import FerryConfig
import FerryLedger
import FerryProtocol
import FerryTLS
import FerryTestSupport
import FerryWire
import Foundation
import Testing

@testable import FerryClient
@testable import FerryDiagnosis

/// What the `ferry` commands do beyond mapping options, tested as the libraries that own it: the client profile's
/// precedence, diagnose's target and report formats, and the failed-handshake ledger row.
@Suite("Command logic in the libraries")
struct CommandLogicTests {
    static func configuration(_ yaml: String) async throws -> FerryConfiguration {
        try await TemporaryDirectory.with { folder in
            let path = folder.path + "/ferry.yaml"
            try yaml.write(toFile: path, atomically: true, encoding: .utf8)
            return try await ConfigLoader.load(file: path, environment: [:])
        }
    }

    static let yaml = """
        client:
          tls:
            certificate: /etc/ferry/client.pem
            key: /etc/ferry/client-key.pem
            ca: [/etc/ferry/ca.pem]
        partners:
          bank:
            url: https://files.bank.example:9443/in/
            tls:
              certificate: /etc/ferry/bank-client.pem
              key: /etc/ferry/bank-client-key.pem
              ca: [/etc/ferry/bank-ca.pem]
          plain:
            url: https://plain.example
        """

    @Test("client profile: flags over the partner's profile over client.tls, the dev PKI only for what is unset")
    func profilePrecedence() async throws {
        let configuration = try await Self.configuration(Self.yaml)
        let none = DevPKI(directory: "/nonexistent")
        let bank = configuration.clientProfile(partner: "bank", devPKI: none)
        #expect(bank.certificate == "/etc/ferry/bank-client.pem")
        #expect(bank.privateKey == "/etc/ferry/bank-client-key.pem")
        #expect(bank.trustedCAs == ["/etc/ferry/bank-ca.pem"])
        // A partner without its own profile, and an address that names no partner, use client.tls.
        for partner in ["plain", nil, "unknown"] as [String?] {
            let profile = configuration.clientProfile(partner: partner, devPKI: none)
            #expect(profile.certificate == "/etc/ferry/client.pem")
            #expect(profile.trustedCAs == ["/etc/ferry/ca.pem"])
        }
        let flags = ClientProfileOverrides(
            certificate: "/tmp/me.pem",
            privateKey: "/tmp/me-key.pem",
            trustedCA: "/tmp/ca.pem"
        )
        let overridden = configuration.clientProfile(partner: "bank", overrides: flags, devPKI: none)
        #expect(overridden.certificate == "/tmp/me.pem")
        #expect(overridden.privateKey == "/tmp/me-key.pem")
        #expect(overridden.trustedCAs == ["/tmp/ca.pem"])
        // --ca alone keeps the partner's certificate.
        let caOnly = configuration.clientProfile(
            partner: "bank",
            overrides: ClientProfileOverrides(trustedCA: "/tmp/ca.pem"),
            devPKI: none
        )
        #expect(caOnly.certificate == "/etc/ferry/bank-client.pem")
        #expect(caOnly.trustedCAs == ["/tmp/ca.pem"])
    }

    @Test("client profile: the dev PKI fills what the configuration leaves unset, and nothing else")
    func profileFromDevPKI() async throws {
        try await TemporaryDirectory.with { folder in
            let pki = DevPKI(directory: folder.path + "/pki")
            try pki.create(clients: ["acme", DevPKI.defaultClient])
            let empty = try await Self.configuration("client:\n  ledger: /tmp/ferry-ledger.db\n")
            let fromPKI = empty.clientProfile(partner: nil, devPKI: pki)
            #expect(fromPKI.certificate == pki.clientCertificate(DevPKI.defaultClient))
            #expect(fromPKI.privateKey == pki.clientKey(DevPKI.defaultClient))
            #expect(fromPKI.trustedCAs == [pki.caCertificate])
            // Without the default client, the first one.
            let other = DevPKI(directory: folder.path + "/other")
            try other.create(clients: ["zeta", "acme"])
            #expect(empty.clientProfile(partner: nil, devPKI: other).certificate == other.clientCertificate("acme"))
            // A configured profile is never replaced by the dev PKI.
            let configured = try await Self.configuration(Self.yaml)
            let profile = configured.clientProfile(partner: "bank", devPKI: pki)
            #expect(profile.certificate == "/etc/ferry/bank-client.pem")
            #expect(profile.trustedCAs == ["/etc/ferry/bank-ca.pem"])
        }
    }

    @Test(
        "diagnose's target: HOST:PORT, [IPv6]:PORT, https URLs, partner names; the SNI is the host unless it is an address"
    )
    func diagnoseTarget() async throws {
        let configuration = try await Self.configuration(Self.yaml)
        #expect(
            DiagnosisTarget.parse("files.example:8443", configuration: configuration)
                == DiagnosisTarget(host: "files.example", port: 8443)
        )
        #expect(
            DiagnosisTarget.parse("[::1]:9000", configuration: configuration)
                == DiagnosisTarget(host: "::1", port: 9000)
        )
        #expect(
            DiagnosisTarget.parse("https://[2001:db8::5]/x", configuration: configuration)
                == DiagnosisTarget(host: "2001:db8::5", port: 443)
        )
        #expect(
            DiagnosisTarget.parse("bank", configuration: configuration)
                == DiagnosisTarget(host: "files.bank.example", port: 9443, partner: "bank")
        )
        for bad in ["files.example", "files.example:99999", "https://", "unknown-partner"] {
            #expect(DiagnosisTarget.parse(bad, configuration: configuration) == nil, "\(bad)")
        }
        #expect(DiagnosisTarget(host: "files.example", port: 1).serverName(sni: nil) == "files.example")
        #expect(DiagnosisTarget(host: "10.0.0.5", port: 1).serverName(sni: nil) == nil)
        #expect(DiagnosisTarget(host: "::1", port: 1).serverName(sni: nil) == nil)
        #expect(DiagnosisTarget(host: "10.0.0.5", port: 1).serverName(sni: "files.example") == "files.example")
    }

    static func diagnosis() -> Diagnosis {
        let probes = [
            VersionProbe(
                offered: .tls13,
                outcome: .accepted(TLSCipherSuite(rawValue: 0x1301)),
                conversation: TLSConversation()
            ),
            VersionProbe(offered: .tls12, outcome: .closed, conversation: TLSConversation()),
            VersionProbe(offered: .ssl3, outcome: .otherVersion(.tls12), conversation: TLSConversation()),
        ]
        let findings = [
            Finding(.legacyVersionAccepted, evidence: ["SSL3: the server answered"]),
            Finding(.untrustedIssuer, evidence: ["issuer CN=Other CA"]),
        ].ordered
        return Diagnosis(
            host: "files.example",
            port: 8443,
            probes: probes,
            handshake: nil,
            handshakeError: "certificate verify failed",
            findings: findings
        )
    }

    @Test("diagnosis text report: versions, the handshake's error, findings most severe first")
    func diagnosisText() throws {
        let text = DiagnosisReport.text(Self.diagnosis(), verbose: false)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines[0] == "Ferry diagnosis of files.example:8443")
        #expect(lines.contains("  TLS1.3  accepted, cipher suite TLS_AES_128_GCM_SHA256"))
        #expect(lines.contains("  TLS1.2  refused: the server closed the connection"))
        #expect(lines.contains("  SSL3    the server answered with TLS1.2 instead"))
        #expect(lines.contains("Handshake with your client settings failed: certificate verify failed"))
        let error = try #require(lines.firstIndex { $0.hasPrefix("ERROR [untrusted-issuer]") })
        let warning = try #require(lines.firstIndex { $0.hasPrefix("WARNING [legacy-version-accepted]") })
        #expect(error < warning)
        #expect(lines.contains("    evidence: issuer CN=Other CA"))
        #expect(!text.contains("No problems found."))
        #expect(!text.contains("Trace of"))
        let clean = Diagnosis(
            host: "h",
            port: 1,
            probes: [],
            handshake: TLSConversation(),
            handshakeError: nil,
            findings: []
        )
        #expect(
            DiagnosisReport.text(clean, verbose: false).contains(
                "Handshake with your client settings: completed\n\nNo problems found.\n"
            )
        )
    }

    @Test("diagnosis JSON report: the documented keys and values")
    func diagnosisJSON() throws {
        let json = DiagnosisReport.json(Self.diagnosis())
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(Set(object.keys) == ["host", "port", "versions", "handshake_error", "findings", "exit_code"])
        #expect(object["host"] as? String == "files.example")
        #expect(object["port"] as? Int == 8443)
        #expect(object["exit_code"] as? Int == 2)
        #expect(object["handshake_error"] as? String == "certificate verify failed")
        let versions = try #require(object["versions"] as? [[String: Any]])
        #expect(versions.map { $0["offered"] as? String } == ["TLS1.3", "TLS1.2", "SSL3"])
        #expect(versions.map { $0["result"] as? String } == ["accepted", "closed", "other-version"])
        #expect(versions[0]["cipher_suite"] as? String == "TLS_AES_128_GCM_SHA256")
        #expect(versions[1]["cipher_suite"] == nil)
        let findings = try #require(object["findings"] as? [[String: Any]])
        #expect(findings.map { $0["id"] as? String } == ["untrusted-issuer", "legacy-version-accepted"])
        #expect(findings[0]["severity"] as? String == "error")
        let untrusted = try #require(Self.diagnosis().findings.first { $0.id == "untrusted-issuer" })
        #expect(findings[0]["side"] as? String == untrusted.side.rawValue)
        #expect(findings[0]["fixes"] as? [String] == untrusted.fixes)
        #expect(findings[0]["evidence"] as? [String] == ["issuer CN=Other CA"])
    }

    @Test("a failed handshake's ledger row: failed, no bytes, the explanation's first lines and the finding ids")
    func failedHandshakeRow() throws {
        let target = RemoteTarget(
            host: "files.example",
            port: 8443,
            path: try PartnerPath(encoded: "in/a.txt"),
            partner: "bank"
        )
        var failure = TransferError(
            .tlsHandshake,
            "handshake failed\nthe server's certificate is signed by CN=Other CA\nfix: add its CA\nmore\nand more"
        )
        failure.findings = ["untrusted-issuer"]
        let started = Date(timeIntervalSince1970: 1_000)
        let row = TransferClient.failedHandshakeEntry(
            failure,
            target: target,
            operation: .send,
            direction: .outbound,
            started: started
        )
        #expect(row.result == .failed)
        #expect(row.partner == "bank")
        #expect(row.operation == .send)
        #expect(row.path == "https://files.example:8443/v1/files/in/a.txt")
        #expect(row.bytes == 0)
        #expect(row.sha256 == nil)
        #expect(row.findings == ["untrusted-issuer"])
        #expect(row.error == "handshake failed the server's certificate is signed by CN=Other CA fix: add its CA")
        let anonymous = RemoteTarget(host: "10.0.0.5", port: 443, path: try PartnerPath(encoded: ""))
        #expect(
            TransferClient.failedHandshakeEntry(
                failure,
                target: anonymous,
                operation: .list,
                direction: .inbound,
                started: started
            ).partner == "10.0.0.5:443"
        )
    }
}
