import FerryTLS
import FerryTestSupport
import Foundation
import Testing
import X509

/// `ferry diagnose` on certificates: the server's chain and its key usage, the client's certificate against what the
/// server asks for (CA names, key types), each against a real server.
extension DiagnosisTests {
    /// Runs an openssl command in `folder` (making keys and certificates) and expects it to succeed.
    static func openssl(_ openssl: String, _ arguments: [String], in folder: String) async throws {
        let outcome = try await ExternalTool.run(openssl, arguments, directory: folder)
        #expect(outcome.status == 0, "openssl \(arguments.joined(separator: " ")): \(outcome.output)")
    }

    /// Makes, with openssl in `folder`, a P-256 root CA (ca.pem, ca.key) and a server certificate for localhost
    /// (leaf.pem, leaf.key) with a key made by `keyOptions` (e.g. `-newkey rsa:2048`) and these extensions.
    static func opensslLeaf(
        _ openssl: String,
        in folder: String,
        root: String,
        keyOptions: [String],
        extensions: String
    ) async throws {
        try await Self.openssl(
            openssl,
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
                "-out", "ca.pem", "-subj", "/CN=\(root)", "-days", "2", "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            ],
            in: folder
        )
        try await Self.openssl(
            openssl,
            ["req", "-new"] + keyOptions + [
                "-nodes", "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=localhost",
            ],
            in: folder
        )
        try extensions.write(toFile: folder + "/leaf.ext", atomically: true, encoding: .utf8)
        try await Self.openssl(
            openssl,
            [
                "x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out",
                "leaf.pem", "-days", "1", "-extfile", "leaf.ext",
            ],
            in: folder
        )
    }

    @Test(
        "an RSA server certificate with keyUsage keyEncipherment only, under ECDHE (TLS 1.2) and TLS 1.3: server-cert-key-usage first, and illegal_parameter is not explained as the SSLv3 incident",
        arguments: ["-tls1_2", "-tls1_3"]
    )
    func keyUsage(version: String) async throws {
        let openssl = try ExternalTool.require("openssl", installHint: "apt-get install openssl")
        let folder = try TemporaryDirectory("ferry-diagnose")
        defer { folder.remove() }
        let pki = try TestPKI(directory: folder.path + "/pki")
        let dir = folder.path
        try await Self.opensslLeaf(
            openssl,
            in: dir,
            root: "KU Root",
            keyOptions: ["-newkey", "rsa:2048"],
            extensions: "subjectAltName=DNS:localhost\nkeyUsage=critical,keyEncipherment\nextendedKeyUsage=serverAuth\n"
        )
        let port = freeLoopbackPort()
        let server = try await opensslServer(
            pki,
            port: port,
            [version],
            certificate: dir + "/leaf.pem",
            key: dir + "/leaf.key"
        )
        let report = try await diagnose("localhost:\(port)", ["--ca", dir + "/ca.pem"])
        await server.stop()
        #expect(report.ids.first == "server-cert-key-usage", "\(report.text)")
        #expect(report.text.contains("keyUsage: keyEncipherment"), "\(report.text)")
        #expect(!report.text.contains("RC 410") && !report.text.contains("empty CA list"), "\(report.text)")
        #expect(!report.text.contains("at fault: network"), "\(report.text)")
    }

    @Test(
        "a server that accepts only RSA signatures from clients, and a client with an ECDSA key: client-key-type-not-accepted first, not 'pass --cert'",
        arguments: ["-tls1_2", "-tls1_3"]
    )
    func clientKeyType(version: String) async throws {
        let folder = try TemporaryDirectory("ferry-diagnose")
        defer { folder.remove() }
        let pki = try TestPKI(directory: folder.path + "/pki")
        let port = freeLoopbackPort()
        let server = try await opensslServer(
            pki,
            port: port,
            [version, "-Verify", "1", "-verify_return_error", "-client_sigalgs", "RSA+SHA256:rsa_pss_rsae_sha256"]
        )
        let report = try await diagnose("localhost:\(port)", identity(pki))
        await server.stop()
        #expect(report.ids.first == "client-key-type-not-accepted", "\(report.text)")
        #expect(
            report.text.contains("has an ECDSA P-256 key") && report.text.contains("rsa_pss_rsae_sha256"),
            "\(report.text)"
        )
        #expect(!report.text.contains("fix 1: Pass --cert and --key"), "\(report.text)")
    }

    @Test(
        "a server naming 40 CAs, none of them yours: the finding quotes the first few and counts the rest, no line of kilobytes"
    )
    func manyCANames() async throws {
        let openssl = try ExternalTool.require("openssl", installHint: "apt-get install openssl")
        let folder = try TemporaryDirectory("ferry-diagnose")
        defer { folder.remove() }
        let pki = try TestPKI(directory: folder.path + "/pki")
        var bundle = try String(contentsOfFile: pki.caFile, encoding: .utf8)
        for index in 1...39 {
            bundle +=
                "\n"
                + (try CertificateAuthority(commonName: "Partner CA number \(index)", organization: "Bank \(index)")
                    .certificatePEM) + "\n"
        }
        try bundle.write(toFile: folder.path + "/bundle.pem", atomically: true, encoding: .utf8)
        let port = freeLoopbackPort()
        let server = try BackgroundProcess(
            openssl,
            [
                "s_server", "-accept", "\(port)", "-cert", pki.serverCertificate, "-key", pki.serverKey, "-CAfile",
                folder.path + "/bundle.pem", "-tls1_2", "-Verify", "1",
            ]
        )
        #expect(try await server.waitForOutput("ACCEPT", timeout: 30), "s_server: \(server.output)")
        let report = try await diagnose(
            "localhost:\(port)",
            ["--cert", pki.certificate("intruder"), "--key", pki.key("intruder"), "--ca", pki.caFile]
        )
        await server.stop()
        #expect(report.ids.contains("client-issuer-not-in-ca-names"), "\(report.text)")
        #expect(report.text.contains("and 32 more (ferry diagnose --verbose lists them)"), "\(report.text)")
        #expect(report.text.split(separator: "\n").allSatisfy { $0.utf8.count < 2_000 }, "no line of kilobytes")
    }

    @Test(
        "a server certificate for client authentication only (EKU clientAuth): server-cert-missing-serverauth-eku first"
    )
    func serverCertificateWithoutServerAuth() async throws {
        let folder = try TemporaryDirectory("ferry-diagnose")
        defer { folder.remove() }
        let pki = try TestPKI(directory: folder.path + "/pki")
        try pki.issue("client-purpose-server", purpose: .server, extendedKeyUsage: [.clientAuth])
        let port = freeLoopbackPort()
        let server = try await opensslServer(
            pki,
            port: port,
            ["-tls1_3"],
            certificate: pki.certificate("client-purpose-server"),
            key: pki.key("client-purpose-server")
        )
        let report = try await diagnose("localhost:\(port)", ["--ca", pki.caFile])
        await server.stop()
        #expect(report.ids.first == "server-cert-missing-serverauth-eku", "\(report.text)")
        #expect(report.text.contains("has EKU: clientAuth"), "\(report.text)")
    }

    @Test("a client certificate from a CA the server does not name: issuer finding and the server's unknown_ca")
    func wrongClientCA() async throws {
        let folder = try TemporaryDirectory("ferry-diagnose")
        defer { folder.remove() }
        let pki = try TestPKI(directory: folder.path + "/pki")
        let port = freeLoopbackPort()
        let server = try await opensslServer(pki, port: port, ["-tls1_3", "-Verify", "1", "-verify_return_error"])
        let report = try await diagnose(
            "localhost:\(port)",
            ["--cert", pki.certificate("intruder"), "--key", pki.key("intruder"), "--ca", pki.caFile]
        )
        await server.stop()
        #expect(report.ids.contains("client-issuer-not-in-ca-names"), "\(report.text)")
        #expect(report.ids.contains("peer-alert"))
        #expect(report.text.contains("The server aborted the handshake with unknown_ca (48)"), "\(report.text)")
        #expect(report.text.contains("the client's certificate: CN=intruder"))
        #expect(report.status == 2)
    }

    @Test(
        "a client certificate from an intermediate under the root the server names: the chain it sends is walked, nothing wrong",
        arguments: ["-tls1_2", "-tls1_3"]
    )
    func clientIntermediate(version: String) async throws {
        let folder = try TemporaryDirectory("ferry-diagnose")
        defer { folder.remove() }
        let pki = try TestPKI(directory: folder.path + "/pki")
        let intermediate = try pki.ca.issueSubordinate(commonName: "Ferry Partners Issuing CA")
        let leaf = try pki.issue("branch", by: intermediate)
        let chain = try pki.write(
            pem: try leaf.certificatePEM + "\n" + intermediate.certificatePEM + "\n",
            to: "branch-chain.pem"
        )
        let port = freeLoopbackPort()
        // s_server names the CAs of -CAfile: the root only.
        let server = try await opensslServer(pki, port: port, [version, "-Verify", "2", "-verify_return_error"])
        let report = try await diagnose(
            "localhost:\(port)",
            ["--cert", chain, "--key", pki.key("branch"), "--ca", pki.caFile]
        )
        #expect(!report.ids.contains("client-issuer-not-in-ca-names"), "\(report.text)")
        #expect(report.json["handshake_error"] == nil, "\(report.text)")
        #expect(report.status == 0, "\(report.text)")

        // The same leaf without its intermediate: the server cannot build the path, and the finding says why.
        let bare = try await diagnose(
            "localhost:\(port)",
            ["--cert", pki.certificate("branch"), "--key", pki.key("branch"), "--ca", pki.caFile]
        )
        await server.stop()
        #expect(bare.ids.contains("client-issuer-not-in-ca-names"), "\(bare.text)")
        #expect(bare.text.contains("your certificate's issuer: CN=Ferry Partners Issuing CA"), "\(bare.text)")
    }

    @Test("a server certificate sent alone, from a CA you do not have, reached by an address it does not name")
    func untrustedAndWrongName() async throws {
        let folder = try TemporaryDirectory("ferry-diagnose")
        defer { folder.remove() }
        let pki = try TestPKI(directory: folder.path + "/pki")
        try pki.issue("stranger", by: pki.otherCA, purpose: .server)
        let port = freeLoopbackPort()
        let server = try await opensslServer(
            pki,
            port: port,
            ["-tls1_3"],
            certificate: pki.certificate("stranger"),
            key: pki.key("stranger")
        )
        let report = try await diagnose("127.0.0.2:\(port)", identity(pki))
        await server.stop()
        // From what was sent, CN=Other CA may be a missing intermediate or a root you lack: both fixes, the chain first.
        #expect(report.ids.contains("incomplete-chain"), "\(report.text)")
        #expect(
            report.text.contains(
                "fix 2: If CN=Other CA,O=Elsewhere is the partner's root CA rather than an intermediate, add it to your trusted CAs"
            ),
            "\(report.text)"
        )
        #expect(report.ids.contains("hostname-mismatch"))
        #expect(report.text.contains("connected to 127.0.0.2"))
    }

    @Test(
        "chains judged from what was sent and what is trusted: a leaf alone or a chain missing a middle link is incomplete-chain naming the missing CA, a whole chain up to a root you do not trust is untrusted-issuer, a chain up to your root is fine"
    )
    func chainVerdicts() async throws {
        let openssl = try ExternalTool.require("openssl", installHint: "apt-get install openssl")
        let folder = try TemporaryDirectory("ferry-diagnose")
        defer { folder.remove() }
        let pki = try TestPKI(directory: folder.path + "/pki")
        let dir = folder.path
        func run(_ arguments: [String]) async throws { try await Self.openssl(openssl, arguments, in: dir) }
        try
            "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nauthorityInfoAccess=caIssuers;URI:http://pki.partner.example/root.crt\n"
            .write(toFile: dir + "/ca.ext", atomically: true, encoding: .utf8)
        try
            "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\nauthorityInfoAccess=caIssuers;URI:http://pki.partner.example/int2.crt\n"
            .write(toFile: dir + "/leaf.ext", atomically: true, encoding: .utf8)
        try await run([
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "root.key",
            "-out", "root.pem", "-subj", "/CN=Partner Root", "-days", "2", "-addext",
            "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        ])
        var issuer = "root"
        for name in ["int1", "int2", "leaf"] {
            try await run([
                "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                "\(name).key", "-out", "\(name).csr", "-subj", name == "leaf" ? "/CN=localhost" : "/CN=Partner \(name)",
            ])
            try await run([
                "x509", "-req", "-in", "\(name).csr", "-CA", "\(issuer).pem", "-CAkey", "\(issuer).key",
                "-CAcreateserial", "-out", "\(name).pem", "-days", "2", "-extfile",
                name == "leaf" ? "leaf.ext" : "ca.ext",
            ])
            issuer = name
        }
        func cat(_ names: [String], _ file: String) throws -> String {
            try names.map { try String(contentsOfFile: dir + "/\($0).pem", encoding: .utf8) }.joined().write(
                toFile: dir + "/" + file,
                atomically: true,
                encoding: .utf8
            )
            return dir + "/" + file
        }
        func diagnoseServer(sending chain: [String], trusting ca: String) async throws -> Report? {
            let port = freeLoopbackPort()
            let extra = chain.isEmpty ? [] : ["-cert_chain", try cat(chain, "chain-\(port).pem")]
            let server = try await opensslServer(
                pki,
                port: port,
                ["-tls1_3"] + extra,
                certificate: dir + "/leaf.pem",
                key: dir + "/leaf.key"
            )
            defer { Task { await server.stop() } }
            return try await diagnose("localhost:\(port)", ["--ca", ca])
        }

        // The common incomplete chain: the leaf alone.
        guard let alone = try await diagnoseServer(sending: [], trusting: dir + "/root.pem") else { return }
        #expect(alone.ids.first == "incomplete-chain", "\(alone.text)")
        #expect(!alone.ids.contains("untrusted-issuer"), "\(alone.text)")
        #expect(
            alone.text.contains("the server sent only its own certificate, CN=localhost, issued by CN=Partner int2"),
            "\(alone.text)"
        )
        #expect(
            alone.text.contains("http://pki.partner.example/int2.crt"),
            "the leaf's AIA names where the missing CA is"
        )
        #expect(
            alone.text.contains(
                "fix 1: Have the partner send its full chain: its certificate followed by CN=Partner int2"
            ),
            "\(alone.text)"
        )

        // A middle link missing: the leaf and int2, without int1.
        guard let gap = try await diagnoseServer(sending: ["int2"], trusting: dir + "/root.pem") else { return }
        #expect(gap.ids.first == "incomplete-chain", "\(gap.text)")
        #expect(
            gap.text.contains("ending at the intermediate CN=Partner int2, issued by CN=Partner int1"),
            "\(gap.text)"
        )

        // A whole chain up to a root you do not trust.
        guard let whole = try await diagnoseServer(sending: ["int2", "int1", "root"], trusting: pki.caFile) else {
            return
        }
        #expect(whole.ids.first == "untrusted-issuer", "\(whole.text)")
        #expect(!whole.ids.contains("incomplete-chain"), "\(whole.text)")
        #expect(whole.text.contains("up to the self-signed root CN=Partner Root"), "\(whole.text)")
        #expect(whole.text.contains("fix 1: Add the partner's root CA certificate (CN=Partner Root)"), "\(whole.text)")

        // Intermediates sent, the root trusted: nothing wrong with the chain.
        guard let fine = try await diagnoseServer(sending: ["int2", "int1"], trusting: dir + "/root.pem") else {
            return
        }
        #expect(!fine.ids.contains("incomplete-chain") && !fine.ids.contains("untrusted-issuer"), "\(fine.text)")
        #expect(fine.status == 0, "\(fine.text)")
    }

    @Test(
        "an expired server certificate under a root re-issued since (same name and key, valid from later): expired, and nothing about trust"
    )
    func reissuedRoot() async throws {
        let folder = try TemporaryDirectory("ferry-diagnose")
        defer { folder.remove() }
        let pki = try TestPKI(directory: folder.path + "/pki")
        let root = try CertificateAuthority(
            commonName: "Partner Root",
            validFrom: Date().addingTimeInterval(-400 * 86_400),
            days: 300
        )
        try pki.issue(
            "old-server",
            by: root,
            purpose: .server,
            validFrom: Date().addingTimeInterval(-200 * 86_400),
            days: 90
        )
        let renewed = try pki.write(
            pem: try root.reissued(validFrom: Date().addingTimeInterval(-86_400)).certificatePEM,
            to: "renewed-root.pem"
        )
        let port = freeLoopbackPort()
        let server = try await opensslServer(
            pki,
            port: port,
            ["-tls1_3"],
            certificate: pki.certificate("old-server"),
            key: pki.key("old-server")
        )
        let report = try await diagnose("localhost:\(port)", ["--ca", renewed])
        await server.stop()
        #expect(report.ids.first == "server-cert-expired", "\(report.text)")
        #expect(!report.ids.contains("untrusted-issuer") && !report.ids.contains("incomplete-chain"), "\(report.text)")
    }

    @Test("an expired server certificate, and a client certificate without clientAuth")
    func certificateProblems() async throws {
        let folder = try TemporaryDirectory("ferry-diagnose")
        defer { folder.remove() }
        let pki = try TestPKI(directory: folder.path + "/pki")
        try pki.issue("expired-server", purpose: .server, validFrom: Date().addingTimeInterval(-40 * 86_400), days: 10)
        try pki.issue("server-only", purpose: .client, extendedKeyUsage: [.serverAuth])
        let port = freeLoopbackPort()
        let server = try await opensslServer(
            pki,
            port: port,
            ["-tls1_2", "-verify", "1", "-verify_return_error"],
            certificate: pki.certificate("expired-server"),
            key: pki.key("expired-server")
        )
        let report = try await diagnose(
            "localhost:\(port)",
            ["--cert", pki.certificate("server-only"), "--key", pki.key("server-only"), "--ca", pki.caFile]
        )
        await server.stop()
        #expect(report.ids.contains("server-cert-expired"), "\(report.text)")
        #expect(report.ids.contains("client-cert-missing-clientauth-eku"))
        #expect(report.status == 2)
        // Ferry's client refuses the expired server certificate first, and says so.
        #expect(
            report.text.contains("This side (the client) aborted the handshake with certificate_expired (45)"),
            "\(report.text)"
        )

        // With a valid server certificate, OpenSSL judges the client's: a certificate without clientAuth.
        let second = freeLoopbackPort()
        let strict = try await opensslServer(pki, port: second, ["-tls1_2", "-Verify", "1", "-verify_return_error"])
        let refused = try await diagnose(
            "localhost:\(second)",
            ["--cert", pki.certificate("server-only"), "--key", pki.key("server-only"), "--ca", pki.caFile]
        )
        await strict.stop()
        #expect(refused.ids == ["client-cert-missing-clientauth-eku", "peer-alert"], "\(refused.text)")
        #expect(
            refused.text.contains("The server aborted the handshake with unsupported_certificate (43)")
                || refused.text.contains("The server aborted the handshake with bad_certificate (42)"),
            "\(refused.text)"
        )
        #expect(refused.text.contains("the client's certificate: CN=server-only"))

        // A server certificate that only becomes valid tomorrow.
        try pki.issue("future-server", purpose: .server, validFrom: Date().addingTimeInterval(86_400), days: 10)
        let third = freeLoopbackPort()
        let future = try await opensslServer(
            pki,
            port: third,
            ["-tls1_3"],
            certificate: pki.certificate("future-server"),
            key: pki.key("future-server")
        )
        let early = try await diagnose("localhost:\(third)", identity(pki))
        await future.stop()
        #expect(early.ids.contains("server-cert-not-yet-valid"), "\(early.text)")
        #expect(!early.ids.contains("untrusted-issuer"), "trust is judged apart from the validity window")
    }
}

extension DiagnosisTests {
    /// Server certificates whose key Ferry's client (BoringSSL) offers no signature scheme for, each made by openssl.
    static let unofferedKeys: [(options: String, key: String, scheme: String)] = [
        ("-newkey ec -pkeyopt ec_paramgen_curve:P-521", "ECDSA P-521", "ecdsa_secp521r1_sha512"),
        ("-newkey ed25519", "Ed25519", "ed25519"),
        ("-newkey ed448", "Ed448", "ed448"),
        ("-newkey rsa-pss -pkeyopt rsa_keygen_bits:2048", "RSA-PSS", "rsa_pss_pss_sha256"),
    ]

    @Test(
        "a server whose certificate key needs a scheme Ferry's client does not offer (P-521, Ed25519, Ed448, RSASSA-PSS): server-cert-signature-not-offered first, naming the key and the scheme, and no trust verdict it cannot make",
        arguments: 0..<4
    )
    func serverKeyNotOffered(index: Int) async throws {
        let openssl = try ExternalTool.require("openssl", installHint: "apt-get install openssl")
        let (options, key, scheme) = Self.unofferedKeys[index]
        let folder = try TemporaryDirectory("ferry-diagnose")
        defer { folder.remove() }
        let pki = try TestPKI(directory: folder.path + "/pki")
        let dir = folder.path
        try await Self.opensslLeaf(
            openssl,
            in: dir,
            root: "Scheme Root",
            keyOptions: options.split(separator: " ").map(String.init),
            extensions:
                "subjectAltName=DNS:localhost\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
        )
        let port = freeLoopbackPort()
        let server = try await opensslServer(
            pki,
            port: port,
            [],
            certificate: dir + "/leaf.pem",
            key: dir + "/leaf.key"
        )
        let report = try await diagnose("localhost:\(port)", ["--ca", dir + "/ca.pem"])
        await server.stop()
        #expect(report.ids.first == "server-cert-signature-not-offered", "\(report.text)")
        #expect(report.text.contains("the server's certificate: CN=localhost, an \(key) key"), "\(report.text)")
        #expect(report.text.contains("the server accepts: \(scheme)"), "\(report.text)")
        #expect(
            !report.ids.contains("untrusted-issuer") && !report.ids.contains("no-common-version")
                && !report.ids.contains("no-common-cipher"),
            "\(report.text)"
        )
        #expect(report.status == 2)
    }

    @Test(
        "a Ferry server whose ECDSA certificate the partner's client offers no scheme for (openssl s_client -sigalgs RSA only): the failed handshake's log and ledger row carry server-cert-signature-not-offered",
        arguments: ["-tls1_2", "-tls1_3"]
    )
    func clientOffersNoSchemeForServerKey(version: String) async throws {
        let openssl = try ExternalTool.require("openssl", installHint: "apt-get install openssl")
        try await TemporaryDirectory.with("ferry-diagnose") { folder in
            let pki = try TestPKI(directory: folder.path + "/pki")
            let port = freeLoopbackPort()
            let config = try ServeProcess.writeConfig(in: folder.path, port: port)
            let server = try await ServeProcess(config: config, directory: folder.path)
            let client = try await ExternalTool.run(
                openssl,
                [
                    "s_client", "-connect", "127.0.0.1:\(port)", version, "-sigalgs", "RSA+SHA256:RSA-PSS+SHA256",
                    "-cert", pki.certificate("acme"), "-key", pki.key("acme"), "-CAfile", pki.caFile,
                ],
                input: "",
                directory: folder.path
            )
            #expect(client.output.contains("alert handshake failure"), "\(client.output)")
            var log = ""
            for _ in 0..<100 where !log.contains("findings=server-cert-signature-not-offered") {
                try await Task.sleep(for: .milliseconds(50))
                log = server.log
            }
            #expect(
                log.contains("The client offers no signature scheme this server's certificate can sign with"),
                "\(log)"
            )
            let history = try await ExternalTool.run(
                try CLITests.ferry,
                ["history", "--server", "--root", "root", "--json"],
                timeout: 60,
                directory: folder.path
            )
            let rows = try JSONSerialization.jsonObject(with: Data(history.stdout.utf8)) as? [[String: Any]]
            let refused = rows?.first { $0["operation"] as? String == "TLS" }
            #expect(
                refused?["findings"] as? [String] == ["server-cert-signature-not-offered", "peer-alert"],
                "\(history.output)"
            )
            try await server.kill()
        }
    }
}
