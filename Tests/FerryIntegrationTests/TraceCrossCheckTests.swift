import FerryTestSupport
import FerryTrace
import FerryWire
import Foundation
import NIOCore
import Testing

/// Ferry's decoder against Wireshark's: real peers (OpenSSL, GnuTLS, tlslite-ng, curl against a Ferry
/// server) make a handshake, dumpcap captures it, and the message sequence, record and handshake versions,
/// cipher suite, certificate types, CA-name lengths and names, and alerts that Ferry decodes (decrypting with
/// the key log) must equal tshark's reading of the same file with the same keys.
@Suite("Trace decodes match tshark on captures of real peers", .serialized)
struct TraceCrossCheckTests {
    struct Peer: CustomTestStringConvertible, Sendable {
        let name: String
        let server: [String]
        let client: [String]
        let clientCertificate: Bool
        /// What the facts must show.
        let expectedSuiteIsTLS13: Bool?
        let caNames: Bool
        /// Whether Ferry decrypts the suite (AEAD); CBC suites are compared without keys.
        var decryptable = true
        /// Capture in the classic pcap format instead of pcapng.
        var classicPcap = false
        /// What s_client reads on standard input ("k" asks it to send a TLS 1.3 KeyUpdate).
        var input = "hello\n"
        var testDescription: String { name }
    }

    static let legacy = ["-cipher", "DEFAULT:@SECLEVEL=0"]
    static let openssl: [Peer] = [
        Peer(
            name: "OpenSSL TLS 1.3, client certificate, CA names",
            server: ["-tls1_3", "-Verify", "1"],
            client: [],
            clientCertificate: true,
            expectedSuiteIsTLS13: true,
            caNames: true
        ),
        Peer(
            name: "OpenSSL TLS 1.3, no client certificate, no CA names",
            server: ["-tls1_3", "-verify", "1", "-no_ca_names"],
            client: [],
            clientCertificate: false,
            expectedSuiteIsTLS13: true,
            caNames: false
        ),
        Peer(
            name: "OpenSSL TLS 1.2, client certificate, CA names",
            server: ["-tls1_2", "-Verify", "1"],
            client: [],
            clientCertificate: true,
            expectedSuiteIsTLS13: false,
            caNames: true
        ),
        Peer(
            name: "OpenSSL TLS 1.2, certificate required but none sent, no CA names",
            server: ["-tls1_2", "-Verify", "1", "-no_ca_names"],
            client: [],
            clientCertificate: false,
            expectedSuiteIsTLS13: false,
            caNames: false
        ),
        Peer(
            name: "OpenSSL TLS 1.3 with ChaCha20-Poly1305",
            server: ["-tls1_3", "-Verify", "1", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256"],
            client: [],
            clientCertificate: true,
            expectedSuiteIsTLS13: true,
            caNames: true
        ),
        Peer(
            name: "OpenSSL TLS 1.3 with a KeyUpdate from the client",
            server: ["-tls1_3", "-Verify", "1"],
            client: [],
            clientCertificate: true,
            expectedSuiteIsTLS13: true,
            caNames: true,
            input: "k\nhello\n"
        ),
        Peer(
            name: "OpenSSL TLS 1.2 with ECDHE-ECDSA-CHACHA20-POLY1305",
            server: ["-tls1_2", "-Verify", "1", "-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305"],
            client: [],
            clientCertificate: true,
            expectedSuiteIsTLS13: false,
            caNames: true
        ),
        Peer(
            name: "OpenSSL TLS 1.2 with ECDHE-ECDSA-AES128-GCM-SHA256, classic pcap",
            server: ["-tls1_2", "-Verify", "1", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"],
            client: [],
            clientCertificate: true,
            expectedSuiteIsTLS13: false,
            caNames: true,
            classicPcap: true
        ),
        Peer(
            name: "OpenSSL TLS 1.0, AES-CBC with the implicit IV, encrypt-then-MAC, client certificate",
            server: ["-tls1", "-Verify", "1"] + legacy,
            client: ["-tls1"] + legacy,
            clientCertificate: true,
            expectedSuiteIsTLS13: false,
            caNames: true
        ),
        Peer(
            name: "OpenSSL TLS 1.0, AES-CBC, MAC-then-encrypt (-no_etm)",
            server: ["-tls1", "-Verify", "1", "-no_etm"] + legacy,
            client: ["-tls1"] + legacy,
            clientCertificate: true,
            expectedSuiteIsTLS13: false,
            caNames: true
        ),
        Peer(
            name: "OpenSSL TLS 1.1, ECDHE-ECDSA-AES256-SHA, explicit IVs",
            server: ["-tls1_1", "-Verify", "1", "-cipher", "ECDHE-ECDSA-AES256-SHA:@SECLEVEL=0"],
            client: ["-tls1_1", "-cipher", "ECDHE-ECDSA-AES256-SHA:@SECLEVEL=0"],
            clientCertificate: true,
            expectedSuiteIsTLS13: false,
            caNames: true
        ),
        Peer(
            name: "OpenSSL TLS 1.2, ECDHE-ECDSA-AES128-SHA256, MAC-then-encrypt (-no_etm)",
            server: ["-tls1_2", "-Verify", "1", "-no_etm", "-cipher", "ECDHE-ECDSA-AES128-SHA256"],
            client: ["-cipher", "ECDHE-ECDSA-AES128-SHA256"],
            clientCertificate: true,
            expectedSuiteIsTLS13: false,
            caNames: true
        ),
        Peer(
            name: "OpenSSL TLS 1.2, ECDHE-ECDSA-AES256-SHA384, encrypt-then-MAC",
            server: ["-tls1_2", "-Verify", "1", "-cipher", "ECDHE-ECDSA-AES256-SHA384"],
            client: ["-cipher", "ECDHE-ECDSA-AES256-SHA384"],
            clientCertificate: true,
            expectedSuiteIsTLS13: false,
            caNames: true
        ),
    ]

    func compare(
        capture: String,
        keylog: String?,
        serverPort: Int
    ) async throws -> (ferry: HandshakeFacts, tshark: HandshakeFacts)? {
        let tshark = try await HandshakeFacts.tshark(capture, keylog: keylog, serverPort: serverPort)
        let ferry = try HandshakeFacts.ferry(capture, keylog: keylog)
        #expect(ferry == tshark, "Ferry:\n\(ferry)\ntshark:\n\(tshark)")
        #expect(!ferry.serverMessages.isEmpty && !ferry.clientMessages.isEmpty, "the capture holds a handshake")
        return (ferry, tshark)
    }

    @Test("OpenSSL s_server and s_client", arguments: openssl)
    func opensslPeers(peer: Peer) async throws {
        let openssl = try ExternalTool.require("openssl", installHint: "apt-get install openssl")
        let folder = try TemporaryDirectory("ferry-xcheck")
        defer { folder.remove() }
        let pki = try TestPKI(directory: folder.path + "/pki")
        let port = freeLoopbackPort()
        let keylog = folder.path + "/keys.txt"
        let captured = try await PacketCapture.record(
            port: port,
            into: folder.path + "/capture",
            classicPcap: peer.classicPcap
        ) {
            let server = try BackgroundProcess(
                openssl,
                [
                    "s_server", "-accept", "\(port)", "-naccept", "1", "-cert", pki.serverCertificate, "-key",
                    pki.serverKey, "-CAfile", pki.caFile,
                ] + peer.server
            )
            #expect(try await server.waitForOutput("ACCEPT", timeout: 30), "s_server: \(server.output)")
            let identity = peer.clientCertificate ? ["-cert", pki.certificate("acme"), "-key", pki.key("acme")] : []
            let client = try await ExternalTool.run(
                openssl,
                ["s_client", "-connect", "127.0.0.1:\(port)", "-CAfile", pki.caFile, "-keylogfile", keylog] + identity
                    + peer.client,
                input: peer.input,
                timeout: 20
            )
            _ = client
            await server.stop()
        }
        guard let captured,
            let facts = try await compare(capture: captured, keylog: peer.decryptable ? keylog : nil, serverPort: port)
        else { return }
        #expect(facts.ferry.serverMessages.contains(13), "a CertificateRequest was sent")
        #expect(facts.ferry.distinguishedNames.isEmpty == !peer.caNames)
        if peer.caNames { #expect(facts.ferry.distinguishedNames == ["CN=Ferry Test CA,O=Example"]) }
        if peer.decryptable {
            // Finished is always encrypted: seeing it proves the decryption (tshark's and Ferry's) worked.
            #expect(facts.ferry.clientMessages.contains(20), "the client's Finished was decrypted")
            if peer.clientCertificate {
                #expect(facts.ferry.serverMessages.contains(20), "the server's Finished was decrypted")
            }
        }
        if peer.input.hasPrefix("k") {
            #expect(facts.ferry.clientMessages.contains(24), "the KeyUpdate was decrypted")
            #expect(
                facts.ferry.clientRecords.last == "771/21",
                "the close_notify after it was decrypted with the updated keys"
            )
        }
        if let tls13 = peer.expectedSuiteIsTLS13 { #expect((facts.ferry.cipherSuite.map { $0 >> 8 == 0x13 }) == tls13) }
    }

    @Test(
        "GnuTLS gnutls-serv and gnutls-cli, TLS 1.3 and TLS 1.2, and 3DES-CBC under TLS 1.2 and 1.0",
        arguments: [
            "+VERS-TLS1.3", "+VERS-TLS1.2", "+VERS-TLS1.2:-CIPHER-ALL:+3DES-CBC", "+VERS-TLS1.0:-CIPHER-ALL:+3DES-CBC",
        ]
    )
    func gnutlsPeers(version: String) async throws {
        let serverTool = try ExternalTool.require("gnutls-serv", installHint: "apt-get install gnutls-bin")
        let clientTool = try ExternalTool.require("gnutls-cli", installHint: "apt-get install gnutls-bin")
        let folder = try TemporaryDirectory("ferry-xcheck")
        defer { folder.remove() }
        let pki = try TestPKI(directory: folder.path + "/pki")
        let port = freeLoopbackPort()
        let keylog = folder.path + "/keys.txt"
        let priority = "NORMAL:-VERS-ALL:\(version)"
        let captured = try await PacketCapture.record(port: port, into: folder.path + "/capture.pcapng") {
            let server = try BackgroundProcess(
                serverTool,
                [
                    "--port", "\(port)", "--x509certfile", pki.serverCertificate, "--x509keyfile", pki.serverKey,
                    "--x509cafile", pki.caFile, "--require-client-cert", "--priority", priority,
                ]
            )
            #expect(try await server.waitForOutput("listening"), "gnutls-serv: \(server.output)")
            var environment = ProcessInfo.processInfo.environment
            environment["SSLKEYLOGFILE"] = keylog
            _ = try await ExternalTool.run(
                clientTool,
                [
                    "localhost", "-p", "\(port)", "--x509cafile", pki.caFile, "--x509certfile", pki.certificate("acme"),
                    "--x509keyfile", pki.key("acme"), "--priority", priority,
                ],
                input: "hello\n",
                timeout: 20,
                environment: environment
            )
            await server.stop()
        }
        guard let captured, let facts = try await compare(capture: captured, keylog: keylog, serverPort: port) else {
            return
        }
        #expect(facts.ferry.serverMessages.contains(13))
        #expect(!facts.ferry.distinguishedNames.isEmpty, "gnutls-serv names its CA")
        #expect(
            facts.ferry.clientMessages.contains(20) && facts.ferry.serverMessages.contains(20),
            "both Finished messages were decrypted"
        )
        if version.contains("3DES") {
            #expect(
                TLSCipherSuite(rawValue: facts.ferry.cipherSuite ?? 0).name?.contains("3DES_EDE_CBC") == true,
                "\(facts.ferry)"
            )
        }
    }

    @Test(
        "tlslite-ng on both sides under SSLv3 (AES-128-CBC, 3DES-CBC) and TLS 1.0 (3DES-CBC): Ferry decrypts with SSLv3's key block and MAC, as tshark does",
        arguments: [("ssl3", "aes128"), ("ssl3", "3des"), ("tls1.0", "3des")]
    )
    func tlsliteLegacyDecryption(version: String, cipher: String) async throws {
        let python = try ExternalTool.require("python3", installHint: "apt-get install python3")
        let openssl = try ExternalTool.require("openssl", installHint: "apt-get install openssl")
        guard try await TLSLitePeer.available(python) else { return }
        let folder = try TemporaryDirectory("ferry-xcheck")
        defer { folder.remove() }
        let port = freeLoopbackPort()
        let keylog = folder.path + "/keys.txt"
        let captured = try await PacketCapture.record(port: port, into: folder.path + "/capture.pcapng") {
            let server = try await TLSLitePeer.start(
                python,
                openssl: openssl,
                folder: folder.path,
                port: port,
                version: version,
                caNames: true
            )
            #expect(try await server.waitForOutput("ready"), "tlslite-ng: \(server.output)")
            let client = try await TLSLitePeer.client(
                python,
                folder: folder.path,
                port: port,
                version: version,
                cipher: cipher,
                keylog: keylog
            )
            #expect(client.output.contains("handshake done"), "\(client.output)")
            await server.stop()
        }
        guard let captured, let facts = try await compare(capture: captured, keylog: keylog, serverPort: port) else {
            return
        }
        #expect(facts.ferry.serverRecords.first == (version == "ssl3" ? "768/22" : "769/22"), "\(facts.ferry)")
        #expect(
            facts.ferry.clientMessages.contains(20) && facts.ferry.serverMessages.contains(20),
            "both Finished messages were decrypted: \(facts.ferry)"
        )
        let name = TLSCipherSuite(rawValue: facts.ferry.cipherSuite ?? 0).name ?? ""
        #expect(name.contains(cipher == "3des" ? "3DES_EDE_CBC" : "AES_128_CBC"), "\(name)")
        // The wrong master secret decrypts nothing: the MAC is checked.
        let wrong = folder.path + "/wrong.txt"
        let line = try String(contentsOfFile: keylog, encoding: .utf8).split(separator: " ")
        try "CLIENT_RANDOM \(line[1]) \(String(repeating: "ab", count: 48))\n".write(
            toFile: wrong,
            atomically: true,
            encoding: .utf8
        )
        let garbled = try HandshakeFacts.ferry(captured, keylog: wrong)
        #expect(!garbled.clientMessages.contains(20), "a wrong key is not shown as a Finished message")
    }

    @Test("tlslite-ng limited to SSLv3 with no CA names: the incident's server flight")
    func sslv3Server() async throws {
        let python = try ExternalTool.require("python3", installHint: "apt-get install python3")
        let openssl = try ExternalTool.require("openssl", installHint: "apt-get install openssl")
        guard try await TLSLitePeer.available(python) else { return }
        let folder = try TemporaryDirectory("ferry-xcheck")
        defer { folder.remove() }
        let port = freeLoopbackPort()
        let captured = try await PacketCapture.record(port: port, into: folder.path + "/capture.pcapng") {
            let server = try await TLSLitePeer.start(
                python,
                openssl: openssl,
                folder: folder.path,
                port: port,
                version: "ssl3",
                caNames: false
            )
            #expect(try await server.waitForOutput("ready"), "tlslite-ng: \(server.output)")
            // Offering RSA key exchange only, as the incident's client effectively did (no ServerKeyExchange).
            _ = try await ExternalTool.run(
                openssl,
                ["s_client", "-connect", "127.0.0.1:\(port)", "-tls1_2", "-cipher", "AES128-SHA:@SECLEVEL=0"],
                input: "",
                timeout: 20
            )
            await server.stop()
        }
        guard let captured, let facts = try await compare(capture: captured, keylog: nil, serverPort: port) else {
            return
        }
        #expect(facts.ferry.serverRecords.first == "768/22", "SSLv3 records")
        #expect(facts.ferry.distinguishedNamesLengths == [0])
        #expect(facts.ferry.serverMessages == [2, 11, 13, 14])
        // And the summary reads like the incident's.
        let capture = try CaptureFile(bytes: .init(bytes: try Data(contentsOf: URL(fileURLWithPath: captured))))
        let conversation = try #require(CaptureTrace(file: capture).connections.first?.conversation)
        let summary = TLSTraceRenderer().render(conversation, format: .summary)
        #expect(
            summary.contains("SSL3: HSHK( SERVER_HELLO CERTIFICATE CERTIFICATE_REQUEST SERVER_HELLO_DONE )"),
            "\(summary)"
        )
        let verbose = TLSTraceRenderer().render(conversation, format: .verbose)
        #expect(verbose.contains("Distinguished Names Length: 0"))
    }

    @Test("curl against a Ferry server, captured on the 'any' interface (Linux cooked capture)")
    func ferryServerWithCurl() async throws {
        let curl = try ExternalTool.require("curl", installHint: "apt-get install curl")
        try await TestServerHarness.with { server in
            let keylog = server.folder.path + "/keys.txt"
            let captured = try await PacketCapture.record(
                port: server.port,
                interface: "any",
                into: server.folder.path + "/capture.pcapng"
            ) {
                var environment = ProcessInfo.processInfo.environment
                environment["SSLKEYLOGFILE"] = keylog
                let outcome = try await ExternalTool.run(
                    curl,
                    server.curlIdentity("acme") + [
                        "-s", "-o", "/dev/null", "-w", "%{http_code}", "--http1.1",
                        "https://localhost:\(server.port)/v1/files/",
                    ],
                    timeout: 20,
                    environment: environment
                )
                #expect(outcome.stdout == "200", "\(outcome.output)")
            }
            guard let captured,
                let facts = try await compare(capture: captured, keylog: keylog, serverPort: server.port)
            else { return }
            #expect(facts.ferry.serverMessages.prefix(6) == [2, 8, 13, 11, 15, 20], "TLS 1.3 flight, decrypted")
            #expect(facts.ferry.distinguishedNames == ["CN=Ferry Test CA,O=Example"])
        }
    }
}

/// A tlslite-ng TLS server (Python, from PyPI): the one peer on this machine that still speaks SSLv3.
enum TLSLitePeer {
    static let script = """
        import socket, sys
        from tlslite.api import *
        port, cert, key, version, cas = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
        x509 = X509(); x509.parse(open(cert).read())
        chain = X509CertChain([x509]); pkey = parsePEMKey(open(key).read(), private=True)
        settings = HandshakeSettings()
        v = {"ssl3": (3, 0), "tls1.0": (3, 1), "tls1.1": (3, 2), "tls1.2": (3, 3)}[version]
        settings.minVersion = v; settings.maxVersion = v; settings.versions = [v]
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", port)); s.listen(1)
        print("ready", flush=True)
        while True:
            c, _ = s.accept()
            c.settimeout(10)
            try:
                TLSConnection(c).handshakeServer(certChain=chain, privateKey=pkey, reqCert=True, reqCAs=None if cas == "none" else [], settings=settings)
                print("handshake ok", flush=True)
            except Exception as e:
                print("handshake failed:", repr(e), flush=True)
            try:
                c.close()
            except Exception:
                pass
        """

    /// A tlslite-ng client offering one version and one cipher, writing the connection's master secret in the
    /// NSS key log format, then "hello".
    static let clientScript = """
        import socket, sys
        from tlslite.api import *
        port, version, cipher, keylog = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
        v = {"ssl3": (3, 0), "tls1.0": (3, 1), "tls1.1": (3, 2), "tls1.2": (3, 3)}[version]
        settings = HandshakeSettings(); settings.minVersion = v; settings.maxVersion = v; settings.versions = [v]; settings.cipherNames = [cipher]
        c = TLSConnection(socket.create_connection(("127.0.0.1", port)))
        c.handshakeClientCert(settings=settings)
        open(keylog, "w").write("CLIENT_RANDOM %s %s\\n" % (bytes(c._clientRandom).hex(), bytes(c.session.masterSecret).hex()))
        print("handshake done", c.getCipherName(), flush=True)
        try:
            c.write(b"hello\\n"); c.close()
        except Exception as e:
            print("after the handshake:", repr(e), flush=True)
        """

    static func client(
        _ python: String,
        folder: String,
        port: Int,
        version: String,
        cipher: String,
        keylog: String
    ) async throws -> ExternalTool.Outcome {
        let path = folder + "/tlslite_client.py"
        try clientScript.write(toFile: path, atomically: true, encoding: .utf8)
        return try await ExternalTool.run(python, [path, "\(port)", version, cipher, keylog], timeout: 30)
    }

    static func available(_ python: String) async throws -> Bool {
        let check = try await ExternalTool.run(python, ["-c", "import tlslite"])
        if check.status == 0 { return true }
        if ExternalTool.isCI { throw ExternalTool.MissingTool(name: "tlslite-ng", hint: "pip install tlslite-ng") }
        print("note: the Python package tlslite-ng is not installed; skipping (CI installs it: pip install tlslite-ng)")
        return false
    }

    /// Starts the server with a throwaway self-signed RSA certificate made by openssl (tlslite's SSLv3 needs
    /// RSA key exchange).
    static func start(
        _ python: String,
        openssl: String,
        folder: String,
        port: Int,
        version: String,
        caNames: Bool
    ) async throws -> BackgroundProcess {
        let certificate = folder + "/rsa.pem"
        let key = folder + "/rsa-key.pem"
        let made = try await ExternalTool.run(
            openssl,
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certificate, "-subj",
                "/CN=legacy.example/O=Partner", "-days", "1",
            ]
        )
        guard made.status == 0 else { throw HandshakeFacts.ToolFailure(output: made.output) }
        let path = folder + "/tlslite_server.py"
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        return try BackgroundProcess(python, [path, "\(port)", certificate, key, version, caNames ? "names" : "none"])
    }
}
