import FerryTLS
import FerryTestSupport
import Foundation
import Testing
import X509

/// `ferry diagnose` against real peers: each finding is triggered by a server that really behaves that way.
@Suite("ferry diagnose against real peers", .serialized)
struct DiagnosisTests {
    struct Report {
        let status: Int32
        let text: String
        let ids: [String]
        let json: [String: Any]
    }

    /// Runs `ferry diagnose` twice: as JSON (for the ids) and as text (for the wording).
    func diagnose(_ target: String, _ options: [String]) async throws -> Report {
        let ferry = try CLITests.ferry
        // In an empty folder, so no dev PKI next to it supplies a client certificate.
        let folder = try TemporaryDirectory("ferry-diagnose-cwd")
        defer { folder.remove() }
        let json = try await ExternalTool.run(
            ferry,
            ["diagnose", target, "--json"] + options,
            timeout: 90,
            directory: folder.path
        )
        let object = try #require(
            (try? JSONSerialization.jsonObject(with: Data(json.stdout.utf8))) as? [String: Any],
            "status \(json.status): \(json.output)"
        )
        let ids = (object["findings"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
        let text = try await ExternalTool.run(
            ferry,
            ["diagnose", target] + options,
            timeout: 90,
            directory: folder.path
        )
        #expect(text.status == json.status)
        Self.recordForInteropDoc(object, status: json.status)
        return Report(status: json.status, text: text.stdout, ids: ids, json: object)
    }

    /// With FERRY_DIAGNOSE_RESULTS set (scripts/interop), each diagnosis appends a JSON line: the test, the first
    /// finding, its first fix and the exit status; InteropMatrixTests turns them into docs/interop.md's second table.
    static func recordForInteropDoc(_ report: [String: Any], status: Int32) {
        guard let path = ProcessInfo.processInfo.environment["FERRY_DIAGNOSE_RESULTS"] else { return }
        let first = (report["findings"] as? [[String: Any]])?.first
        let line: [String: Any] = [
            "test": Test.current?.displayName ?? Test.current?.name ?? "?",
            "first": first?["id"] as? String ?? "none",
            "fix": (first?["fixes"] as? [String])?.first ?? "",
            "status": Int(status),
        ]
        guard let data = try? JSONSerialization.data(withJSONObject: line, options: [.sortedKeys]) else { return }
        let handle =
            FileHandle(forWritingAtPath: path)
            ?? {
                FileManager.default.createFile(atPath: path, contents: nil)
                return FileHandle(forWritingAtPath: path)
            }()
        handle?.seekToEndOfFile()
        handle?.write(data + Data("\n".utf8))
        try? handle?.close()
    }

    func identity(_ pki: TestPKI, _ name: String = "acme") -> [String] {
        ["--cert", pki.certificate(name), "--key", pki.key(name), "--ca", pki.caFile]
    }

    @Test(
        "the incident: an SSLv3 server asking for a client certificate with no CA names",
        arguments: ["ssl3", "tls1.0"]
    )
    func incident(version: String) async throws {
        let python = try ExternalTool.require("python3", installHint: "apt-get install python3")
        let openssl = try ExternalTool.require("openssl", installHint: "apt-get install openssl")
        guard try await TLSLitePeer.available(python) else { return }
        let folder = try TemporaryDirectory("ferry-diagnose")
        defer { folder.remove() }
        let pki = try TestPKI(directory: folder.path + "/pki")
        let port = freeLoopbackPort()
        let server = try await TLSLitePeer.start(
            python,
            openssl: openssl,
            folder: folder.path,
            port: port,
            version: version,
            caNames: false
        )
        #expect(try await server.waitForOutput("ready"), "tlslite-ng: \(server.output)")
        let report = try await diagnose("127.0.0.1:\(port)", identity(pki))
        await server.stop()
        #expect(report.status == 2)
        #expect(report.ids.first == "ca-names-empty-illegal", "\(report.ids)")
        #expect(report.ids.contains(version == "ssl3" ? "ssl3-negotiated" : "tls10-negotiated"))
        #expect(
            report.ids.contains("no-common-version"),
            "Ferry's own client (TLS 1.2+) and this server share no version"
        )
        #expect(report.text.contains("The server aborted the handshake with protocol_version (70)"))
        let versions = report.json["versions"] as? [[String: Any]] ?? []
        #expect(
            versions.first { $0["offered"] as? String == (version == "ssl3" ? "SSL3" : "TLS1.0") }?["result"] as? String
                == "accepted"
        )
        // The report names the empty list and its length field, the version, the rule, System SSL's reaction and the fixes in order.
        let text = report.text
        #expect(text.contains("Distinguished Names Length = 0"))
        #expect(text.contains("negotiated version: \(version == "ssl3" ? "SSL3" : "TLS1.0")"))
        #expect(text.contains("RFC 6101 §5.6.4") && text.contains("RFC 2246 §7.4.4"))
        #expect(text.contains("illegal_parameter (47)") && text.contains("RC 410"))
        let section = try #require(
            text.components(separatedBy: "[ca-names-empty-illegal]").last?.components(separatedBy: "\n\n").first
        )
        let fix1 = try #require(section.range(of: "fix 1: Disable SSLv3 and TLS 1.0"))
        let fix2 = try #require(section.range(of: "fix 2: Have the partner send its CA names"))
        #expect(fix1.lowerBound < fix2.lowerBound)
        // Never the incident's "fix": no advice anywhere in the report to stop verifying or requesting certificates.
        let fixLines = text.components(separatedBy: "\n").filter { $0.contains("fix ") }.map { $0.lowercased() }
        for phrase in [
            "stop requesting", "verify_certificate", "receive_side = no", "verify none", "verification off",
            "without verification",
        ] {
            #expect(!fixLines.contains { $0.contains(phrase) }, "a fix suggests '\(phrase)'")
        }
        #expect(section.contains("nginx ssl_client_certificate") && section.contains("SSL_CTX_set_client_CA_list"))
        #expect(text.contains("although the client offered up to TLS1.2"))
    }

    /// Starts `openssl s_server` (serving many connections) and waits until it accepts.
    func opensslServer(
        _ pki: TestPKI,
        port: Int,
        _ options: [String],
        certificate: String? = nil,
        key: String? = nil
    ) async throws -> BackgroundProcess {
        let openssl = try ExternalTool.require("openssl", installHint: "apt-get install openssl")
        let server = try BackgroundProcess(
            openssl,
            [
                "s_server", "-accept", "\(port)", "-cert", certificate ?? pki.serverCertificate, "-key",
                key ?? pki.serverKey, "-CAfile", pki.caFile,
            ] + options
        )
        #expect(try await server.waitForOutput("ACCEPT", timeout: 30), "s_server: \(server.output)")
        return server
    }

    @Test("TLS 1.2 without CA names is legal: a note, and a clean exit")
    func emptyListTLS12() async throws {
        let folder = try TemporaryDirectory("ferry-diagnose")
        defer { folder.remove() }
        let pki = try TestPKI(directory: folder.path + "/pki")
        let port = freeLoopbackPort()
        let server = try await opensslServer(pki, port: port, ["-tls1_2", "-Verify", "1", "-no_ca_names"])
        let report = try await diagnose("localhost:\(port)", identity(pki))
        await server.stop()
        #expect(report.ids == ["ca-names-empty"], "\(report.text)")
        #expect(report.status == 0)
    }

    @Test(
        "OpenSSL told not to name its client CAs under TLS 1.3 sends an empty certificate_authorities extension: that finding first, labelled TLS1.3, with the setting to remove"
    )
    func emptyExtensionTLS13() async throws {
        let folder = try TemporaryDirectory("ferry-diagnose")
        defer { folder.remove() }
        let pki = try TestPKI(directory: folder.path + "/pki")
        let port = freeLoopbackPort()
        let server = try await opensslServer(pki, port: port, ["-tls1_3", "-Verify", "1", "-no_ca_names"])
        let report = try await diagnose("localhost:\(port)", identity(pki))
        await server.stop()
        #expect(report.ids.first == "tls13-empty-ca-extension", "\(report.text)")
        #expect(report.status == 2)
        #expect(report.text.contains("TLS1.3: [decrypted] HSHK( CERTIFICATE_REQUEST"), "\(report.text)")
        #expect(
            !report.text.contains("TLS1.2: [decrypted]"),
            "TLS 1.3 records are not labelled with their legacy record version: \(report.text)"
        )
        #expect(
            report.text.contains("-no_ca_names") && report.text.contains("ssl_conf_command Options -CANames"),
            "\(report.text)"
        )
        #expect(
            !report.text.contains(".cc:") && !report.text.contains("/Sources/"),
            "no library build paths: \(report.text)"
        )
    }

    @Test("a Ferry server: nothing wrong")
    func ferryServer() async throws {
        try await TestServerHarness.with { server in
            let report = try await diagnose("localhost:\(server.port)", identity(server.pki))
            #expect(report.ids.isEmpty, "\(report.text)")
            #expect(report.status == 0)
            #expect(report.text.contains("No problems found."))
            let versions = report.json["versions"] as? [[String: Any]] ?? []
            #expect(
                versions.filter { $0["result"] as? String == "accepted" }.compactMap { $0["offered"] as? String } == [
                    "TLS1.2", "TLS1.3",
                ]
            )
        }
    }

    @Test(
        "no client certificate: TLS 1.3 certificate_required from a Ferry server, TLS 1.2 handshake_failure from OpenSSL"
    )
    func missingClientCertificate() async throws {
        try await TestServerHarness.with { server in
            let report = try await diagnose("localhost:\(server.port)", ["--ca", server.pki.caFile])
            #expect(report.ids == ["peer-alert"], "\(report.text)")
            #expect(report.text.contains("The server aborted the handshake with certificate_required (116)"))
            #expect(report.text.contains("fix 1: Pass --cert and --key"))
        }
        let folder = try TemporaryDirectory("ferry-diagnose")
        defer { folder.remove() }
        let pki = try TestPKI(directory: folder.path + "/pki")
        let port = freeLoopbackPort()
        let server = try await opensslServer(pki, port: port, ["-tls1_2", "-Verify", "1", "-verify_return_error"])
        let report = try await diagnose("localhost:\(port)", ["--ca", pki.caFile])
        await server.stop()
        #expect(report.ids == ["peer-alert"], "\(report.text)")
        #expect(report.text.contains("The server aborted the handshake with handshake_failure (40)"))
        #expect(report.text.contains("the client sent no certificate"))
    }

    @Test(
        "a server whose only suite the client does not offer, and a server that does not ask for a client certificate"
    )
    func cipherAndNoRequest() async throws {
        let folder = try TemporaryDirectory("ferry-diagnose")
        defer { folder.remove() }
        let pki = try TestPKI(directory: folder.path + "/pki")
        let port = freeLoopbackPort()
        // AES128-SHA256 (CBC, RSA key exchange) with an RSA certificate: offered by Ferry's probes, not by BoringSSL.
        let openssl = try ExternalTool.require("openssl", installHint: "apt-get install openssl")
        let made = try await ExternalTool.run(
            openssl,
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", folder.path + "/rsa-key.pem", "-out",
                folder.path + "/rsa.pem", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost", "-days",
                "1",
            ]
        )
        #expect(made.status == 0, "\(made.output)")
        let cbc = try await opensslServer(
            pki,
            port: port,
            ["-tls1_2", "-cipher", "AES128-SHA256"],
            certificate: folder.path + "/rsa.pem",
            key: folder.path + "/rsa-key.pem"
        )
        let report = try await diagnose(
            "localhost:\(port)",
            ["--cert", pki.certificate("acme"), "--key", pki.key("acme"), "--ca", folder.path + "/rsa.pem"]
        )
        await cbc.stop()
        #expect(report.ids.first == "no-common-cipher", "\(report.text)")
        #expect(report.text.contains("TLS1.2: TLS_RSA_WITH_AES_128_CBC_SHA256"))

        let plain = freeLoopbackPort()
        let server = try await opensslServer(pki, port: plain, ["-tls1_3"])
        let noRequest = try await diagnose("localhost:\(plain)", identity(pki))
        await server.stop()
        #expect(noRequest.ids == ["client-cert-not-requested"], "\(noRequest.text)")
        #expect(noRequest.status == 1, "warnings only")
    }

    @Test("GnuTLS server with client certificates: nothing wrong")
    func gnutlsServer() async throws {
        let serverTool = try ExternalTool.require("gnutls-serv", installHint: "apt-get install gnutls-bin")
        let folder = try TemporaryDirectory("ferry-diagnose")
        defer { folder.remove() }
        let pki = try TestPKI(directory: folder.path + "/pki")
        let port = freeLoopbackPort()
        let server = try BackgroundProcess(
            serverTool,
            [
                "--port", "\(port)", "--x509certfile", pki.serverCertificate, "--x509keyfile", pki.serverKey,
                "--x509cafile", pki.caFile, "--require-client-cert", "--priority",
                "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2",
            ]
        )
        #expect(try await server.waitForOutput("listening"), "gnutls-serv: \(server.output)")
        let report = try await diagnose("localhost:\(port)", identity(pki))
        await server.stop()
        #expect(report.ids.isEmpty, "\(report.text)")
        #expect(report.status == 0)
    }

    /// Starts nginx (one process, in the foreground) serving TLS with client certificates required.
    func nginxServer(_ pki: TestPKI, folder: String, port: Int, extra: String = "") async throws -> BackgroundProcess {
        let nginx = try ExternalTool.require("nginx", installHint: "apt-get install nginx")
        let temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map { "\($0)_temp_path \(folder)/\($0);" }
            .joined(separator: " ")
        let conf = folder + "/nginx-\(port).conf"
        try """
        pid \(folder)/nginx-\(port).pid;
        error_log stderr notice;
        daemon off;
        master_process off;
        events { worker_connections 64; }
        http {
          access_log off;
          \(temp)
          server {
            listen 127.0.0.1:\(port) ssl;
            ssl_certificate \(pki.serverCertificate); ssl_certificate_key \(pki.serverKey);
            ssl_client_certificate \(pki.caFile); ssl_verify_client on;
            \(extra)
            location / { return 200 "ok"; }
          }
        }
        """.write(toFile: conf, atomically: true, encoding: .utf8)
        let server = try BackgroundProcess(nginx, ["-c", conf])
        #expect(try await server.waitForOutput("getrlimit", timeout: 30), "nginx: \(server.output)")
        return server
    }

    @Test(
        "nginx requiring client certificates: every run of the diagnosis says completed and finds nothing; with its CA names turned off under TLS 1.3, the empty extension is named"
    )
    func nginxPeer() async throws {
        let folder = try TemporaryDirectory("ferry-diagnose")
        defer { folder.remove() }
        let pki = try TestPKI(directory: folder.path + "/pki")
        let port = freeLoopbackPort()
        let server = try await nginxServer(pki, folder: folder.path, port: port)
        // nginx closes TCP once it has our close_notify: that is not a failed handshake, in any run.
        for _ in 0..<5 {
            let report = try await diagnose("127.0.0.1:\(port)", ["--sni", "localhost"] + identity(pki))
            #expect(report.text.contains("Handshake with your client settings: completed"), "\(report.text)")
            #expect(report.json["handshake_error"] == nil && report.ids.isEmpty && report.status == 0, "\(report.text)")
        }
        await server.stop()

        let other = freeLoopbackPort()
        let quiet = try await nginxServer(
            pki,
            folder: folder.path,
            port: other,
            extra: "ssl_protocols TLSv1.3; ssl_conf_command Options -CANames;"
        )
        let report = try await diagnose("127.0.0.1:\(other)", ["--sni", "localhost"] + identity(pki))
        await quiet.stop()
        #expect(report.ids.first == "tls13-empty-ca-extension", "\(report.text)")
    }

    @Test(
        "faults on this side are blamed on this side: an expired client certificate, and a max-version that leaves out the only version the server accepts"
    )
    func localFaults() async throws {
        let folder = try TemporaryDirectory("ferry-diagnose")
        defer { folder.remove() }
        let pki = try TestPKI(directory: folder.path + "/pki")
        try pki.issue("lapsed", validFrom: Date().addingTimeInterval(-60 * 86_400), days: 30)
        let port = freeLoopbackPort()
        let server = try await opensslServer(pki, port: port, ["-tls1_3", "-Verify", "1", "-verify_return_error"])
        let expired = try await diagnose(
            "localhost:\(port)",
            ["--cert", pki.certificate("lapsed"), "--key", pki.key("lapsed"), "--ca", pki.caFile]
        )
        #expect(expired.ids.first == "client-cert-expired", "\(expired.text)")
        let first = (expired.json["findings"] as? [[String: Any]])?.first
        #expect(first?["side"] as? String == "local", "\(expired.text)")

        let config = folder.path + "/client.yaml"
        try """
        client:
          tls: {certificate: \(pki.certificate("acme")), key: \(pki.key("acme")), ca: \(pki.caFile), max-version: TLS1.2}
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let capped = try await diagnose("localhost:\(port)", ["--config", config])
        await server.stop()
        let finding = (capped.json["findings"] as? [[String: Any]])?.first {
            $0["id"] as? String == "no-common-version"
        }
        #expect(finding?["side"] as? String == "local", "\(capped.text)")
        #expect(
            capped.text.contains("Your client's version settings leave out TLS1.3, which the server accepts"),
            "\(capped.text)"
        )
        #expect(capped.text.contains("max-version"), "\(capped.text)")
    }

    @Test(
        "no probe accepted is not always no-common-version: a TLS 1.3 server wanting P-384 or P-256 (HelloRetryRequest), an SNI name the server does not serve, and a server that closes at once",
        arguments: ["P-384", "P-256"]
    )
    func probesThatFailForOtherReasons(group: String) async throws {
        let folder = try TemporaryDirectory("ferry-diagnose")
        defer { folder.remove() }
        let pki = try TestPKI(directory: folder.path + "/pki")
        let port = freeLoopbackPort()
        let fips = try await opensslServer(pki, port: port, ["-tls1_3", "-groups", group])
        let retried = try await diagnose("localhost:\(port)", ["--ca", pki.caFile])
        await fips.stop()
        let tls13 = (retried.json["versions"] as? [[String: Any]])?.first { $0["offered"] as? String == "TLS1.3" }
        #expect(tls13?["result"] as? String == "accepted", "\(retried.text)")
        #expect(
            (tls13?["detail"] as? String ?? "").contains(
                "after a HelloRetryRequest for secp\(group == "P-384" ? "384r1" : "256r1")"
            ),
            "\(retried.text)"
        )
        #expect(retried.ids.isEmpty && retried.status == 0, "\(retried.text)")
        #expect(retried.text.contains("Handshake with your client settings: completed"))

        let sniPort = freeLoopbackPort()
        let named = try await opensslServer(
            pki,
            port: sniPort,
            [
                "-cert2", pki.serverCertificate, "-key2", pki.serverKey, "-servername", "partner.example",
                "-servername_fatal",
            ]
        )
        let sni = try await diagnose("localhost:\(sniPort)", ["--ca", pki.caFile])
        await named.stop()
        #expect(sni.ids.first == "sni-unrecognized-name", "\(sni.text)")
        #expect(!sni.ids.contains("no-common-version"), "\(sni.text)")
        #expect(sni.text.contains("the name sent in SNI: localhost"))

        // A listener that accepts and closes at once, whatever it is sent.
        let python = try ExternalTool.require("python3", installHint: "apt-get install python3")
        let closePort = freeLoopbackPort()
        let closer = try BackgroundProcess(
            python,
            [
                "-c",
                """
                import socket
                s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", \(closePort))); s.listen(16); print("ready", flush=True)
                while True:
                    c, _ = s.accept(); c.close()
                """,
            ]
        )
        #expect(try await closer.waitForOutput("ready"))
        let closed = try await diagnose("127.0.0.1:\(closePort)", ["--ca", pki.caFile])
        await closer.stop()
        #expect(closed.ids.first == "handshake-incomplete", "\(closed.text)")
        #expect(closed.text.contains("closes the connection at once, without an alert"), "\(closed.text)")
        #expect(!closed.ids.contains("no-common-version"), "\(closed.text)")
        #expect(closed.status == 2)
    }

    @Test(
        "a server that tops out at TLS 1.1: it answers a TLS 1.2 offer with 1.1 and takes 1.0 and 1.1 alone; Ferry's TLS 1.2+ client shares nothing with it"
    )
    func tls11Server() async throws {
        let folder = try TemporaryDirectory("ferry-diagnose")
        defer { folder.remove() }
        let pki = try TestPKI(directory: folder.path + "/pki")
        let port = freeLoopbackPort()
        let server = try await opensslServer(
            pki,
            port: port,
            ["-no_tls1_2", "-no_tls1_3", "-cipher", "DEFAULT:@SECLEVEL=0"]
        )
        let report = try await diagnose("localhost:\(port)", ["--ca", pki.caFile])
        await server.stop()
        #expect(report.ids.first == "no-common-version", "\(report.text)")
        #expect(
            report.ids.contains("tls11-negotiated") && report.ids.contains("legacy-version-accepted"),
            "\(report.text)"
        )
        #expect(
            report.text.contains("The server negotiated TLS 1.1 although the client offered up to TLS1.2"),
            "\(report.text)"
        )
        let first = (report.json["findings"] as? [[String: Any]])?.first
        #expect(first?["side"] as? String == "peer", "only legacy versions: the partner's to fix")
    }

    @Test("a listener that accepts and never answers: no-response, not a version verdict")
    func blackHole() async throws {
        let python = try ExternalTool.require("python3", installHint: "apt-get install python3")
        let folder = try TemporaryDirectory("ferry-diagnose")
        defer { folder.remove() }
        let port = freeLoopbackPort()
        let hole = try BackgroundProcess(
            python,
            [
                "-c",
                """
                import socket, time
                s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", \(port))); s.listen(16); print("ready", flush=True)
                held = []
                while True:
                    c, _ = s.accept(); held.append(c)
                """,
            ]
        )
        #expect(try await hole.waitForOutput("ready"))
        let report = try await diagnose("127.0.0.1:\(port)", [])
        await hole.stop()
        #expect(report.ids.first == "no-response", "\(report.text)")
        #expect(!report.ids.contains("no-common-version"), "\(report.text)")
        #expect(report.status == 2)
    }

    @Test("a partner named in the config is diagnosed with its URL and TLS profile")
    func partnerFromConfig() async throws {
        try await TestServerHarness.with { server in
            let config = server.folder.path + "/client.yaml"
            try """
            partners:
              acme:
                url: https://localhost:\(server.port)
                tls: {certificate: \(server.pki.certificate("acme")), key: \(server.pki.key("acme")), ca: \(server.pki.caFile)}
            """.write(toFile: config, atomically: true, encoding: .utf8)
            let report = try await diagnose("acme", ["--config", config])
            #expect(report.json["port"] as? Int == server.port)
            #expect(report.ids.isEmpty, "\(report.text)")
            #expect(report.status == 0)
        }
    }

    @Test("a plaintext HTTP server on the port, a plaintext protocol that speaks first, and nothing listening at all")
    func plaintextAndClosed() async throws {
        let python = try ExternalTool.require("python3", installHint: "apt-get install python3")
        let folder = try TemporaryDirectory("ferry-diagnose")
        defer { folder.remove() }
        let pki = try TestPKI(directory: folder.path + "/pki")
        let port = freeLoopbackPort()
        let http = try BackgroundProcess(python, ["-m", "http.server", "\(port)", "--bind", "127.0.0.1"])
        #expect(try await http.waitForOutput("Serving HTTP"), "\(http.output)")
        let report = try await diagnose("127.0.0.1:\(port)", identity(pki))
        await http.stop()
        #expect(report.ids == ["tls-on-plaintext-port"], "\(report.text)")
        #expect(
            report.text.contains("the server answered: \"<!DOCTYPE HTML"),
            "the evidence quotes the server's answer: \(report.text)"
        )
        #expect(report.status == 2)
        // A service that greets first, as SSH does.
        let bannerPort = freeLoopbackPort()
        let banner = try BackgroundProcess(
            python,
            [
                "-c",
                """
                import socket
                s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", \(bannerPort))); s.listen(8)
                print("listening", flush=True)
                while True:
                    c, _ = s.accept(); c.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian\\r\\n"); c.close()
                """,
            ]
        )
        #expect(try await banner.waitForOutput("listening"), "\(banner.output)")
        let greeted = try await diagnose("127.0.0.1:\(bannerPort)", identity(pki))
        await banner.stop()
        #expect(greeted.ids == ["plaintext-on-tls-port"], "\(greeted.text)")
        #expect(greeted.text.contains("SSH-2.0-OpenSSH_9.2p1"))
        let closed = try await diagnose("127.0.0.1:\(freeLoopbackPort())", identity(pki))
        #expect(closed.ids == ["connect-failed"])
        #expect(closed.status == 2)
    }

    /// A relay in front of `upstream` that passes what the client sends but only the first `limit` bytes of
    /// each answer, then stalls (`cut: false`) or closes the connection without an alert (`cut: true`).
    func truncatingRelay(_ python: String, port: Int, upstream: Int, limit: Int, cut: Bool) throws -> BackgroundProcess
    {
        try BackgroundProcess(
            python,
            [
                "-c",
                """
                import socket, threading
                def pipe(a, b, limit):
                    # Passes a's bytes to b (only the first `limit` of them when set); when a ends, or when the cut
                    # comes, both connections close (s_server serves one connection at a time).
                    sent = 0
                    try:
                        while True:
                            data = a.recv(65536)
                            if not data: break
                            if limit is None:
                                b.sendall(data); continue
                            if sent < limit:
                                b.sendall(data[:limit - sent]); sent += len(data[:limit - sent])
                            if sent >= limit and \(cut ? "True" : "False"):
                                break
                    except OSError:
                        pass
                    for s in (a, b):
                        try: s.shutdown(socket.SHUT_RDWR)
                        except OSError: pass
                        s.close()
                def serve(c):
                    u = socket.create_connection(("127.0.0.1", \(upstream)))
                    threading.Thread(target=pipe, args=(c, u, None), daemon=True).start()
                    threading.Thread(target=pipe, args=(u, c, \(limit)), daemon=True).start()
                s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", \(port))); s.listen(64)
                print("relaying", flush=True)
                while True:
                    c, _ = s.accept(); serve(c)
                """,
            ]
        )
    }

    @Test(
        "a relay that passes only the start of the server's answer, then stalls or closes: an error finding with what was seen, never 'no problems'",
        arguments: [false, true]
    )
    func truncatedAnswer(cut: Bool) async throws {
        let python = try ExternalTool.require("python3", installHint: "apt-get install python3")
        let folder = try TemporaryDirectory("ferry-diagnose")
        defer { folder.remove() }
        let pki = try TestPKI(directory: folder.path + "/pki")
        let upstream = freeLoopbackPort()
        let server = try await opensslServer(pki, port: upstream, ["-Verify", "1"])
        let port = freeLoopbackPort()
        // 150 bytes: a whole ServerHello, and only the start of the certificate that follows it.
        let relay = try truncatingRelay(python, port: port, upstream: upstream, limit: 150, cut: cut)
        #expect(try await relay.waitForOutput("relaying"), "\(relay.output)")
        let report = try await diagnose("127.0.0.1:\(port)", identity(pki))
        await relay.stop()
        await server.stop()
        #expect(report.status == 2, "\(report.text)")
        #expect(
            !report.text.contains("No problems found") && !report.text.contains("client settings: completed"),
            "\(report.text)"
        )
        let findings = report.json["findings"] as? [[String: Any]] ?? []
        #expect(findings.first?["severity"] as? String == "error", "\(report.text)")
        if report.ids.contains("handshake-incomplete") {
            #expect(
                report.text.contains("received from the server: SERVER_HELLO"),
                "the evidence says how far the answer got: \(report.text)"
            )
            #expect(
                report.text.contains(cut ? "closed before the handshake completed" : "did not complete within"),
                "\(report.text)"
            )
        }
        // A flight cut short says nothing about what the rest of it would have held.
        #expect(!report.ids.contains("client-cert-not-requested"), "\(report.text)")
    }

}
