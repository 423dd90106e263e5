import FerryDaemon
import FerryQueue
import FerryTestSupport
import Foundation
import NIOHTTP1
import Testing

/// Actions on events, against real parts: `ferry serve` receiving from the `ferry` client, a command that writes
/// what it was told, a Python webhook receiver that checks the HMAC signature and counts event ids, a copy, a
/// forward to a third `ferry serve` (store-and-forward), and SIGKILL of the daemon around deliveries.
extension ManagedTransferTests {
    @Suite("Actions and events", .serialized)
    struct ActionTests {
        /// A plain-HTTP webhook receiver on loopback: checks `Ferry-Signature` (t=..., v1=HMAC-SHA256 over
        /// "t.body") and the body against docs/event.schema.json (required fields, no others, the types and enums),
        /// answers 200 (or 401) and appends "ok|bad|schema:REASON ID TYPE ID-HEADER" to a file.
        static let receiver = #"""
            import hashlib, hmac, http.server, json, sys
            secret = open(sys.argv[1]).read().split("\n")[0].encode()
            log = sys.argv[3]
            schema = json.load(open(sys.argv[4]))
            kinds = {"string": str, "integer": int, "array": list}
            def check(event):
                for key in schema["required"]:
                    if key not in event: return "missing-" + key
                for key, value in event.items():
                    rule = schema["properties"].get(key)
                    if rule is None: return "unknown-" + key
                    if "enum" in rule and value not in rule["enum"]: return "enum-" + key
                    if "type" in rule and not isinstance(value, kinds[rule["type"]]): return "type-" + key
                return None
            class Handler(http.server.BaseHTTPRequestHandler):
                protocol_version = "HTTP/1.1"
                def do_POST(self):
                    body = self.rfile.read(int(self.headers["Content-Length"]))
                    parts = dict(p.split("=", 1) for p in self.headers.get("Ferry-Signature", "").split(","))
                    expected = hmac.new(secret, parts.get("t", "").encode() + b"." + body, hashlib.sha256).hexdigest()
                    good = hmac.compare_digest(expected, parts.get("v1", ""))
                    event = json.loads(body)
                    problem = check(event)
                    status = ("schema:" + problem) if problem else ("ok" if good else "bad")
                    with open(log, "a") as out:
                        out.write("%s %s %s %s\n" % (status, event["id"], event["type"], self.headers.get("Ferry-Event-Id")))
                    self.send_response(200 if good else 401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                def log_message(self, *args):
                    pass
            server = http.server.HTTPServer(("127.0.0.1", int(sys.argv[2])), Handler)
            print("listening", flush=True)
            server.serve_forever()
            """#

        struct Site {
            let folder: String
            let pki: TestPKI
            let hookPort: Int
            let hookLog: String
            let secret: String
            let commandLog: String

            init(_ folder: String) throws {
                self.folder = folder
                pki = try TestPKI(directory: folder + "/pki")
                hookPort = freeLoopbackPort()
                hookLog = folder + "/hook.log"
                secret = folder + "/hook.secret"
                commandLog = folder + "/command.log"
                try "s3cret-\(UUID().uuidString)\n".write(toFile: secret, atomically: true, encoding: .utf8)
                FileManager.default.createFile(atPath: hookLog, contents: nil)
            }

            func startReceiver() async throws -> BackgroundProcess {
                let python = try ExternalTool.require("python3", installHint: "apt-get install python3")
                let script = folder + "/receiver.py"
                try ActionTests.receiver.write(toFile: script, atomically: true, encoding: .utf8)
                let schema = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                    .deletingLastPathComponent().appendingPathComponent("docs/event.schema.json").path
                let process = try BackgroundProcess(python, [script, secret, "\(hookPort)", hookLog, schema])
                #expect(try await process.waitForOutput("listening", timeout: 20), "\(process.output)")
                return process
            }

            /// The receiving server's config: the test PKI, and actions.
            func writeServerConfig(forwardPort: Int? = nil) throws -> String {
                let config = folder + "/ferry.yaml"
                var text = """
                    listen: 127.0.0.1:0
                    root: root
                    server:
                      tls: {certificate: pki/server.pem, key: pki/server-key.pem, ca: pki/ca.pem, expiry-warning: 3000d}
                    actions:
                      refused:
                        on: [handshake.failed, certificate.expiring]
                        run: [/bin/sh, -c, 'echo "$FERRY_EVENT|$FERRY_FINDINGS|$FERRY_MESSAGE|$FERRY_LOCAL" >> \(folder)/other.log']
                      log:
                        on: [file.received]
                        run: [/bin/sh, -c, 'echo "$FERRY_EVENT|$FERRY_PARTNER|$FERRY_REMOTE|$FERRY_SHA256|$FERRY_EVENT_ID|$FERRY_LOCAL" >> \(commandLog)']
                      hook:
                        on: [file.received]
                        webhook: http://127.0.0.1:\(hookPort)/hook
                        secret-file: hook.secret
                        timeout: 5s
                      archive:
                        on: [file.received]
                        path: "acme/inbound/*.csv"
                        copy-to: archive

                    """
                if let forwardPort {
                    text += """
                          onward:
                            on: [file.received]
                            partner: acme
                            path: "acme/relay/*"
                            forward: third:from-relay/
                        partners:
                          third:
                            url: https://localhost:\(forwardPort)
                            tls: {certificate: pki/bank.pem, key: pki/bank-key.pem, ca: pki/ca.pem}

                        """
                }
                try text.write(toFile: config, atomically: true, encoding: .utf8)
                return config
            }

            /// `ferry send` as partner acme.
            func send(_ files: [String], to url: String) async throws -> ExternalTool.Outcome {
                try await ExternalTool.run(
                    try CLITests.ferry,
                    ["send"] + files + [
                        url, "--cert", pki.certificate("acme"), "--key", pki.key("acme"), "--ca", pki.caFile,
                    ],
                    environment: ProcessInfo.processInfo.environment.merging(
                        ["XDG_STATE_HOME": folder + "/state", "FERRY_CONFIG": ""]
                    ) { $1 }
                )
            }

            func hookLines() -> [String] {
                ((try? String(contentsOfFile: hookLog, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
            }

            func commandLines() -> [String] {
                ((try? String(contentsOfFile: commandLog, encoding: .utf8)) ?? "").split(separator: "\n").map(
                    String.init
                )
            }
        }

        /// Polls `condition` for up to `seconds`.
        static func eventually(_ seconds: Double = 30, _ condition: () throws -> Bool) async throws -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if try condition() { return true }
                try await Task.sleep(for: .milliseconds(100))
            }
            return try condition()
        }

        @Test("a partner's committed file fires a command (FERRY_* facts), a signed webhook and a copy, each once")
        func receivedFile() async throws {
            try await TemporaryDirectory.with("ferry-actions") { folder in
                let site = try Site(folder.path)
                let hook = try await site.startReceiver()
                let server = try await ServeProcess(config: try site.writeServerConfig(), directory: folder.path)
                let first = folder.path + "/rates.csv"
                let digest = try TestFiles.write(first, size: 5000)
                let second = folder.path + "/notes.txt"
                _ = try TestFiles.write(second, size: 700, seed: 7)
                let sent = try await site.send([first, second], to: "https://localhost:\(server.port)/inbound/")
                #expect(sent.status == 0, "\(sent.output)")

                #expect(try await Self.eventually { site.commandLines().count == 2 && site.hookLines().count == 2 })
                let line = try #require(site.commandLines().first { $0.contains("rates.csv") })
                let fields = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
                #expect(fields.count == 6)
                #expect(fields[0] == "file.received" && fields[1] == "acme" && fields[2] == "acme/inbound/rates.csv")
                #expect(fields[3] == digest, "the verified SHA-256")
                #expect(fields[5] == folder.path + "/root/acme/inbound/rates.csv")
                let hooks = site.hookLines()
                #expect(hooks.allSatisfy { $0.hasPrefix("ok ") }, "every signature and body checks: \(hooks)")
                let ids = hooks.map { $0.split(separator: " ")[1] }
                #expect(Set(ids).count == 2, "one delivery per event")
                #expect(
                    hooks.allSatisfy { $0.split(separator: " ")[1] == $0.split(separator: " ")[3] },
                    "the id header is the body's id"
                )
                #expect(
                    site.commandLines().contains { $0.contains(String(ids[0])) },
                    "the command and the webhook see the same event id"
                )
                // The copy, for the .csv only (the path filter).
                #expect(
                    try await Self.eventually {
                        FileManager.default.fileExists(atPath: folder.path + "/root/acme/inbound/archive/rates.csv")
                    }
                )
                #expect(try TestFiles.sha256(folder.path + "/root/acme/inbound/archive/rates.csv") == digest)
                #expect(!FileManager.default.fileExists(atPath: folder.path + "/root/acme/inbound/archive/notes.txt"))
                // A stranger's refused handshake and the certificate that expires within the (long) warning window.
                let stranger = try await ExternalTool.run(
                    try CLITests.ferry,
                    [
                        "ls", "https://localhost:\(server.port)/", "--cert", site.pki.certificate("intruder"), "--key",
                        site.pki.key("intruder"), "--ca", site.pki.caFile, "--no-ledger",
                    ]
                )
                #expect(stranger.status == 2)
                let other = folder.path + "/other.log"
                func otherLines() -> [String] {
                    ((try? String(contentsOfFile: other, encoding: .utf8)) ?? "").split(separator: "\n").map(
                        String.init
                    )
                }
                #expect(
                    try await Self.eventually { otherLines().contains { $0.hasPrefix("handshake.failed|") } },
                    "\(otherLines())"
                )
                let refusal = try #require(otherLines().first { $0.hasPrefix("handshake.failed|") })
                #expect(
                    refusal.split(separator: "|").count >= 2 && !refusal.hasPrefix("handshake.failed||"),
                    "with its findings: \(refusal)"
                )
                let expiring = try #require(otherLines().first { $0.hasPrefix("certificate.expiring|") })
                #expect(expiring.hasSuffix("/pki/server.pem") && expiring.contains("days"), "\(expiring)")
                // Nothing fires twice: after a while, still one line per event.
                try await Task.sleep(for: .seconds(2))
                #expect(site.hookLines().count == 2 && site.commandLines().count == 2)
                try await server.kill()
                await hook.stop()
            }
        }

        @Test(
            "kill -9 around deliveries: one that succeeded is not repeated; one pending when killed is delivered after the restart"
        )
        func killAroundDelivery() async throws {
            try await TemporaryDirectory.with("ferry-actions") { folder in
                let site = try Site(folder.path)
                var hook = try await site.startReceiver()
                let config = try site.writeServerConfig()
                // Asked in-process: polling through `ferry` processes would load the machine other suites run on.
                let control = ControlClient(socketPath: folder.path + "/root/.ferry/control.sock")
                func deliveries() async throws -> [DeliveryView] {
                    (try? await control.call(.GET, ControlAPI.deliveries + "?limit=1000", as: [DeliveryView].self))
                        ?? []
                }
                var server = try await ServeProcess(config: config, directory: folder.path)
                let one = folder.path + "/one.bin"
                _ = try TestFiles.write(one, size: 100)
                #expect(try await site.send([one], to: "https://localhost:\(server.port)/inbound/").status == 0)
                #expect(try await Self.eventually { site.hookLines().count == 1 })
                // Killed once the delivery is marked done (a kill between the receiver's answer and the mark repeats it,
                // with the same event id: that window is what the id is for).
                var marked = false
                for _ in 0..<100 where !marked {
                    marked =
                        try await deliveries().filter {
                            ["log", "hook"].contains($0.action) && $0.event.type == "file.received"
                                && $0.state == "done"
                        }.count == 2
                    if !marked { try await Task.sleep(for: .milliseconds(100)) }
                }
                #expect(marked)
                try await server.kill()
                server = try await ServeProcess(config: config, directory: folder.path)
                try await Task.sleep(for: .seconds(3))
                #expect(site.hookLines().count == 1, "a delivery that succeeded is not repeated after a restart")

                // The receiver is down: the second file's webhook cannot be delivered; the daemon is killed meanwhile.
                await hook.stop()
                let two = folder.path + "/two.bin"
                _ = try TestFiles.write(two, size: 200)
                #expect(try await site.send([two], to: "https://localhost:\(server.port)/inbound/").status == 0)
                // Killed once the command's delivery is marked done and the webhook's has failed at least once.
                var waited = false
                for _ in 0..<100 {
                    let now = try await deliveries()
                    if now.filter({ $0.action == "log" && $0.state == "done" }).count == 2,
                        now.contains(where: { $0.action == "hook" && $0.state == "pending" && $0.attempts >= 1 })
                    {
                        waited = true
                        break
                    }
                    try await Task.sleep(for: .milliseconds(200))
                }
                let seen = try await deliveries()
                #expect(waited, "the webhook failed while its receiver was down: \(seen)")
                try await server.kill()
                hook = try await site.startReceiver()
                server = try await ServeProcess(config: config, directory: folder.path)
                #expect(
                    try await Self.eventually(40) { site.hookLines().count == 2 },
                    "delivered after the restart: \(site.hookLines())"
                )
                let ids = site.hookLines().map { $0.split(separator: " ")[1] }
                #expect(Set(ids).count == 2)
                #expect(site.commandLines().count == 2, "the command ran once per event")
                // What each action did, as the operator sees it.
                let listed = try await deliveries()
                let hooks = listed.filter { $0.action == "hook" }
                #expect(
                    hooks.count == 2 && hooks.allSatisfy { $0.state == "done" && $0.detail == "webhook answered 200" }
                )
                #expect(
                    hooks.contains { $0.attempts >= 2 },
                    "the one that waited for the receiver took more than one attempt"
                )
                #expect(listed.filter { $0.action == "log" }.allSatisfy { $0.detail?.hasPrefix("exit 0") == true })
                let text = try await ExternalTool.run(
                    try CLITests.ferry,
                    ["actions", "ls", "--state", "done", "--config", config],
                    directory: folder.path
                )
                #expect(
                    text.status == 0 && text.stdout.contains("hook  file.received acme acme/inbound/two.bin  done"),
                    "\(text.output)"
                )
                #expect(text.stdout.contains("webhook answered 200") && text.stdout.contains("exit 0"))
                // And in the ledger: one row per attempt, the failed ones with their error.
                let history = try await ExternalTool.run(
                    try CLITests.ferry,
                    ["history", "--server", "--operation", "ACTION", "--json", "--config", config, "--limit", "100"],
                    directory: folder.path
                )
                let rows = try #require(
                    try JSONSerialization.jsonObject(with: Data(history.stdout.utf8)) as? [[String: Any]],
                    "\(history.output)"
                )
                func count(_ action: String, _ result: String) -> Int {
                    rows.filter {
                        $0["operation"] as? String == "ACTION"
                            && ($0["path"] as? String)?.hasPrefix(action + " file.received") == true
                            && $0["result"] as? String == result
                    }.count
                }
                #expect(count("hook", "failed") >= 1, "the attempts while the receiver was down, with their error")
                #expect(count("hook", "ok") == 2 && count("log", "ok") == 2, "\(rows)")
                try await server.kill()
                await hook.stop()
            }
        }

        @Test("store-and-forward: a file a partner sends to the relay folder is forwarded to a third server, once")
        func forward() async throws {
            try await TemporaryDirectory.with("ferry-actions") { folder in
                let site = try Site(folder.path)
                let hook = try await site.startReceiver()
                let third = folder.path + "/third"
                try FileManager.default.createDirectory(atPath: third, withIntermediateDirectories: true)
                try FileManager.default.copyItem(atPath: folder.path + "/pki", toPath: third + "/pki")
                let thirdServer = try await ServeProcess(
                    config: try ServeProcess.writeConfig(in: third, port: 0),
                    directory: third
                )
                let server = try await ServeProcess(
                    config: try site.writeServerConfig(forwardPort: thirdServer.port),
                    directory: folder.path
                )
                let file = folder.path + "/parcel.bin"
                let digest = try TestFiles.write(file, size: 3 << 20)
                #expect(try await site.send([file], to: "https://localhost:\(server.port)/relay/").status == 0)
                let arrived = third + "/root/bank/from-relay/parcel.bin"
                #expect(try await Self.eventually(40) { FileManager.default.fileExists(atPath: arrived) })
                #expect(try TestFiles.sha256(arrived) == digest)
                // The relay's queue shows the forward, made by the action.
                let listed = try await ExternalTool.run(
                    try CLITests.ferry,
                    ["queue", "ls", "--json", "--config", folder.path + "/ferry.yaml"],
                    directory: folder.path
                )
                let entries = try ControlAPI.decoder().decode([QueueEntry].self, from: Data(listed.stdout.utf8))
                #expect(entries.count == 1 && entries[0].origin == "action:onward" && entries[0].state == .done)
                try await server.kill()
                try await thirdServer.kill()
                await hook.stop()
            }
        }
    }
}
