import FerryConfig
import FerryLedger
import FerryProtocol
import FerryServer
import FerryTLS
import FerryTestSupport
import Foundation
import Logging
import Testing

/// Attacks on partner identity and areas, played with curl against a real `ferry serve` (in process, on loopback):
/// a certificate from a second trusted CA, a chosen CN, a CN that names a shared area, overlapping rules.
@Suite("Partner identity and areas")
struct PartnerIdentityTests {
    static let hint = "apt-get install curl"

    /// What curl got: the HTTP status (000 when the connection failed) and the body.
    struct Answer {
        let status: String
        let body: String
        /// curl's own messages (why a connection failed).
        let errors: String
    }

    /// Runs curl with the certificate `name`.pem / `name`-key.pem from the test PKI.
    static func curl(_ server: TestServerHarness, as name: String, _ arguments: [String]) async throws -> Answer {
        let curl = try ExternalTool.require("curl", installHint: hint)
        let outcome = try await ExternalTool.run(
            curl,
            server.curlIdentity(name) + ["--path-as-is", "-w", "\n%{http_code}"] + arguments
        )
        let lines = outcome.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        return Answer(
            status: String(lines.last ?? ""),
            body: lines.dropLast().joined(separator: "\n"),
            errors: outcome.stderr
        )
    }

    /// Ledger rows recorded under a partner name.
    static func rows(_ server: TestServerHarness, partner: String) async throws -> [LedgerEntry] {
        try await server.ledger.recent(limit: 1000).filter { $0.partner == partner }
    }

    @Test("a certificate from a second trusted CA cannot take a partner's name, by CN or by a copied subject")
    func secondCA() async throws {
        _ = try ExternalTool.require("curl", installHint: Self.hint)
        try await TestServerHarness.with(configure: { configuration, pki in
            configuration.serverTLS?.trustedCAs = [pki.caFile, pki.otherCAFile]
            var acme = FerryConfiguration.Partner(name: "acme")
            acme.certificateAuthorities = [pki.caFile]
            var bank = FerryConfiguration.Partner(name: "bank")
            bank.subject = "CN=bank,O=Ferry"
            bank.certificateAuthorities = [pki.caFile]
            configuration.partners = ["acme": acme, "bank": bank]
        }) { server in
            // The other partner CA issues certificates that copy acme's CN and bank's whole subject.
            try server.pki.issue("acme", by: server.pki.otherCA, file: "forged-acme")
            try server.pki.issue("bank", by: server.pki.otherCA, file: "forged-bank")
            try server.pki.issue("newcomer", by: server.pki.otherCA)
            let secret = server.folder.path + "/secret.txt"
            try "acme's statement".write(toFile: secret, atomically: true, encoding: .utf8)
            #expect(
                try await Self.curl(server, as: "acme", ["-T", secret, server.url("statement.txt")]).status == "201"
            )
            #expect(
                try await Self.curl(server, as: "bank", ["-T", secret, server.url("statement.txt")]).status == "201"
            )
            let before = try await server.ledger.recent(limit: 1000).count

            for forged in ["forged-acme", "forged-bank"] {
                for arguments in [
                    [server.url("statement.txt")], ["-X", "DELETE", server.url("statement.txt")], [server.url("")],
                ] {
                    let answer = try await Self.curl(server, as: forged, arguments)
                    #expect(answer.status == "403", "\(forged) \(arguments): \(answer)")
                    #expect(answer.body.contains("unknown-partner"), "\(answer.body)")
                    #expect(!answer.body.contains("acme's statement"))
                }
            }
            // Two CAs are trusted and server.cn-ca is not set: no CA may name an unconfigured partner by CN.
            let newcomer = try await Self.curl(server, as: "newcomer", [server.url("")])
            #expect(newcomer.status == "403" && newcomer.body.contains("server.cn-ca"), "\(newcomer)")
            #expect(FileManager.default.fileExists(atPath: server.root + "/acme/statement.txt"))
            #expect(FileManager.default.fileExists(atPath: server.root + "/bank/statement.txt"))
            #expect(!FileManager.default.fileExists(atPath: server.root + "/newcomer"))
            #expect(
                try await server.ledger.recent(limit: 1000).count == before,
                "a refused certificate left ledger rows"
            )
            // The real partners still get their files.
            #expect(try await Self.curl(server, as: "acme", [server.url("statement.txt")]).body == "acme's statement")
            #expect(try await Self.curl(server, as: "bank", [server.url("statement.txt")]).status == "200")
        }
    }

    @Test(
        "a configured partner is reached only through its binding: its CN from the right CA with another subject is refused"
    )
    func pinnedSubject() async throws {
        _ = try ExternalTool.require("curl", installHint: Self.hint)
        try await TestServerHarness.with(configure: { configuration, _ in
            var acme = FerryConfiguration.Partner(name: "acme")
            acme.subject = "CN=ACME Transfer,O=ACME"
            configuration.partners = ["acme": acme]
        }) { server in
            try server.pki.issue("ACME Transfer", organization: "ACME", file: "acme-transfer")
            try server.pki.issue("acme", organization: "Evil", file: "acme-evil")
            try server.pki.issue("ACME", file: "acme-upper")
            let report = server.folder.path + "/r.txt"
            try "x".write(toFile: report, atomically: true, encoding: .utf8)
            #expect(
                try await Self.curl(server, as: "acme-transfer", ["-T", report, server.url("r.txt")]).status == "201"
            )
            for impostor in ["acme-evil", "acme-upper", "acme"] {
                let answer = try await Self.curl(server, as: impostor, [server.url("r.txt")])
                #expect(answer.status == "403", "\(impostor): \(answer)")
                #expect(answer.body.contains("reserved for a configured partner"), "\(answer.body)")
            }
            #expect(try await Self.rows(server, partner: "acme").count == 1)
            // An unconfigured name still works by CN from the only trusted CA (dev mode's rule).
            #expect(try await Self.curl(server, as: "bank", ["-T", report, server.url("r.txt")]).status == "201")
        }
    }

    /// The problem a refused request answered with.
    static func problem(_ answer: Answer) throws -> Problem {
        try JSONDecoder().decode(Problem.self, from: Data(answer.body.utf8))
    }

    @Test(
        "partners.NAME.san binds a partner by the certificate's subject alternative name, whatever its CN; the CN alone no longer reaches it"
    )
    func alternativeNameBinding() async throws {
        _ = try ExternalTool.require("curl", installHint: Self.hint)
        try await TestServerHarness.with(configure: { configuration, _ in
            var acme = FerryConfiguration.Partner(name: "acme")
            acme.alternativeName = "dns:transfer.acme.example"
            configuration.partners = ["acme": acme]
        }) { server in
            func issue(_ commonName: String, san: [String], file: String) throws {
                let identity = try server.pki.ca.issue(
                    commonName: commonName,
                    purpose: .client,
                    dnsNames: san,
                    days: 30
                )
                try server.pki.write(pem: identity.certificatePEM, to: file + ".pem")
                try server.pki.write(pem: identity.privateKeyPEM, to: file + "-key.pem")
            }
            try issue("gateway-7", san: ["transfer.acme.example"], file: "by-san")
            try issue("acme", san: [], file: "cn-only")
            try issue("gateway-8", san: ["transfer.acme.example.evil"], file: "near-miss")
            let report = server.folder.path + "/r.txt"
            try "x".write(toFile: report, atomically: true, encoding: .utf8)
            let bySAN = try await Self.curl(server, as: "by-san", ["-T", report, server.url("r.txt")])
            #expect(bySAN.status == "201", "\(bySAN)")
            #expect(
                FileManager.default.fileExists(atPath: server.root + "/acme/r.txt"),
                "the SAN's partner, not the CN's"
            )
            #expect(!FileManager.default.fileExists(atPath: server.root + "/gateway-7"))
            #expect(try await Self.rows(server, partner: "acme").map(\.operation) == [.put])
            let cnOnly = try await Self.curl(server, as: "cn-only", [server.url("r.txt")])
            #expect(
                try cnOnly.status == "403" && Self.problem(cnOnly).slug == ProblemKind.unknownPartner.slug,
                "\(cnOnly)"
            )
            #expect(cnOnly.body.contains("reserved for a configured partner"), "\(cnOnly.body)")
            // A SAN that only starts like the bound one is another name: that certificate goes by its own CN.
            let nearMiss = try await Self.curl(server, as: "near-miss", ["-T", report, server.url("r.txt")])
            #expect(nearMiss.status == "201")
            #expect(FileManager.default.fileExists(atPath: server.root + "/gateway-8/r.txt"))
        }
    }

    @Test(
        "without a certificate (client-auth optional) a request gets client-certificate-required; a certificate that names no partner gets unknown-partner; nothing is stored"
    )
    func refusalsOverTheWire() async throws {
        let curl = try ExternalTool.require("curl", installHint: Self.hint)
        try await TestServerHarness.with(configure: { configuration, _ in
            configuration.serverTLS?.clientAuthentication = .optional
        }) { server in
            let report = server.folder.path + "/r.txt"
            try "x".write(toFile: report, atomically: true, encoding: .utf8)
            let anonymous = try await ExternalTool.run(
                curl,
                ["--silent", "--cacert", server.pki.caFile, "-w", "\n%{http_code}", "-T", report, server.url("r.txt")]
            )
            let lines = anonymous.stdout.split(separator: "\n", omittingEmptySubsequences: false)
            #expect(lines.last == "401", "\(anonymous.output)")
            let problem = try JSONDecoder().decode(
                Problem.self,
                from: Data(lines.dropLast().joined(separator: "\n").utf8)
            )
            #expect(problem.slug == ProblemKind.clientCertificateRequired.slug && problem.status == 401)
            // A CN that cannot be a partner's folder name names no partner.
            try server.pki.issue("two words", file: "spaced")
            let nameless = try await Self.curl(server, as: "spaced", ["-T", report, server.url("r.txt")])
            #expect(nameless.status == "403", "\(nameless)")
            #expect(try Self.problem(nameless).slug == ProblemKind.unknownPartner.slug, "\(nameless.body)")
            let stored = try FileManager.default.contentsOfDirectory(atPath: server.root).filter { !$0.hasPrefix(".") }
            #expect(stored.isEmpty, "\(stored)")
        }
    }

    @Test("partners.NAME.ca is compared by the verified chain: an intermediate CA binds only what it issued")
    func intermediateBinding() async throws {
        _ = try ExternalTool.require("curl", installHint: Self.hint)
        try await TestServerHarness.with(configure: { configuration, pki in
            let issuing = try! pki.ca.issueSubordinate(commonName: "ACME Issuing CA", organization: "ACME")
            try! pki.write(pem: try! issuing.certificatePEM, to: "acme-issuing-ca.pem")
            try! pki.write(pem: try! issuing.privateKeyPEM, to: "acme-issuing-ca-key.pem")
            var acme = FerryConfiguration.Partner(name: "acme")
            acme.certificateAuthorities = [pki.directory + "/acme-issuing-ca.pem"]
            configuration.partners = ["acme": acme]
        }) { server in
            let issuing = try CertificateAuthority(
                certificatePEM: try String(
                    contentsOfFile: server.pki.directory + "/acme-issuing-ca.pem",
                    encoding: .utf8
                ),
                privateKeyPEM: try String(
                    contentsOfFile: server.pki.directory + "/acme-issuing-ca-key.pem",
                    encoding: .utf8
                )
            )
            let leaf = try server.pki.issue("acme", by: issuing, file: "acme-chained")
            // curl sends the chain: the client certificate, then its issuing CA.
            try server.pki.write(
                pem: try leaf.certificatePEM + "\n" + issuing.certificatePEM + "\n",
                to: "acme-chained.pem"
            )
            let chained = try await Self.curl(server, as: "acme-chained", [server.url("")])
            #expect(chained.status == "200", "\(chained)")
            // The root's own certificate with CN=acme verifies too, but not through acme's CA.
            let direct = try await Self.curl(server, as: "acme", [server.url("")])
            #expect(direct.status == "403", "\(direct)")
        }
    }

    @Test(
        "a resumed TLS session (no verification in its handshake) keeps the partner its first handshake verified",
        arguments: ["-tls1_2", "-tls1_3"]
    )
    func resumedSession(version: String) async throws {
        let openssl = try ExternalTool.require("openssl", installHint: "apt-get install openssl")
        try await TestServerHarness.with(configure: { configuration, pki in
            var acme = FerryConfiguration.Partner(name: "acme")
            acme.certificateAuthorities = [pki.caFile]
            configuration.partners = ["acme": acme]
        }) { server in
            let session = server.folder.path + "/session.pem"
            let request = "GET /v1/files/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
            for (index, sessionFlag) in ["-sess_out", "-sess_in"].enumerated() {
                let outcome = try await ExternalTool.run(
                    openssl,
                    [
                        "s_client", version, "-connect", "127.0.0.1:\(server.port)", "-servername", "localhost",
                        "-CAfile", server.pki.caFile,
                        "-cert", server.pki.certificate("acme"), "-key", server.pki.key("acme"), sessionFlag, session,
                        "-ign_eof",
                    ],
                    input: request,
                    timeout: 30
                )
                #expect(outcome.stdout.contains(index == 0 ? "New, TLS" : "Reused, TLS"), "\(outcome.output)")
                #expect(outcome.stdout.contains("HTTP/1.1 200 OK"), "\(sessionFlag): \(outcome.output)")
            }
        }
    }

    @Test(
        "bindings that can match one certificate, and rules that share a mount, stop the server at startup naming both"
    )
    func ambiguousConfiguration() async throws {
        let cases: [(String, (inout FerryConfiguration, TestPKI) -> Void, [String])] = [
            (
                "same subject",
                { configuration, _ in
                    var a = FerryConfiguration.Partner(name: "a")
                    a.subject = "CN=x,O=Ferry"
                    var b = FerryConfiguration.Partner(name: "b")
                    b.subject = "CN=x,O=Ferry"
                    configuration.partners = ["a": a, "b": b]
                }, ["partners.a", "partners.b"]
            ),
            (
                "CN binding against a subject with that CN",
                { configuration, pki in
                    var a = FerryConfiguration.Partner(name: "acme")
                    a.certificateAuthorities = [pki.caFile]
                    var b = FerryConfiguration.Partner(name: "bank")
                    b.subject = "CN=acme,O=Ferry"
                    configuration.partners = ["acme": a, "bank": b]
                }, ["partners.acme", "partners.bank"]
            ),
            (
                "one mount twice for a partner",
                { configuration, _ in
                    configuration.accessRules = [
                        .init(
                            name: "statements-ro",
                            partners: ["acme"],
                            area: "shared/statements",
                            mount: "statements",
                            rights: [.read]
                        ),
                        .init(
                            name: "drop",
                            partners: ["*"],
                            area: "shared/drop",
                            mount: "statements",
                            rights: [.read, .write]
                        ),
                    ]
                }, ["access.statements-ro", "access.drop"]
            ),
        ]
        for (label, configure, names) in cases {
            do {
                try await TestServerHarness.with(configure: configure) { _ in }
                Issue.record("\(label): the server started")
            } catch {
                let text = String(describing: error)
                for name in names { #expect(text.contains(name), "\(label): \(text)") }
            }
        }
    }

    @Test(
        "a CN that names a shared area's folder gets no partner home there; rights come from the rule whose area is used"
    )
    func sharedAreaNamespace() async throws {
        _ = try ExternalTool.require("curl", installHint: Self.hint)
        try await TestServerHarness.with(configure: { configuration, _ in
            configuration.accessRules = [
                .init(name: "shared-ro", partners: ["*"], area: "shared/ro", mount: "ro", rights: [.read]),
                .init(
                    name: "statements",
                    partners: ["acme"],
                    area: "outbound/statements",
                    mount: "statements",
                    rights: [.read]
                ),
            ]
        }) { server in
            try FileManager.default.createDirectory(
                atPath: server.root + "/shared/ro",
                withIntermediateDirectories: true
            )
            try "published".write(toFile: server.root + "/shared/ro/notice.txt", atomically: true, encoding: .utf8)
            try FileManager.default.createDirectory(
                atPath: server.root + "/outbound/statements",
                withIntermediateDirectories: true
            )
            try "acme's".write(toFile: server.root + "/outbound/statements/s.txt", atomically: true, encoding: .utf8)
            try server.pki.issue("shared")
            try server.pki.issue("OUTBOUND", file: "outbound")
            let planted = server.folder.path + "/planted.txt"
            try "planted".write(toFile: planted, atomically: true, encoding: .utf8)
            for name in ["shared", "outbound"] {
                for arguments in [
                    ["-T", planted, server.url("ro/notice.txt")], ["-X", "DELETE", server.url("ro/notice.txt")],
                    [server.url("statements/s.txt")],
                ] {
                    let answer = try await Self.curl(server, as: name, arguments)
                    #expect(answer.status == "403", "\(name) \(arguments): \(answer)")
                    #expect(answer.body.contains("shared area"), "\(answer.body)")
                }
            }
            #expect(try String(contentsOfFile: server.root + "/shared/ro/notice.txt", encoding: .utf8) == "published")
            // acme reads the rule area, and its read-only right holds for writes and deletes.
            #expect(try await Self.curl(server, as: "acme", [server.url("ro/notice.txt")]).body == "published")
            #expect(
                try await Self.curl(server, as: "acme", ["-T", planted, server.url("statements/s.txt")]).status == "403"
            )
            #expect(
                try await Self.curl(server, as: "acme", ["-X", "DELETE", server.url("statements/s.txt")]).status
                    == "403"
            )
            #expect(try String(contentsOfFile: server.root + "/outbound/statements/s.txt", encoding: .utf8) == "acme's")
        }
    }

    @Test(
        "access rule areas that leave the root or reach the state folder are refused at startup, and nothing is created outside"
    )
    func areaValidation() async throws {
        for area in ["../pki", "/etc", ".ferry", ".FERRY/ledger", "shared/../../x", "a/./b"] {
            let folder = try TemporaryDirectory("ferry-area")
            defer { folder.remove() }
            let yaml = folder.path + "/ferry.yaml"
            try "access:\n  r:\n    partners: \"*\"\n    area: \"\(area)\"\n".write(
                toFile: yaml,
                atomically: true,
                encoding: .utf8
            )
            await #expect(throws: ConfigError.self, "\(area)") {
                try await ConfigLoader.load(file: yaml, environment: [:])
            }
        }
        for mount in ["..", ".ferry", "a/b"] {
            let folder = try TemporaryDirectory("ferry-mount")
            defer { folder.remove() }
            let yaml = folder.path + "/ferry.yaml"
            try "access:\n  r:\n    partners: \"*\"\n    area: shared\n    mount: \"\(mount)\"\n".write(
                toFile: yaml,
                atomically: true,
                encoding: .utf8
            )
            await #expect(throws: ConfigError.self, "\(mount)") {
                try await ConfigLoader.load(file: yaml, environment: [:])
            }
        }
        // A symbolic link under the root that leads out of it.
        let outside = try TemporaryDirectory("ferry-outside")
        defer { outside.remove() }
        do {
            try await TestServerHarness.with(configure: { configuration, _ in
                try? FileManager.default.createDirectory(atPath: configuration.root, withIntermediateDirectories: true)
                try? FileManager.default.createSymbolicLink(
                    atPath: configuration.root + "/shared",
                    withDestinationPath: outside.path
                )
                configuration.accessRules = [
                    .init(name: "escape", partners: ["*"], area: "shared/in", mount: "in", rights: [.read, .write])
                ]
            }) { _ in }
            Issue.record("a rule through a symbolic link out of the root started")
        } catch {
            #expect(String(describing: error).contains("access.escape.area"), "\(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: outside.path + "/in"))
    }

    @Test("ferry serve logs each refusal once with the certificate and the reason; the partner gets problem+json")
    func refusalsLogged() async throws {
        _ = try ExternalTool.require("curl", installHint: Self.hint)
        try await TemporaryDirectory.with("ferry-refusals") { folder in
            let pki = try TestPKI(directory: folder.path + "/pki")
            try pki.issue("shared")
            let config = try ServeProcess.writeConfig(in: folder.path, port: 0)
            try
                (String(contentsOfFile: config, encoding: .utf8)
                + "\naccess:\n  ro:\n    partners: \"*\"\n    area: shared/ro\n")
                .write(toFile: config, atomically: true, encoding: .utf8)
            let server = try await ServeProcess(config: config, directory: folder.path)
            defer { server.process.terminate() }
            let curl = try ExternalTool.require("curl", installHint: Self.hint)
            let base = ["--silent", "--cacert", pki.caFile, "-o", "/dev/null", "-w", "%{http_code}"]
            let denied = try await ExternalTool.run(
                curl,
                base + [
                    "--cert", pki.certificate("acme"), "--key", pki.key("acme"), "-T", config,
                    "https://localhost:\(server.port)/v1/files/ro/x.yaml",
                ]
            )
            #expect(denied.stdout == "403")
            let nameless = try await ExternalTool.run(
                curl,
                base + [
                    "--cert", pki.certificate("shared"), "--key", pki.key("shared"),
                    "https://localhost:\(server.port)/v1/files/",
                ]
            )
            #expect(nameless.stdout == "403")
            var log = ""
            for _ in 0..<100
            where !(log.contains("problem=access-denied") && log.contains("client certificate names no partner")) {
                try await Task.sleep(for: .milliseconds(50))
                log = server.log
            }
            let refused = log.split(separator: "\n").filter { $0.contains("request refused") }
            #expect(refused.count == 1, "\(log)")
            #expect(
                refused.first?.contains("subject=CN=acme,O=Ferry") == true
                    && refused.first?.contains("path=/v1/files/ro/x.yaml") == true,
                "\(log)"
            )
            let nameRefusals = log.split(separator: "\n").filter { $0.contains("client certificate names no partner") }
            #expect(nameRefusals.count == 1 && nameRefusals.first?.contains("shared area") == true, "\(log)")
        }
    }

    @Test("the reserved state folder is refused in any case, and health tells a partner only that the server lives")
    func reservedAndHealth() async throws {
        _ = try ExternalTool.require("curl", installHint: Self.hint)
        try await TestServerHarness.with { server in
            for path in [".FERRY/ledger.sqlite", ".Ferry/tmp/", "a/.fErRy"] {
                let answer = try await Self.curl(server, as: "acme", [server.url(path)])
                #expect(answer.status == "400", "\(path): \(answer)")
            }
            let health = try await Self.curl(server, as: "acme", ["https://localhost:\(server.port)/v1/health"])
            #expect(health.status == "200")
            let object = try #require(
                try JSONSerialization.jsonObject(with: Data(health.body.utf8)) as? [String: Any],
                "\(health.body)"
            )
            #expect(object["status"] as? String == "ok")
            #expect(
                !health.body.contains(".pem") && !health.body.contains("CN=")
                    && !health.body.contains(server.folder.path),
                "\(health.body)"
            )
        }
    }
}
