import FerryLedger
import FerryTestSupport
import Foundation
import Testing

extension Tag {
    /// The interoperability matrix: run it alone with `swift test --filter InteropMatrixTests`.
    @Tag static var interop: Self
}

/// A Ferry server against the clients partners use, at TLS 1.2 and TLS 1.3: each cell uploads a file with the
/// client's own certificate and is judged by the server's ledger (result, negotiated version) and the stored
/// bytes' SHA-256. With FERRY_INTEROP_DOC set to a path, the run writes the table there (docs/interop.md is made
/// this way by scripts/interop).
@Suite("Interoperability matrix: Ferry server × real clients × TLS 1.2/1.3", .serialized, .tags(.interop))
struct InteropMatrixTests {
    struct Client: Sendable {
        let name: String
        /// The tool's version line, for the table.
        let version: @Sendable () async throws -> String?
        /// Uploads `file` to `interop/NAME` restricted to `tls` ("1.2" or "1.3"); nil when the tool is missing here.
        let upload:
            @Sendable (_ server: TestServerHarness, _ file: String, _ target: String, _ tls: String) async throws ->
                ExternalTool.Outcome?
    }

    /// A peer for one cell: in CI it must be there; elsewhere a missing peer leaves its cells out of the table.
    static func tool(_ name: String, _ hint: String) throws -> String? {
        ExternalTool.isCI ? try ExternalTool.require(name, installHint: hint) : ExternalTool.find(name)
    }

    /// An OpenSSL configuration that limits every OpenSSL-based client of the process (Python) to one version.
    static func opensslConf(_ folder: String, _ tls: String) throws -> [String: String] {
        let path = folder + "/openssl-\(tls).cnf"
        try """
        openssl_conf = default_conf
        [default_conf]
        ssl_conf = ssl_sect
        [ssl_sect]
        system_default = system_default_sect
        [system_default_sect]
        MinProtocol = TLSv\(tls)
        MaxProtocol = TLSv\(tls)
        """.write(toFile: path, atomically: true, encoding: .utf8)
        var environment = ProcessInfo.processInfo.environment
        environment["OPENSSL_CONF"] = path
        return environment
    }

    static func rawPut(_ target: String, _ file: String) throws -> String {
        let body = try String(contentsOfFile: file, encoding: .utf8)
        return
            "PUT /v1/files/\(target) HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n"
            + body
    }

    static let javaSource = """
        import java.io.FileInputStream;
        import java.net.URI;
        import java.net.http.*;
        import java.nio.file.Path;
        import java.security.KeyStore;
        import java.security.cert.CertificateFactory;
        import javax.net.ssl.*;

        public class Put {
            public static void main(String[] a) throws Exception {
                KeyStore keys = KeyStore.getInstance("PKCS12");
                keys.load(new FileInputStream(a[1]), a[2].toCharArray());
                KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
                kmf.init(keys, a[2].toCharArray());
                KeyStore trust = KeyStore.getInstance(KeyStore.getDefaultType());
                trust.load(null, null);
                trust.setCertificateEntry("ca", CertificateFactory.getInstance("X.509").generateCertificate(new FileInputStream(a[3])));
                TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
                tmf.init(trust);
                SSLContext context = SSLContext.getInstance("TLS");
                context.init(kmf.getKeyManagers(), tmf.getTrustManagers(), null);
                SSLParameters parameters = new SSLParameters();
                parameters.setProtocols(new String[] {a[5]});
                HttpClient client = HttpClient.newBuilder().sslContext(context).sslParameters(parameters).version(HttpClient.Version.HTTP_1_1).build();
                HttpRequest request = HttpRequest.newBuilder(URI.create(a[0])).PUT(HttpRequest.BodyPublishers.ofFile(Path.of(a[4]))).build();
                System.out.println(client.send(request, HttpResponse.BodyHandlers.ofString()).statusCode());
            }
        }
        """

    static let requestsScript = """
        import sys, requests
        url, cert, key, ca, path = sys.argv[1:6]
        with open(path, "rb") as body:
            response = requests.put(url, data=body, cert=(cert, key), verify=ca)
        print(response.status_code)
        sys.exit(0 if response.status_code in (200, 201, 204) else 1)
        """

    static let clients: [Client] = [
        Client(
            name: "curl",
            version: {
                guard let curl = try tool("curl", "apt-get install curl") else { return nil }
                return try await ExternalTool.run(curl, ["--version"]).stdout.split(separator: "\n").first.map(
                    String.init
                )
            },
            upload: { server, file, target, tls in
                guard let curl = try tool("curl", "apt-get install curl") else { return nil }
                return try await ExternalTool.run(
                    curl,
                    server.curlIdentity("acme") + [
                        "-sS", "--fail", "--tlsv\(tls)", "--tls-max", tls, "-T", file,
                        "https://localhost:\(server.port)/v1/files/\(target)",
                    ]
                )
            }
        ),
        Client(
            name: "openssl s_client",
            version: {
                guard let openssl = try tool("openssl", "apt-get install openssl") else { return nil }
                return try await ExternalTool.run(openssl, ["version"]).stdout.trimmingCharacters(
                    in: .whitespacesAndNewlines
                )
            },
            upload: { server, file, target, tls in
                guard let openssl = try tool("openssl", "apt-get install openssl") else { return nil }
                return try await ExternalTool.run(
                    openssl,
                    [
                        "s_client", "-connect", "localhost:\(server.port)", "-servername", "localhost", "-quiet",
                        "-ign_eof", "-tls\(tls.replacingOccurrences(of: ".", with: "_"))",
                        "-cert", server.pki.certificate("acme"), "-key", server.pki.key("acme"), "-CAfile",
                        server.pki.caFile, "-verify_return_error",
                    ],
                    input: try rawPut(target, file),
                    timeout: 60
                )
            }
        ),
        Client(
            name: "gnutls-cli",
            version: {
                guard let gnutls = try tool("gnutls-cli", "apt-get install gnutls-bin") else { return nil }
                return try await ExternalTool.run(gnutls, ["--version"]).stdout.split(separator: "\n").first.map(
                    String.init
                )
            },
            upload: { server, file, target, tls in
                guard let gnutls = try tool("gnutls-cli", "apt-get install gnutls-bin") else { return nil }
                return try await ExternalTool.run(
                    gnutls,
                    [
                        "--priority", "NORMAL:-VERS-ALL:+VERS-TLS\(tls)", "--x509certfile",
                        server.pki.certificate("acme"), "--x509keyfile", server.pki.key("acme"),
                        "--x509cafile", server.pki.caFile, "-p", "\(server.port)", "localhost",
                    ],
                    input: try rawPut(target, file),
                    timeout: 60
                )
            }
        ),
        Client(
            name: "Java HttpClient (JSSE)",
            version: {
                guard let java = try tool("java", "apt-get install default-jre-headless") else { return nil }
                return try await ExternalTool.run(java, ["-version"]).stderr.split(separator: "\n").first.map(
                    String.init
                )
            },
            upload: { server, file, target, tls in
                guard let java = try tool("java", "apt-get install default-jre-headless"),
                    let openssl = try tool("openssl", "apt-get install openssl")
                else { return nil }
                let keystore = server.folder.path + "/acme.p12"
                if !FileManager.default.fileExists(atPath: keystore) {
                    let made = try await ExternalTool.run(
                        openssl,
                        [
                            "pkcs12", "-export", "-in", server.pki.certificate("acme"), "-inkey",
                            server.pki.key("acme"), "-out", keystore, "-passout", "pass:interop",
                        ]
                    )
                    #expect(made.status == 0, "\(made.output)")
                }
                let source = server.folder.path + "/Put.java"
                try javaSource.write(toFile: source, atomically: true, encoding: .utf8)
                return try await ExternalTool.run(
                    java,
                    [
                        source, "https://localhost:\(server.port)/v1/files/\(target)", keystore, "interop",
                        server.pki.caFile, file, "TLSv\(tls)",
                    ],
                    timeout: 120
                )
            }
        ),
        Client(
            name: "Python requests",
            version: {
                guard let python = try tool("python3", "apt-get install python3") else { return nil }
                return try await ExternalTool.run(
                    python,
                    ["-c", "import requests, ssl; print('requests', requests.__version__, '/', ssl.OPENSSL_VERSION)"]
                ).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            },
            upload: { server, file, target, tls in
                guard let python = try tool("python3", "apt-get install python3") else { return nil }
                let script = server.folder.path + "/put.py"
                try requestsScript.write(toFile: script, atomically: true, encoding: .utf8)
                return try await ExternalTool.run(
                    python,
                    [
                        script, "https://localhost:\(server.port)/v1/files/\(target)", server.pki.certificate("acme"),
                        server.pki.key("acme"), server.pki.caFile, file,
                    ],
                    environment: try opensslConf(server.folder.path, tls)
                )
            }
        ),
        Client(
            name: "tuspy (tus 1.0.0)",
            version: {
                guard let python = try tool("python3", "apt-get install python3") else { return nil }
                return try await ExternalTool.run(
                    python,
                    ["-c", "import importlib.metadata as m; print('tuspy', m.version('tuspy'))"]
                ).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            },
            upload: { server, file, target, tls in
                guard let python = try tool("python3", "apt-get install python3") else { return nil }
                let script = server.folder.path + "/tus_client.py"
                try TusIntegrationTests.tuspyScript.write(toFile: script, atomically: true, encoding: .utf8)
                return try await ExternalTool.run(
                    python,
                    [
                        script, "https://localhost:\(server.port)/v1/uploads", server.pki.certificate("acme"),
                        server.pki.key("acme"), server.pki.caFile, file, target, "whole",
                    ],
                    environment: try opensslConf(server.folder.path, tls)
                )
            }
        ),
    ]

    @Test(
        "each client uploads with its own certificate at TLS 1.2 and at TLS 1.3; the server's ledger and the stored bytes agree"
    )
    func matrix() async throws {
        var rows: [String] = []
        try await TestServerHarness.with { server in
            // Text (s_client and gnutls-cli send it on standard input), 64 KiB.
            let file = server.folder.path + "/interop.txt"
            try String(
                repeating: "Ferry interop line: the quick brown fox jumps over the lazy dog 0123456789\n",
                count: 862
            ).write(toFile: file, atomically: true, encoding: .utf8)
            let digest = try TestFiles.sha256(file)
            for client in Self.clients {
                guard let version = try await client.version() else { continue }
                var cells: [String] = []
                for tls in ["1.2", "1.3"] {
                    let name = client.name.lowercased().filter { $0.isLetter || $0.isNumber } + "-tls\(tls).txt"
                    let target = "interop/" + name
                    guard let outcome = try await client.upload(server, file, target, tls) else {
                        cells.append("not run")
                        continue
                    }
                    let row = try await Self.ledgerRow(server, endingWith: target)
                    let stored = try? TestFiles.sha256(server.root + "/acme/" + target)
                    let ok = row?.result == .ok && row?.tlsVersion == "TLS\(tls)" && stored == digest
                    #expect(
                        ok,
                        "\(client.name) at TLS \(tls): ledger \(String(describing: row?.result)) \(row?.tlsVersion ?? "-"), stored digest \(stored ?? "none"); \(outcome.output.suffix(1_500))"
                    )
                    cells.append(ok ? "ok: \(row?.tlsVersion ?? "") \(row?.cipherSuite ?? "")" : "FAILED")
                }
                rows.append("| \(client.name) | `\(version)` | \(cells.joined(separator: " | ")) |")
            }
        }
        if let path = ProcessInfo.processInfo.environment["FERRY_INTEROP_DOC"] {
            let table = """
                # Interoperability

                Generated by `scripts/interop` (the `InteropMatrixTests` suite) on \(ISO8601DateFormatter().string(from: Date())): a Ferry
                server, and each client uploading a 64 KiB file with its own client certificate (mutual TLS), limited to
                one TLS version. A cell is ok when the server's ledger holds the upload as ok at that version and the
                stored file's SHA-256 equals the source's.

                | client | version | TLS 1.2 | TLS 1.3 |
                |---|---|---|---|
                \(rows.joined(separator: "\n"))

                How each client is limited to one version: curl `--tlsvX --tls-max X`, s_client `-tlsX`, gnutls-cli
                `--priority NORMAL:-VERS-ALL:+VERS-TLSX`, Java `SSLParameters.setProtocols`, Python (requests and tuspy)
                an `OPENSSL_CONF` with MinProtocol and MaxProtocol.

                \(try await Self.diagnosisTable())
                """
            try table.write(toFile: path, atomically: true, encoding: .utf8)
        }
    }

    /// The diagnosis side of the matrix: what `DiagnosisTests` recorded in FERRY_DIAGNOSE_RESULTS (scripts/interop runs
    /// it first), one row per diagnosis, with the versions of the peers it ran against.
    static func diagnosisTable() async throws -> String {
        guard let path = ProcessInfo.processInfo.environment["FERRY_DIAGNOSE_RESULTS"],
            let text = try? String(contentsOfFile: path, encoding: .utf8)
        else {
            return "The diagnosis side of the matrix is `DiagnosisTests` (run scripts/interop for its table)."
        }
        var rows: [String] = []
        for line in text.split(separator: "\n") {
            guard let row = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { continue }
            let cell = { (key: String) in (row[key] as? String ?? "").replacingOccurrences(of: "|", with: "\\|") }
            rows.append("| \(cell("test")) | `\(cell("first"))` | \(row["status"] as? Int ?? -1) | \(cell("fix")) |")
        }
        var versions: [String] = []
        for (name, tool, arguments) in [
            ("OpenSSL", "openssl", ["version"]), ("GnuTLS", "gnutls-serv", ["--version"]), ("nginx", "nginx", ["-v"]),
            ("tlslite-ng", "python3", ["-c", "import tlslite; print(tlslite.__version__)"]),
        ] {
            guard let executable = try? ExternalTool.require(tool, installHint: "") else { continue }
            let outcome = try await ExternalTool.run(executable, arguments)
            versions.append("\(name): `\(outcome.output.split(separator: "\n").first.map(String.init) ?? "?")`")
        }
        return """
            ## Diagnosis against misconfigured servers

            Each row is one `ferry diagnose` run of `DiagnosisTests` against a real server set up wrong on purpose (the
            test's name says how); the test expects that finding first and fails otherwise. Peers: \(versions.joined(separator: "; ")).
            The findings are listed in docs/diagnosis.md.

            | case | first finding | exit | first fix |
            |---|---|---|---|
            \(rows.joined(separator: "\n"))

            """
    }

    /// The server's ledger row for an upload whose path ends with `target` (ledger writes are batched: waits by the
    /// clock, up to 20 s).
    static func ledgerRow(_ server: TestServerHarness, endingWith target: String) async throws -> LedgerEntry? {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if let row = try await server.ledger.recent(limit: 50).first(where: { $0.path.hasSuffix(target) }) {
                return row
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        return nil
    }
}
