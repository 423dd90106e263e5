import FerryTestSupport
import Foundation
import Testing

/// The operator's side of `ferry serve` on its control socket, after real transfers and a real failed handshake:
/// metrics that count them, the ledger paged and filtered, health; and none of it on the partner port.
@Suite("Admin plane")
struct AdminPlaneTests {
    /// The value of the one sample of `name` whose labels include `labels`.
    static func sample(_ exposition: String, _ name: String, _ labels: [String: String] = [:]) -> Double? {
        for line in exposition.split(separator: "\n") where line.hasPrefix(name + "{") || line.hasPrefix(name + " ") {
            let head = line.prefix { $0 != " " }
            guard head.prefix(while: { $0 != "{" }) == name,
                labels.allSatisfy({ head.contains("\($0.key)=\"\($0.value)\"") })
            else { continue }
            return line.split(separator: " ").last.flatMap { Double($0) }
        }
        return nil
    }

    /// A running `ferry serve` (dev PKI) after three sends of 1,000, 2,000 and 3,000 bytes and a stranger's failed
    /// handshake, with a way to ask its control socket.
    struct Served {
        let folder: String
        let url: String
        let socket: String
        let sizes: Int
        /// What `ferry serve` printed at startup.
        let banner: String
        let admin: (String) async throws -> (status: String, body: String)
        /// A request on the control socket with a method and an optional JSON body.
        let call: (String, String, String?) async throws -> (status: String, body: String)

        func call(
            _ method: String,
            _ path: String,
            _ body: String? = nil
        ) async throws -> (status: String, body: String) {
            try await call(method, path, body)
        }
    }

    /// A partner the queue can name (unreachable: nothing queued here runs to completion).
    static let queueConfig = """
        partners:
          acme:
            url: https://127.0.0.1:9
            subject: CN=acme,O=Acme
        """

    /// `config`: a configuration file's text, written to `ferry.yaml` in the server's folder (with `prepare` run on the
    /// folder first, for files it names).
    static func withServer(
        config: String? = nil,
        port: Int = 0,
        prepare: (String) async throws -> Void = { _ in },
        _ body: (Served) async throws -> Void
    ) async throws {
        let curl = try ExternalTool.require("curl", installHint: "apt-get install curl")
        try await TemporaryDirectory.with { folder in
            let log = folder.path + "/serve.log"
            FileManager.default.createFile(atPath: log, contents: nil)
            try await prepare(folder.path)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: try CLITests.ferry)
            process.arguments = ["serve", "--listen", "127.0.0.1:\(port)"]
            if let config {
                try config.write(toFile: folder.path + "/ferry.yaml", atomically: true, encoding: .utf8)
                process.arguments! += ["--config", folder.path + "/ferry.yaml"]
            }
            process.currentDirectoryURL = URL(fileURLWithPath: folder.path)
            process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            process.standardError = FileHandle.nullDevice
            try process.run()
            defer { if process.isRunning { process.terminate() } }
            var banner = ""
            for _ in 0..<200 where !banner.contains("curl --cert") {
                try await Task.sleep(for: .milliseconds(50))
                banner = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            }
            let url = try #require(banner.split(separator: " ").first { $0.hasPrefix("https://localhost:") })
                .trimmingCharacters(in: .whitespacesAndNewlines)
            // The banner names the operator's socket beside the partner address.
            let socket = try #require(
                banner.firstMatch(of: /unix socket (\S+)/).map { String($0.1) },
                "no admin socket in the banner: \(banner)"
            )
            func call(_ method: String, _ path: String, _ body: String?) async throws -> (status: String, body: String)
            {
                var arguments = ["--silent", "--unix-socket", socket, "-w", "\n%{http_code}", "-X", method]
                if let body { arguments += ["-H", "content-type: application/json", "--data-binary", body] }
                let outcome = try await ExternalTool.run(
                    curl,
                    arguments + ["http://ferry" + path],
                    directory: folder.path
                )
                let lines = outcome.stdout.split(separator: "\n", omittingEmptySubsequences: false)
                return (String(lines.last ?? ""), lines.dropLast().joined(separator: "\n"))
            }
            func admin(_ path: String) async throws -> (status: String, body: String) {
                try await call("GET", path, nil)
            }

            let cli = CLITests()
            var sizes = 0
            for index in 0..<3 {
                let file = folder.path + "/file-\(index).txt"
                let size = 1000 * (index + 1)
                sizes += size
                try String(repeating: "x", count: size).write(toFile: file, atomically: true, encoding: .utf8)
                let send = try await cli.run(
                    ["send", file, url + "/"],
                    in: folder.path,
                    environment: ["XDG_STATE_HOME": folder.path + "/state"]
                )
                #expect(send.status == 0, "\(send.output)")
            }
            // A stranger with no certificate: a failed handshake.
            let stranger = try await ExternalTool.run(curl, ["--silent", "-k", url + "/v1/files/"])
            #expect(stranger.status != 0)

            try await body(
                Served(
                    folder: folder.path,
                    url: url,
                    socket: socket,
                    sizes: sizes,
                    banner: banner,
                    admin: admin,
                    call: call
                )
            )
        }
    }

    @Test(
        "metrics count real transfers and a failed handshake; transfers and handshakes page and filter; health has no secrets; the partner port serves none of it"
    )
    func operatorView() async throws {
        let curl = try ExternalTool.require("curl", installHint: "apt-get install curl")
        try await Self.withServer { served in
            let (folder, url, sizes, admin) = (served.folder, served.url, served.sizes, served.admin)
            var metrics = ""
            // The failed handshake's row is written as the connection closes: wait for it to be counted.
            for _ in 0..<100 {
                metrics = try await admin("/metrics").body
                if Self.sample(metrics, "ferry_handshake_failures_total") != nil { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            let puts = ["direction": "in", "operation": "PUT", "result": "ok", "partner": "dev"]
            #expect(Self.sample(metrics, "ferry_transfers_total", puts) == 3, "\(metrics)")
            #expect(
                Self.sample(metrics, "ferry_transfer_bytes_total", ["direction": "in", "partner": "dev"])
                    == Double(sizes)
            )
            #expect((Self.sample(metrics, "ferry_handshake_failures_total") ?? 0) >= 1, "\(metrics)")
            #expect((Self.sample(metrics, "ferry_ledger_write_seconds_count") ?? 0) >= 4, "\(metrics)")
            #expect(Self.sample(metrics, "ferry_transfer_duration_seconds_count", ["operation": "PUT"]) == 3)
            let days = try #require(Self.sample(metrics, "ferry_certificate_expiry_days", ["role": "server"]))
            #expect(days > 1)
            #expect(!metrics.contains("file-0.txt"), "no paths in labels")
            #expect(
                (Self.sample(metrics, "ferry_handshake_alerts_total", ["sent_by": "server"]) ?? 0) >= 1,
                "the stranger's handshake, by alert: \(metrics)"
            )
            #expect(Self.sample(metrics, "ferry_connections_open") != nil)
            #expect(Self.sample(metrics, "ferry_transfers_active", ["kind": "put"]) == 0)
            #expect(Self.sample(metrics, "ferry_resumable_uploads_open") == 0)
            #expect(Self.sample(metrics, "ferry_queue_entries", ["state": "queued"]) == 0)

            // A resumable upload created and left open, and a queued transfer, show at the next scrape.
            let pki = folder + "/.ferry/pki"
            let identity = [
                "--cert", pki + "/clients/dev.pem", "--key", pki + "/clients/dev-key.pem", "--cacert", pki + "/ca.pem",
            ]
            let created = try await ExternalTool.run(
                curl,
                identity + [
                    "--silent", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-H", "Tus-Resumable: 1.0.0",
                    "-H", "Upload-Length: 5000", "-H",
                    "Upload-Metadata: path " + Data("open.bin".utf8).base64EncodedString(), url + "/v1/uploads",
                ]
            )
            #expect(created.stdout == "201", "\(created.output)")
            let later = try await admin("/metrics").body
            #expect(Self.sample(later, "ferry_resumable_uploads_open") == 1, "\(later)")

            let first = try await admin("/v1/transfers?operation=PUT&limit=2")
            #expect(first.status == "200", "\(first)")
            let page = try #require(try JSONSerialization.jsonObject(with: Data(first.body.utf8)) as? [String: Any])
            #expect((page["transfers"] as? [[String: Any]])?.count == 2)
            let next = try #require(page["next"] as? String)
            let rest = try await admin("/v1/transfers?operation=PUT&limit=2&after=\(next)")
            let restPage = try JSONSerialization.jsonObject(with: Data(rest.body.utf8)) as? [String: Any]
            #expect((restPage?["transfers"] as? [[String: Any]])?.count == 1 && restPage?["next"] == nil, "\(rest)")
            let handshakes = try await admin("/v1/handshakes")
            let failed = try JSONSerialization.jsonObject(with: Data(handshakes.body.utf8)) as? [String: Any]
            let rows = failed?["transfers"] as? [[String: Any]] ?? []
            #expect(!rows.isEmpty && rows.allSatisfy { $0["operation"] as? String == "TLS" }, "\(handshakes)")

            let health = try await admin("/v1/health")
            #expect(health.status == "200" && health.body.contains("\"status\":\"ok\""), "\(health)")
            #expect(!health.body.lowercased().contains("key\""), "\(health)")

            for bad in ["limit=0", "direction=sideways", "since=yesterday", "after=nonsense", "operation=COPY"] {
                let refused = try await admin("/v1/transfers?" + bad)
                #expect(refused.status == "400", "\(bad): \(refused)")
            }

            // `ferry history --server` asks the running server: with a configuration whose root holds no ledger at all
            // but whose control socket is this server's, the rows still come (and the filters pass through).
            let socketPath = served.socket.hasPrefix("/") ? served.socket : folder + "/" + served.socket
            let elsewhere = folder + "/elsewhere.yaml"
            try "root: \(folder)/empty-root\nqueue:\n  control-socket: \(socketPath)\n".write(
                toFile: elsewhere,
                atomically: true,
                encoding: .utf8
            )
            let history = try await CLITests().run(
                ["history", "--server", "--config", elsewhere, "--operation", "PUT", "--limit", "2", "--json"],
                in: folder
            )
            #expect(history.status == 0, "\(history.output)")
            let listed = try JSONSerialization.jsonObject(with: Data(history.stdout.utf8)) as? [[String: Any]]
            #expect(
                listed?.count == 2 && listed?.allSatisfy { $0["operation"] as? String == "PUT" } == true,
                "\(history.output)"
            )
            #expect(history.stderr.contains("more rows: continue with --after"), "\(history.output)")

            // A partner with a valid certificate reaches none of it on the transfer port (whose /v1/health says only
            // that the server is alive).
            for path in ["/metrics", "/v1/transfers", "/v1/handshakes", "/v1/health", "/v1/queue"] {
                let outcome = try await ExternalTool.run(
                    curl,
                    [
                        "--silent", "-w", "\n%{http_code}", "--cert", pki + "/clients/dev.pem",
                        "--key", pki + "/clients/dev-key.pem", "--cacert", pki + "/ca.pem", url + path,
                    ]
                )
                let answer = outcome.stdout
                #expect(answer.hasSuffix("404") || path == "/v1/health", "\(path): \(outcome.output)")
                for secret in ["ferry_", "\"transfers\"", "storage", "database", "certificateExpires", "partners"] {
                    #expect(!answer.contains(secret), "\(path): \(answer)")
                }
            }
        }
    }

    static let document = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("docs/admin-api.yaml").path

    /// Schemathesis speaks TCP: a small forwarder to the Unix socket (as this user, so the peer check lets it in).
    static let forwarder = """
        import socket, sys, threading
        server = socket.socket()
        server.bind(("127.0.0.1", int(sys.argv[2])))
        server.listen(64)
        print("forwarding", flush=True)
        def pipe(a, b):
            try:
                while True:
                    data = a.recv(65536)
                    if not data:
                        break
                    b.sendall(data)
            except OSError:
                pass
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        while True:
            client, _ = server.accept()
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(sys.argv[1])
            threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
            threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()
        """

    @Test(
        "a queued transfer's ledger rows lead to its queue entry and every attempt: the API's transfer detail and the console show the retry with its error"
    )
    func queuedTransferAttempts() async throws {
        let port = freeLoopbackPort()
        // The server queues transfers to itself: `self` with the dev client certificate, `stranger` with a
        // self-signed one the server does not trust (its handshake fails; told to retry such failures once).
        let config = """
            partners:
              self:
                url: https://localhost:\(port)
                tls: {certificate: .ferry/pki/clients/dev.pem, key: .ferry/pki/clients/dev-key.pem, ca: .ferry/pki/ca.pem}
              stranger:
                url: https://localhost:\(port)
                tls: {certificate: stranger.pem, key: stranger-key.pem, ca: .ferry/pki/ca.pem}
                queue: {retries: 1, retry-wait: 1s, retry-config-errors: true}
            """
        let openssl = try ExternalTool.require("openssl", installHint: "apt-get install openssl")
        let selfSigned: (String) async throws -> Void = { folder in
            let made = try await ExternalTool.run(
                openssl,
                [
                    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                    "stranger-key.pem", "-out", "stranger.pem", "-subj", "/CN=stranger", "-days", "2",
                ],
                directory: folder
            )
            #expect(made.status == 0, "\(made.output)")
        }
        try await Self.withServer(config: config, port: port, prepare: selfSigned) { served in
            let served = served
            func queue(_ partner: String) async throws -> String {
                let added = try await served.call(
                    "POST",
                    "/v1/queue",
                    #"{"direction":"send","partner":"\#(partner)","local":"\#(served.folder)/file-0.txt","remote":"in/"}"#
                )
                #expect(added.status == "201", "\(added)")
                let entry = try JSONSerialization.jsonObject(with: Data(added.body.utf8)) as? [String: Any]
                return try #require(entry?["id"] as? String, "\(added)")
            }
            let sent = try await queue("self")
            let refused = try await queue("stranger")
            var states: [String: String] = [:]
            for _ in 0..<300 {
                let listed = try await served.admin("/v1/queue")
                let entries = (try JSONSerialization.jsonObject(with: Data(listed.body.utf8)) as? [[String: Any]]) ?? []
                states = Dictionary(
                    uniqueKeysWithValues: entries.map { ($0["id"] as? String ?? "", $0["state"] as? String ?? "") }
                )
                if states[sent] == "done", states[refused] == "failed" { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(states[sent] == "done" && states[refused] == "failed", "\(states)")

            let page = try await served.admin("/v1/transfers?direction=out&limit=100")
            let rows =
                (try JSONSerialization.jsonObject(with: Data(page.body.utf8)) as? [String: Any])?["transfers"]
                as? [[String: Any]] ?? []
            let sentRows = rows.filter { ($0["id"] as? String)?.hasPrefix(sent + "-") == true }
            let refusedRows = rows.filter { ($0["id"] as? String)?.hasPrefix(refused + "-") == true }
            #expect(sentRows.count == 1 && sentRows.first?["result"] as? String == "ok", "\(page.body)")
            #expect(refusedRows.count == 2, "one failed row per attempt: \(page.body)")

            func detail(_ row: [String: Any]?) async throws -> [String: Any] {
                let id = try #require(row?["id"] as? String)
                let answer = try await served.admin("/v1/transfers/" + id)
                #expect(answer.status == "200", "\(answer)")
                return try #require(try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any])
            }
            let done = try await detail(sentRows.first)
            let doneQueued = done["queued"] as? [String: Any]
            #expect((doneQueued?["entry"] as? [String: Any])?["id"] as? String == sent, "\(done)")
            #expect(
                (doneQueued?["events"] as? [[String: Any]])?.map { $0["state"] as? String ?? "" }
                    == ["queued", "active", "done"],
                "\(done)"
            )
            let failed = try await detail(refusedRows.first)
            let events = (failed["queued"] as? [String: Any])?["events"] as? [[String: Any]] ?? []
            #expect(
                events.map { $0["state"] as? String ?? "" } == ["queued", "active", "retrying", "active", "failed"]
                    || events.map { $0["state"] as? String ?? "" } == [
                        "queued", "active", "retrying", "queued", "active", "failed",
                    ],
                "\(failed)"
            )
            let retry = events.first { $0["state"] as? String == "retrying" }
            #expect((retry?["message"] as? String)?.isEmpty == false, "the retry says why: \(events)")

            // The console's page of the failed row shows the attempts, the retry's error among them.
            let id = try #require(refusedRows.first?["id"] as? String)
            let console = try await served.admin("/console/transfers/" + id)
            #expect(console.status == "200", "\(console)")
            #expect(console.body.contains("Queued transfer and its attempts"), "\(console.body)")
            #expect(console.body.contains(">retrying</td>"), "\(console.body)")
            // A row that is not a queued transfer's has no queue part.
            let inbound = try await served.admin("/v1/transfers?direction=in&limit=1")
            let row =
                (try JSONSerialization.jsonObject(with: Data(inbound.body.utf8)) as? [String: Any])?["transfers"]
                as? [[String: Any]]
            #expect(try await detail(row?.first)["queued"] == nil)
        }
    }

    @Test(
        "each control path takes only its methods (405 with Allow); a body that is not the JSON asked for names the field; filters and values out of range are refused; nothing is queued by a refused request"
    )
    func controlRefusals() async throws {
        try await Self.withServer(config: Self.queueConfig) { served in
            let served = served
            for (method, path, allow) in [
                ("POST", "/v1/transfers", "GET, HEAD"), ("DELETE", "/v1/transfers/abc", "GET, HEAD"),
                ("PUT", "/metrics", "GET, HEAD"), ("DELETE", "/v1/queue", "GET, POST, HEAD"),
                ("GET", "/v1/queue/purge", "POST"), ("DELETE", "/v1/queue/abc", "GET, HEAD"),
                ("GET", "/v1/queue/abc/hold", "POST"), ("POST", "/v1/deliveries", "GET, HEAD"),
                ("PATCH", "/v1/schedules", "GET, POST, HEAD"), ("GET", "/v1/schedules/abc", "DELETE"),
            ] {
                let answer = try await served.call(method, path)
                #expect(answer.status == "405", "\(method) \(path): \(answer)")
                #expect(answer.body.contains("takes \(allow)"), "\(method) \(path): \(answer)")
            }
            let local = served.folder + "/in.csv"
            for (body, status, words) in [
                ("not json", "400", "not JSON"),
                (#"{"partner":"acme","local":"/x","remote":"y"}"#, "400", "lacks 'direction'"),
                (#"{"direction":"sideways","partner":"acme","local":"/x","remote":"y"}"#, "400", "'direction'"),
                (
                    #"{"direction":"get","partner":"acme","local":"/x","remote":"y","priority":"high"}"#, "400",
                    "'priority' is not a whole number"
                ),
                (#"{"direction":"get","partner":"acme","local":"/x","remote":"y","at":"tomorrow"}"#, "400", "'at'"),
                (
                    #"{"direction":"get","partner":"acme","local":"/x","remote":"y","retry":{"retryWait":"1m"}}"#,
                    "400",
                    "'retry.retryWait' is not a number"
                ),
                (#"[1, 2]"#, "400", "the request body is not an object"),
                (
                    #"{"direction":"get","partner":"acme","local":"/x","remote":"y","text":["a"]}"#, "400",
                    "'text' is not an object"
                ),
                (#"{"direction":"get","partner":"nobody","local":"/x","remote":"y"}"#, "422", "no partner 'nobody'"),
                (#"{"direction":"get","partner":"acme","local":"x","remote":"y"}"#, "422", "must be absolute"),
                (#"{"direction":"send","partner":"acme","local":"\#(local)","remote":"y"}"#, "422", "does not exist"),
                (
                    #"{"direction":"get","partner":"acme","local":"/x","remote":"y","retry":{"retryWait":1e300}}"#,
                    "422",
                    "retryWait must be"
                ),
                (
                    #"{"direction":"get","partner":"acme","local":"/x","remote":"y","retry":{"retries":-2}}"#, "422",
                    "retries"
                ),
                (#"{"direction":"get","partner":"acme","local":"/x","remote":"y","priority":1001}"#, "422", "priority"),
            ] {
                let answer = try await served.call("POST", "/v1/queue", body)
                #expect(answer.status == status && answer.body.contains(words), "\(body): \(answer)")
                #expect(answer.body.hasPrefix(#"{"error":"#), "one shape for every refusal: \(answer)")
            }
            let spaces = served.folder + "/large.json"
            try String(repeating: " ", count: 1 << 21).write(toFile: spaces, atomically: true, encoding: .utf8)
            let large = try await served.call("POST", "/v1/queue", "@" + spaces)
            #expect(large.status == "413", "\(large.status)")
            for (body, status, words) in [
                (
                    #"{"every":30,"transfer":{"direction":"get","partner":"acme","local":"/x","remote":"y"}}"#, "422",
                    "1 minute"
                ),
                (
                    #"{"every":1e300,"transfer":{"direction":"get","partner":"acme","local":"/x","remote":"y"}}"#,
                    "422", "every"
                ),
                (
                    #"{"cron":"61 * * * *","transfer":{"direction":"get","partner":"acme","local":"/x","remote":"y"}}"#,
                    "422", "cron"
                ),
                (#"{"every":3600}"#, "400", "lacks 'transfer'"),
                (
                    #"{"every":3600,"transfer":{"direction":"get","partner":"acme","local":"/x","remote":"y"},"holds":[{"start":"2030-01-01T00:00:00Z","duration":-5}]}"#,
                    "422", "must end after it starts"
                ),
            ] {
                let answer = try await served.call("POST", "/v1/schedules", body)
                #expect(answer.status == status && answer.body.contains(words), "\(body): \(answer)")
            }
            for query in [
                "/v1/queue?state=", "/v1/queue?state=held,,done", "/v1/queue?state=stuck", "/v1/deliveries?limit=0",
                "/v1/deliveries?limit=many", "/v1/deliveries?state=pending,",
            ] {
                let answer = try await served.admin(query)
                #expect(answer.status == "400", "\(query): \(answer)")
            }
            let queue = try await served.admin("/v1/queue")
            #expect(queue.status == "200" && queue.body == "[]", "nothing refused was queued: \(queue)")
            let schedules = try await served.admin("/v1/schedules")
            #expect(schedules.body == "[]", "nothing refused was scheduled: \(schedules)")
            // Holds may be left out, and an offset time is a time.
            let plain = try await served.call(
                "POST",
                "/v1/schedules",
                #"{"every":3600,"transfer":{"direction":"get","partner":"acme","local":"/x","remote":"y","at":"2030-01-01T09:30:00+01:00"}}"#
            )
            #expect(plain.status == "201" && plain.body.contains(#""holds":[]"#), "\(plain)")
        }
    }

    @Test(
        "the served OpenAPI document is docs/admin-api.yaml, and schemathesis finds no answer that breaks it (schemas, statuses, content types, methods), with real rows in the ledger"
    )
    func openAPI() async throws {
        let schemathesis = try ExternalTool.require("st", installHint: "pip install schemathesis")
        let python = try ExternalTool.require("python3", installHint: "apt-get install python3")
        try await Self.withServer(config: Self.queueConfig) { served in
            let served = served
            // Real queue rows for the queue's paths to answer with: an entry due in 2030 and a schedule.
            let entry = try await served.call(
                "POST",
                "/v1/queue",
                #"{"direction":"get","partner":"acme","local":"\#(served.folder)/in.csv","remote":"out/a.csv","at":"2030-01-01T00:00:00Z"}"#
            )
            #expect(entry.status == "201", "\(entry)")
            let schedule = try await served.call(
                "POST",
                "/v1/schedules",
                #"{"cron":"30 6 * * 1-5","timeZone":"Europe/Berlin","transfer":{"direction":"get","partner":"acme","local":"\#(served.folder)/","remote":"out/daily.csv"}}"#
            )
            #expect(schedule.status == "201", "\(schedule)")
            // Data the schema allows may still be refused by the configuration (a partner it does not define: 422) or
            // the entry's state (409); everything else the schema allows must be taken.
            try """
            [checks.positive_data_acceptance]
            expected-statuses = ["2xx", "404", "409", "422"]
            """.write(toFile: served.folder + "/schemathesis.toml", atomically: true, encoding: .utf8)
            let document = try await served.admin("/openapi.yaml")
            #expect(document.status == "200")
            #expect(document.body + "\n" == (try String(contentsOfFile: Self.document, encoding: .utf8)))
            let script = served.folder + "/forward.py"
            try Self.forwarder.write(toFile: script, atomically: true, encoding: .utf8)
            let socket = served.socket.hasPrefix("/") ? served.socket : served.folder + "/" + served.socket
            let port = freeLoopbackPort()
            let forward = try BackgroundProcess.tiedToTestProcess(python, ["-u", script, socket, String(port)])
            #expect(try await forward.waitForOutput("forwarding"), "\(forward.output)")
            let run = try await ExternalTool.run(
                schemathesis,
                [
                    "run", Self.document, "--url", "http://127.0.0.1:\(port)", "--checks", "all",
                    "--phases", "examples,coverage,fuzzing", "--max-examples", "60", "--seed", "20261207",
                ],
                timeout: 600,
                environment: ProcessInfo.processInfo.environment.merging(["NO_COLOR": "1"]) { $1 },
                // Its cache (.schemathesis/) goes in the test's folder, not the working tree.
                directory: served.folder
            )
            #expect(run.status == 0, "\(run.output.suffix(6000))")
            #expect(run.stdout.contains("passed"), "\(run.output.suffix(2000))")
            await forward.stop()
        }
    }
}
