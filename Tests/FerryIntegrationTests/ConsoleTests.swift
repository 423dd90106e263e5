import FerryTestSupport
import Foundation
import Testing

@testable import FerryDaemon

/// The web console and the admin TCP listener, against a running `ferry serve` with real transfers, a queued
/// entry and real failed handshakes: pages loaded in headless Chromium (content, accessibility basics,
/// screenshots), the token door played by curl as an operator, a stranger and another site's page would.
@Suite("Web console")
struct ConsoleTests {
    static let token = "f3a9c0de5b71" + "2468ace013579bdf" + "9e8d7c6b5a4f3e2d1c0b"

    /// A partner bound by subject, an access rule for every partner, and the admin listener on `port` with the token.
    static func config(port: Int, tls: Bool = false) -> String {
        """
        admin:
          listen: 127.0.0.1:\(port)
          token-file: admin.token
        \(tls ? "  tls:\n    certificate: .ferry/pki/server.pem\n    key: .ferry/pki/server-key.pem\n" : "")
        partners:
          acme:
            url: https://127.0.0.1:9
            subject: CN=acme,O=Acme
            quota:
              files: 50
        access:
          drop:
            partners: "*"
            area: shared/drop
            rights: [read, write]
        """
    }

    static func writeToken(_ folder: String, mode: Int = 0o600) throws {
        let path = folder + "/admin.token"
        try (token + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
    }

    /// A stranger's client certificate whose subject is HTML (from a CA the server does not trust): its failed
    /// handshake puts that text in the ledger as the unverified subject.
    static func hostileCertificate(in folder: String) async throws -> (certificate: String, key: String) {
        let openssl = try ExternalTool.require("openssl", installHint: "apt-get install openssl")
        let key = folder + "/hostile-key.pem"
        let certificate = folder + "/hostile.pem"
        let made = try await ExternalTool.run(
            openssl,
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                "-keyout", key, "-out", certificate, "-subj", "/CN=<script>alert(1)<\\/script>/O=<img src=x>",
            ]
        )
        #expect(made.status == 0, "\(made.output)")
        return (certificate, key)
    }

    /// Loads a page in headless Chromium: its DOM as the browser built it, and a screenshot kept as an artifact.
    static func browse(_ url: String, screenshot: String) async throws -> String {
        let chromium = try ExternalTool.require("chromium", installHint: "apt-get install chromium")
        let common = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions"]
        // One launch takes the screenshot and prints the DOM (each launch costs both cores for a second or two).
        let dom = try await ExternalTool.run(
            chromium,
            common + ["--window-size=1280,1000", "--screenshot=\(screenshot)", "--dump-dom", url],
            timeout: 60
        )
        #expect(dom.status == 0 && FileManager.default.fileExists(atPath: screenshot), "\(dom.output.suffix(800))")
        return dom.stdout
    }

    /// Where screenshots go: `FERRY_ARTIFACTS/console` (CI keeps it), else `.build/artifacts/console`.
    static var screenshots: String {
        let base =
            ProcessInfo.processInfo.environment["FERRY_ARTIFACTS"]
            ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/artifacts").path
        let folder = base + "/console"
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        return folder
    }

    /// Accessibility basics of a page as the browser built it: a language, one h1, a main landmark, a labelled
    /// navigation, a label for every field, header cells with a scope, and a name for every button.
    static func accessibilityProblems(_ dom: String) -> [String] {
        var problems: [String] = []
        if dom.firstMatch(of: /<html[^>]* lang="en"/) == nil { problems.append("no lang on <html>") }
        let headings = dom.matches(of: /<h1[\s>]/).count
        if headings != 1 { problems.append("\(headings) h1 headings") }
        if !dom.contains("<main") { problems.append("no <main>") }
        if dom.contains("<nav"), dom.firstMatch(of: /<nav aria-label="[^"]+"/) == nil {
            problems.append("a navigation without a name")
        }
        let labelled = Set(dom.matches(of: /<label for="([^"]+)"/).map { String($0.1) })
        for field in dom.matches(of: /<(input|select|textarea)([^>]*)>/) {
            let attributes = String(field.2)
            if attributes.contains("type=\"hidden\"") { continue }
            guard let id = attributes.firstMatch(of: /id="([^"]+)"/).map({ String($0.1) }), labelled.contains(id) else {
                problems.append("a field without a label: \(field.0)")
                continue
            }
        }
        for header in dom.matches(of: /<th(\s[^>]*)?>/) where !String(header.1 ?? "").contains("scope=") {
            problems.append("a header cell without scope: \(header.0)")
        }
        for button in dom.matches(of: /<button([^>]*)>([^<]*)<\/button>/)
        where String(button.2).trimmingCharacters(in: .whitespaces).isEmpty && !String(button.1).contains("aria-label")
        {
            problems.append("a button without a name: \(button.0)")
        }
        return problems
    }

    @Test(
        "every page loads in headless Chromium with the server's real transfers, handshakes, partners, certificates and queue; hostile names are shown as text; accessibility basics hold"
    )
    func pagesInChromium() async throws {
        let curl = try ExternalTool.require("curl", installHint: "apt-get install curl")
        let python = try ExternalTool.require("python3", installHint: "apt-get install python3")
        let port = freeLoopbackPort()
        try await AdminPlaneTests.withServer(config: Self.config(port: port), prepare: { try Self.writeToken($0) }) {
            served in
            // A stranger whose certificate's subject is markup, and a file whose name is.
            let hostile = try await Self.hostileCertificate(in: served.folder)
            _ = try await ExternalTool.run(
                curl,
                ["--silent", "-k", "--cert", hostile.certificate, "--key", hostile.key, served.url + "/v1/files/"]
            )
            let pki = served.folder + "/.ferry/pki"
            let marked = served.folder + "/<b>bold.txt"
            try "markup in a name".write(toFile: marked, atomically: true, encoding: .utf8)
            let cli = CLITests()
            let send = try await cli.run(
                ["send", marked, served.url + "/"],
                in: served.folder,
                environment: ["XDG_STATE_HOME": served.folder + "/state"]
            )
            #expect(send.status == 0, "\(send.output)")
            // A queued transfer to acme, due in 2030: the queue page can hold it.
            let queued = try await ExternalTool.run(
                curl,
                [
                    "--silent", "--unix-socket", served.socket, "-H", "content-type: application/json", "-d",
                    #"{"direction":"send","partner":"acme","local":"\#(served.folder)/file-0.txt","remote":"in/","at":"2030-01-01T00:00:00Z"}"#,
                    "http://ferry/v1/queue",
                ],
                directory: served.folder
            )
            #expect(queued.stdout.contains("\"scheduled\""), "\(queued.output)")
            let metrics = try await served.admin("/metrics").body
            #expect(AdminPlaneTests.sample(metrics, "ferry_queue_entries", ["state": "scheduled"]) == 1, "\(metrics)")

            // The failed handshakes' rows are written as their connections close.
            var handshakes = ""
            for _ in 0..<100 {
                handshakes = try await served.admin("/v1/handshakes").body
                if handshakes.contains("script") { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(handshakes.contains("unverified") || handshakes.contains("script"), "\(handshakes)")

            // Chromium speaks TCP: through the forwarder to the control socket (this user, so the peer check passes).
            let script = served.folder + "/forward.py"
            try AdminPlaneTests.forwarder.write(toFile: script, atomically: true, encoding: .utf8)
            let socket = served.socket.hasPrefix("/") ? served.socket : served.folder + "/" + served.socket
            let forwardPort = freeLoopbackPort()
            let forward = try BackgroundProcess.tiedToTestProcess(python, ["-u", script, socket, String(forwardPort)])
            #expect(try await forward.waitForOutput("forwarding"), "\(forward.output)")
            let base = "http://127.0.0.1:\(forwardPort)"

            var pages: [String: String] = [:]
            for (name, path) in [
                ("overview", "/console"), ("transfers", "/console/transfers"), ("handshakes", "/console/handshakes"),
                ("partners", "/console/partners"), ("certificates", "/console/certificates"),
                ("queue", "/console/queue"),
            ] {
                let dom = try await Self.browse(base + path, screenshot: Self.screenshots + "/\(name).png")
                pages[name] = dom
                #expect(Self.accessibilityProblems(dom).isEmpty, "\(name): \(Self.accessibilityProblems(dom))")
                #expect(dom.contains("aria-current=\"page\""), "\(name): the navigation marks the page")
                // Nothing a partner wrote became markup.
                #expect(!dom.contains("<script"), "\(name)")
                #expect(!dom.contains("<img"), "\(name)")
                #expect(!dom.contains("<b>bold"), "\(name)")
            }
            let overview = pages["overview"] ?? ""
            #expect(overview.contains("<dt>Transfers</dt><dd>4</dd>"), "\(overview)")
            #expect(overview.contains("<dt>Queue: scheduled</dt><dd><a href=\"/console/queue\">1</a>"), "\(overview)")
            let transfers = pages["transfers"] ?? ""
            #expect(transfers.contains("file-2.txt") && transfers.contains("&lt;b&gt;bold"), "\(transfers)")
            let failed = pages["handshakes"] ?? ""
            #expect(
                failed.contains("&lt;script") && failed.contains("alert(1)") && failed.contains("&lt;img src=x"),
                "the hostile subject is shown as text: \(failed)"
            )
            #expect(!failed.contains("rel=\"next\""), "two rows make one page")
            let partners = pages["partners"] ?? ""
            #expect(partners.contains("acme") && partners.contains("subject CN=acme,O=Acme"), "\(partners)")
            #expect(
                partners.contains("shared/drop as /drop: read, write") && partners.contains("50 files"),
                "\(partners)"
            )
            let certificates = pages["certificates"] ?? ""
            #expect(certificates.contains("CN=localhost,O=Ferry") && certificates.contains("CN=Ferry Dev CA"))
            let queue = pages["queue"] ?? ""
            #expect(queue.contains("scheduled") && queue.contains(">Hold</button>"), "\(queue)")

            // A failed handshake's detail: the finding with its evidence and fix, and the trace.
            let link = try #require(
                failed.firstMatch(of: /href="(\/console\/transfers\/[0-9a-f-]+)"/).map { String($0.1) },
                "\(failed)"
            )
            let detail = try await Self.browse(base + link, screenshot: Self.screenshots + "/handshake.png")
            #expect(Self.accessibilityProblems(detail).isEmpty, "\(Self.accessibilityProblems(detail))")
            #expect(detail.contains("<h2>Diagnosis</h2>") && detail.contains("<h4>Fix</h4>"), "\(detail)")
            #expect(detail.contains("CLIENT_HELLO") && detail.contains("<pre"), "the trace: \(detail)")
            #expect(!detail.contains("<script"))
            // The same through the API.
            let id = String(link.split(separator: "/").last ?? "")
            let api = try await served.admin("/v1/transfers/\(id)")
            #expect(api.status == "200" && api.body.contains("\"trace\"") && api.body.contains("\"fixes\""), "\(api)")
            #expect(try await served.admin("/v1/transfers/no-such-row").status == "404")
            let partnerList = try await served.admin("/v1/partners")
            #expect(partnerList.body.contains("\"name\":\"acme\"") && partnerList.body.contains("\"mount\":\"drop\""))
            let certificateList = try await served.admin("/v1/certificates")
            #expect(certificateList.body.contains("\"role\":\"server\"") && certificateList.body.contains("daysLeft"))
            _ = pki
            await forward.stop()
        }
    }

    /// curl as an operator, a stranger, and another site's page would try the admin TCP listener.
    @Test(
        "the admin listener: no token or a wrong one is refused, the bearer token reads the API, the console signs in with a session cookie, a cookie cannot change anything through the JSON API, forms need their guard, another site's Origin is refused"
    )
    func tokenDoor() async throws {
        let curl = try ExternalTool.require("curl", installHint: "apt-get install curl")
        let port = freeLoopbackPort()
        try await AdminPlaneTests.withServer(config: Self.config(port: port), prepare: { try Self.writeToken($0) }) {
            served in
            let base = "http://127.0.0.1:\(port)"
            let jar = served.folder + "/cookies"
            func request(_ arguments: [String]) async throws -> (status: String, body: String, headers: String) {
                let headers = served.folder + "/headers-\(UUID().uuidString)"
                let outcome = try await ExternalTool.run(
                    curl,
                    ["--silent", "-D", headers, "-w", "\n%{http_code}"] + arguments
                )
                let lines = outcome.stdout.split(separator: "\n", omittingEmptySubsequences: false)
                return (
                    String(lines.last ?? ""), lines.dropLast().joined(separator: "\n"),
                    (try? String(contentsOfFile: headers, encoding: .utf8)) ?? ""
                )
            }
            #expect(served.banner.contains("\(base)/console (admin token)"), "\(served.banner)")

            // Strangers holding connections open get at most 64 of them; the others are closed at once.
            let python = try ExternalTool.require("python3", installHint: "apt-get install python3")
            let crowd = try await ExternalTool.run(
                python,
                [
                    "-c",
                    """
                    import socket, sys, time
                    held = [socket.create_connection(("127.0.0.1", \(port))) for _ in range(80)]
                    time.sleep(1.5)
                    closed = 0
                    for s in held:
                        s.setblocking(False)
                        try:
                            if s.recv(1) == b"": closed += 1
                        except BlockingIOError: pass
                        except ConnectionResetError: closed += 1
                    print(closed)
                    """,
                ]
            )
            #expect(Int(crowd.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) == 16, "\(crowd.output)")
            // Once they are gone, their places are free again.
            var free = ""
            for _ in 0..<100 where free != "200" {
                free = try await request(["-H", "Authorization: Bearer \(Self.token)", base + "/v1/health"]).status
                if free != "200" { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(free == "200")

            let stranger = try await request([base + "/v1/transfers"])
            #expect(stranger.status == "401" && stranger.headers.lowercased().contains("www-authenticate: bearer"))
            let wrong = try await request([
                "-H", "Authorization: Bearer \(String(Self.token.reversed()))", base + "/v1/health",
            ])
            #expect(wrong.status == "401", "\(wrong)")
            let operatorRead = try await request(["-H", "Authorization: Bearer \(Self.token)", base + "/v1/health"])
            #expect(operatorRead.status == "200" && operatorRead.body.contains("\"status\":\"ok\""), "\(operatorRead)")
            let metrics = try await request(["-H", "Authorization: Bearer \(Self.token)", base + "/metrics"])
            #expect(metrics.status == "200" && metrics.body.contains("ferry_transfers_total"))

            // The console sends a stranger to sign in; a wrong token does not sign in.
            let page = try await request([base + "/console/queue"])
            #expect(page.status == "303" && page.headers.contains("/console/login"), "\(page)")
            let badLogin = try await request([
                "-c", jar, "--data-urlencode", "token=not-the-token", base + "/console/login",
            ])
            #expect(badLogin.status == "401" && !badLogin.headers.contains("ferry_console"), "\(badLogin)")
            let login = try await request([
                "-c", jar, "--data-urlencode", "token=\(Self.token)", base + "/console/login",
            ])
            #expect(login.status == "303", "\(login)")
            let cookie =
                login.headers.split(whereSeparator: \.isNewline).first { $0.lowercased().hasPrefix("set-cookie:") }
                ?? ""
            #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "\(cookie) in \(login.headers)")
            #expect(!cookie.contains(Self.token), "the cookie is not the token")
            let signedIn = try await request(["-b", jar, base + "/console/partners"])
            #expect(signedIn.status == "200" && signedIn.body.contains("acme"), "\(signedIn.status)")
            #expect(signedIn.headers.contains("Content-Security-Policy: default-src 'none'"))
            // A forged cookie (right shape, wrong signature) is nobody.
            let forged = try await request([
                "-b", "ferry_console=9999999999.\(String(repeating: "ab", count: 32))", base + "/console",
            ])
            #expect(forged.status == "303", "\(forged.status)")

            // Queue an entry (with the token), then hold it from the console with the form's guard.
            let queued = try await request([
                "-H", "Authorization: Bearer \(Self.token)", "-H", "content-type: application/json", "-d",
                #"{"direction":"send","partner":"acme","local":"\#(served.folder)/file-0.txt","remote":"in/","at":"2030-01-01T00:00:00Z"}"#,
                base + "/v1/queue",
            ])
            #expect(queued.status == "201", "\(queued)")
            let id = try #require(queued.body.firstMatch(of: /"id":"([0-9a-f-]+)"/).map { String($0.1) })
            // A cookie alone changes nothing through the JSON API (a page of another site could send it).
            let viaAPI = try await request(["-b", jar, "-X", "POST", base + "/v1/queue/\(id)/hold"])
            #expect(viaAPI.status == "401", "\(viaAPI)")
            let noGuard = try await request(["-b", jar, "-X", "POST", base + "/console/queue/\(id)/hold"])
            #expect(noGuard.status == "403", "\(noGuard)")
            let queuePage = try await request(["-b", jar, base + "/console/queue"])
            let guardValue = try #require(
                queuePage.body.firstMatch(of: /name="csrf" value="([0-9a-f]+)"/).map { String($0.1) }
            )
            let otherSite = try await request([
                "-b", jar, "-H", "Origin: https://evil.example", "--data-urlencode", "csrf=\(guardValue)",
                base + "/console/queue/\(id)/hold",
            ])
            #expect(otherSite.status == "403", "\(otherSite)")
            let held = try await request([
                "-b", jar, "-H", "Origin: \(base)", "--data-urlencode", "csrf=\(guardValue)",
                base + "/console/queue/\(id)/hold",
            ])
            #expect(held.status == "303" && held.headers.contains("/console/queue?done=held&entry="), "\(held)")
            let notice = try await request(["-b", jar, base + "/console/queue?done=held&entry=\(id.prefix(8))"])
            #expect(notice.body.contains("Entry \(id.prefix(8)) held."), "\(notice.body)")
            // A link cannot put its own words on the page.
            let spoofed = try await request(["-b", jar, base + "/console/queue?done=Your%20session%20expired&entry=x"])
            #expect(!spoofed.body.contains("session expired"), "\(spoofed.body)")
            let missing = try await request([
                "-b", jar, "--data-urlencode", "csrf=\(guardValue)", base + "/console/queue/no-such-entry/hold",
            ])
            #expect(missing.status == "404", "\(missing)")
            let entry = try await served.admin("/v1/queue/\(id)")
            #expect(entry.body.contains("\"state\":\"held\""), "\(entry)")
            // Held twice: the console says why, nothing changes.
            let again = try await request([
                "-b", jar, "--data-urlencode", "csrf=\(guardValue)", base + "/console/queue/\(id)/hold",
            ])
            #expect(
                again.status == "409" && again.body.contains("only a scheduled, queued or retrying entry"),
                "\(again)"
            )
            // Signing out ends the cookie.
            let out = try await request([
                "-b", jar, "-c", jar, "--data-urlencode", "csrf=\(guardValue)", base + "/console/logout",
            ])
            #expect(out.status == "303" && out.headers.contains("Max-Age=0"), "\(out)")

            // The control socket answers no page that names another host (a DNS name pointed at 127.0.0.1).
            let rebound = try await ExternalTool.run(
                curl,
                [
                    "--silent", "-w", "\n%{http_code}", "--unix-socket", served.socket, "-H",
                    "Host: ferry.evil.example",
                    "http://ferry/v1/transfers",
                ],
                directory: served.folder
            )
            #expect(rebound.stdout.hasSuffix("403"), "\(rebound.output)")
            let crossSite = try await ExternalTool.run(
                curl,
                [
                    "--silent", "-w", "\n%{http_code}", "--unix-socket", served.socket, "-H",
                    "Origin: https://evil.example",
                    "-X", "POST", "http://localhost/v1/queue/\(id)/release",
                ],
                directory: served.folder
            )
            #expect(crossSite.stdout.hasSuffix("403"), "\(crossSite.output)")
        }
    }

    @Test("admin.tls: the listener speaks TLS with its certificate, and the session cookie is Secure")
    func tlsDoor() async throws {
        let curl = try ExternalTool.require("curl", installHint: "apt-get install curl")
        let port = freeLoopbackPort()
        try await AdminPlaneTests.withServer(
            config: Self.config(port: port, tls: true),
            prepare: { try Self.writeToken($0) }
        ) {
            served in
            let ca = served.folder + "/.ferry/pki/ca.pem"
            #expect(served.banner.contains("https://127.0.0.1:\(port)/console"), "\(served.banner)")
            let health = try await ExternalTool.run(
                curl,
                [
                    "--silent", "--cacert", ca, "-H", "Authorization: Bearer \(Self.token)",
                    "https://localhost:\(port)/v1/health",
                ]
            )
            #expect(health.stdout.contains("\"status\":\"ok\""), "\(health.output)")
            let plain = try await ExternalTool.run(
                curl,
                ["--silent", "-w", "%{http_code}", "http://127.0.0.1:\(port)/v1/health"]
            )
            #expect(!plain.stdout.hasSuffix("200"), "plain HTTP is not answered: \(plain.output)")
            let login = try await ExternalTool.run(
                curl,
                [
                    "--silent", "-D", "-", "-o", "/dev/null", "--cacert", ca, "--data-urlencode", "token=\(Self.token)",
                    "https://localhost:\(port)/console/login",
                ]
            )
            #expect(login.stdout.contains("; Secure"), "\(login.output)")
        }
    }

    /// The operators' own CA and a certificate it issued for an operator (throwaway, made here with openssl).
    static func operatorsPKI(in folder: String) async throws {
        let openssl = try ExternalTool.require("openssl", installHint: "apt-get install openssl")
        let steps: [[String]] = [
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                "-keyout", "ops-ca-key.pem", "-out", "ops-ca.pem", "-subj", "/CN=Operators CA",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            ],
            [
                "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "op-key.pem",
                "-out", "op.csr", "-subj", "/CN=operator",
            ],
            [
                "x509", "-req", "-in", "op.csr", "-CA", "ops-ca.pem", "-CAkey", "ops-ca-key.pem", "-CAcreateserial",
                "-out", "op.pem", "-days", "2", "-extfile", "client.ext",
            ],
        ]
        try "extendedKeyUsage=clientAuth\n".write(toFile: folder + "/client.ext", atomically: true, encoding: .utf8)
        for step in steps {
            let outcome = try await ExternalTool.run(openssl, step, directory: folder)
            #expect(outcome.status == 0, "\(step): \(outcome.output)")
        }
    }

    @Test(
        "admin.tls.client-ca: an operator's certificate from the operators' own CA opens the admin plane without a token; no certificate, or a partner's, does not; the partners' CA is refused as the operators'"
    )
    func operatorCertificates() async throws {
        let curl = try ExternalTool.require("curl", installHint: "apt-get install curl")
        let port = freeLoopbackPort()
        let config = """
            admin:
              listen: 127.0.0.1:\(port)
              tls:
                certificate: .ferry/pki/server.pem
                key: .ferry/pki/server-key.pem
                client-ca: ops-ca.pem
            """
        try await AdminPlaneTests.withServer(config: config, prepare: { try await Self.operatorsPKI(in: $0) }) {
            served in
            let pki = served.folder + "/.ferry/pki"
            let common = ["--silent", "-w", "\n%{http_code}", "--cacert", pki + "/ca.pem"]
            let url = "https://localhost:\(port)/v1/health"
            let operatorCall = try await ExternalTool.run(
                curl,
                common + ["--cert", "op.pem", "--key", "op-key.pem", url],
                directory: served.folder
            )
            #expect(
                operatorCall.stdout.hasSuffix("200") && operatorCall.stdout.contains("\"status\":\"ok\""),
                "\(operatorCall.output)"
            )
            let console = try await ExternalTool.run(
                curl,
                common + ["--cert", "op.pem", "--key", "op-key.pem", "https://localhost:\(port)/console/queue"],
                directory: served.folder
            )
            #expect(console.stdout.hasSuffix("200") && console.stdout.contains("<h1>Queue</h1>"), "\(console.output)")
            let stranger = try await ExternalTool.run(curl, common + [url], directory: served.folder)
            #expect(!stranger.stdout.hasSuffix("200"), "no certificate: \(stranger.output)")
            let partner = try await ExternalTool.run(
                curl,
                common + ["--cert", pki + "/clients/dev.pem", "--key", pki + "/clients/dev-key.pem", url],
                directory: served.folder
            )
            #expect(!partner.stdout.hasSuffix("200"), "a partner's certificate: \(partner.output)")
        }
    }

    @Test(
        "a careless admin configuration stops the server with the reason: a token file others may read, a short token, a network address without TLS, TLS half configured"
    )
    func carelessConfiguration() async throws {
        try await TemporaryDirectory.with { folder in
            let cli = CLITests()
            let port = freeLoopbackPort()
            func serve(_ config: String) async throws -> String {
                try config.write(toFile: folder.path + "/ferry.yaml", atomically: true, encoding: .utf8)
                let outcome = try await cli.run(
                    ["serve", "--listen", "127.0.0.1:0", "--config", folder.path + "/ferry.yaml"],
                    in: folder.path
                )
                #expect(outcome.status != 0, "\(outcome.output)")
                return outcome.output
            }
            try Self.writeToken(folder.path, mode: 0o644)
            let open = try await serve(Self.config(port: port))
            #expect(open.contains("may be read by others (mode 644)") && open.contains("chmod 600"), "\(open)")

            try "short\n".write(toFile: folder.path + "/admin.token", atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes(
                [.posixPermissions: 0o600],
                ofItemAtPath: folder.path + "/admin.token"
            )
            let short = try await serve(Self.config(port: port))
            #expect(short.contains("at least 32 characters"), "\(short)")
            try (String(repeating: "ab", count: 20) + "\n").write(
                toFile: folder.path + "/admin.token",
                atomically: true,
                encoding: .utf8
            )
            try FileManager.default.setAttributes(
                [.posixPermissions: 0o600],
                ofItemAtPath: folder.path + "/admin.token"
            )
            let guessable = try await serve(Self.config(port: port))
            #expect(guessable.contains("at least 10 different ones"), "\(guessable)")

            let network = try await serve("admin:\n  listen: 0.0.0.0:\(port)\n  token-file: admin.token\n")
            #expect(network.contains("without TLS the token would cross the network in the clear"), "\(network)")
            let half = try await serve(
                "admin:\n  listen: 127.0.0.1:\(port)\n  token-file: admin.token\n  tls:\n    certificate: x.pem\n"
            )
            #expect(half.contains("admin.tls needs both certificate and key"), "\(half)")
            let noToken = try await serve("admin:\n  listen: 127.0.0.1:\(port)\n")
            #expect(noToken.contains("admin.listen needs admin.token-file"), "\(noToken)")
            // The partners' CA as the operators': every partner would be an operator.
            let shared = try await serve(
                "admin:\n  listen: 127.0.0.1:\(port)\n  tls:\n    certificate: .ferry/pki/server.pem\n    key: .ferry/pki/server-key.pem\n    client-ca: .ferry/pki/ca.pem\n"
            )
            #expect(shared.contains("is also trusted for partners"), "\(shared)")
        }
    }

    /// WCAG 2 contrast of the console's colour pairs: at least 4.5:1 for text.
    @Test("the console's text colours have at least 4.5:1 contrast on their backgrounds")
    func contrast() throws {
        let style = ConsoleTemplates.style
        var colours: [String: String] = [:]
        for match in style.matches(of: /--([a-z-]+): (#[0-9a-f]{6})/) { colours[String(match.1)] = String(match.2) }
        func luminance(_ hex: String) -> Double {
            let value = Int(hex.dropFirst(), radix: 16) ?? 0
            let channels = [(value >> 16) & 0xFF, (value >> 8) & 0xFF, value & 0xFF].map { Double($0) / 255 }
            let linear = channels.map { $0 <= 0.03928 ? $0 / 12.92 : pow(($0 + 0.055) / 1.055, 2.4) }
            return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
        }
        let pairs = [
            ("text", "back"), ("muted", "back"), ("accent", "back"), ("bad", "bad-back"), ("warn", "warn-back"),
            ("head-text", "head-back"), ("bad", "back"),
        ]
        for (foreground, background) in pairs {
            let a = luminance(try #require(colours[foreground], "--\(foreground)"))
            let b = luminance(try #require(colours[background], "--\(background)"))
            let ratio = (max(a, b) + 0.05) / (min(a, b) + 0.05)
            #expect(ratio >= 4.5, "--\(foreground) on --\(background): \(ratio)")
        }
    }
}
