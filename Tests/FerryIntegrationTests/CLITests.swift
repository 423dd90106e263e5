import FerryProtocol
import FerryTestSupport
import Foundation
import Testing

@testable import FerryClient

/// The `ferry` executable as a user runs it: exit codes, messages, the demo, and a config-less `serve`.
@Suite("The ferry command", .serialized)
struct CLITests {
    /// The `ferry` binary built next to the test bundle.
    static var ferry: String {
        get throws {
            let folder = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            for candidate in [
                folder.appendingPathComponent("ferry").path,
                FileManager.default.currentDirectoryPath + "/.build/debug/ferry",
            ]
            where FileManager.default.isExecutableFile(atPath: candidate) {
                return candidate
            }
            throw MissingBinary()
        }
    }

    struct MissingBinary: Error, CustomStringConvertible {
        var description: String { "the ferry executable was not built next to the tests; run `swift build` first" }
    }

    func run(
        _ arguments: [String],
        in directory: String? = nil,
        environment extra: [String: String] = [:]
    ) async throws -> ExternalTool.Outcome {
        var environment = ProcessInfo.processInfo.environment
        for (key, value) in extra { environment[key] = value }
        return try await ExternalTool.run(
            try Self.ferry,
            arguments,
            timeout: 120,
            environment: environment,
            directory: directory
        )
    }

    /// Starts a Python HTTPS server on `port` with the test PKI's server certificate (argv 1-3; `extra` from argv 4)
    /// whose request handler is `handler` (a `Handler` class); returns once it listens.
    static func startPythonServer(
        _ handler: String,
        named name: String,
        in folder: String,
        pki: TestPKI,
        port: Int,
        extra: [String] = []
    ) async throws -> BackgroundProcess {
        let python = try ExternalTool.require("python3", installHint: "apt-get install python3")
        let script = folder + "/" + name + ".py"
        try
            ("import base64, hashlib, http.server, ssl, sys, time\n" + handler + #"""

                server = http.server.HTTPServer(("127.0.0.1", int(sys.argv[3])), Handler)
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                context.load_cert_chain(sys.argv[1], sys.argv[2])
                context.set_alpn_protocols(["http/1.1"])
                server.socket = context.wrap_socket(server.socket, server_side=True)
                print("listening", flush=True)
                server.serve_forever()
                """#).write(toFile: script, atomically: true, encoding: .utf8)
        let server = try BackgroundProcess(python, [script, pki.serverCertificate, pki.serverKey, "\(port)"] + extra)
        #expect(try await server.waitForOutput("listening", timeout: 20), "\(server.output)")
        return server
    }

    /// An HTTPS server (Python's http.server with ssl) whose `Repr-Digest` does not match the bytes it sends
    /// (GET) or received (PUT): a corrupting or lying partner.
    static let lyingServer = #"""
        body = b"the bytes on the wire\n"
        wrong = "sha-256=:" + base64.b64encode(hashlib.sha256(b"what the server claims\n").digest()).decode() + ":"
        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Repr-Digest", wrong)
                self.end_headers()
                self.wfile.write(body)
            def do_PUT(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.send_header("Repr-Digest", wrong)
                self.end_headers()
            def log_message(self, *args):
                pass
        """#

    @Test("a digest that does not match the bytes exits 4 (integrity), for get and send, and get writes nothing")
    func integrityExitCode() async throws {
        try await TemporaryDirectory.with { folder in
            let pki = try TestPKI(directory: folder.path + "/pki")
            let port = freeLoopbackPort()
            let server = try await Self.startPythonServer(
                Self.lyingServer,
                named: "lying",
                in: folder.path,
                pki: pki,
                port: port
            )
            let tls = ["--ca", pki.caFile, "--cert", pki.certificate("acme"), "--key", pki.key("acme")]
            let environment = ["XDG_STATE_HOME": folder.path + "/state", "FERRY_CONFIG": ""]
            let get = try await run(
                ["get", "https://localhost:\(port)/in/report.csv", folder.path + "/report.csv"] + tls,
                in: folder.path,
                environment: environment
            )
            #expect(get.status == 4, "\(get.output)")
            #expect(get.stderr.contains("integrity check failed"), "\(get.stderr)")
            #expect(
                !FileManager.default.fileExists(atPath: folder.path + "/report.csv"),
                "a file that failed its digest must not appear under its name"
            )
            try "what the client sends\n".write(toFile: folder.path + "/out.csv", atomically: true, encoding: .utf8)
            let send = try await run(
                ["send", folder.path + "/out.csv", "https://localhost:\(port)/in/"] + tls,
                in: folder.path,
                environment: environment
            )
            #expect(send.status == 4, "\(send.output)")
            #expect(send.stderr.contains("integrity check failed"), "\(send.stderr)")
            await server.stop()
        }
    }

    /// An HTTPS server that answers the first `argv[4]` PUTs with 503 (after reading their bodies), then stores
    /// and acknowledges with the body's true `Repr-Digest`; it prints the time of each PUT it receives.
    static let flakyServer = #"""
        failures = int(sys.argv[4])
        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            def do_PUT(self):
                global failures
                body = self.rfile.read(int(self.headers["Content-Length"]))
                print("PUT %.3f" % time.monotonic(), flush=True)
                if failures > 0:
                    failures -= 1
                    problem = b'{"type":"https://ferry.dev/problems/storage-error","title":"Busy","status":503,"detail":"try later"}'
                    self.send_response(503)
                    self.send_header("Content-Type", "application/problem+json")
                    self.send_header("Content-Length", str(len(problem)))
                    self.end_headers()
                    self.wfile.write(problem)
                    return
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.send_header("Repr-Digest", "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":")
                self.end_headers()
            def log_message(self, *args):
                pass
        """#

    @Test("5xx answers are retried after --retry-wait, doubling; --retries bounds them and the last failure exits 5")
    func retriesOnServerErrors() async throws {
        try await TemporaryDirectory.with { folder in
            let pki = try TestPKI(directory: folder.path + "/pki")
            try "a report\n".write(toFile: folder.path + "/out.csv", atomically: true, encoding: .utf8)
            let tls = ["--ca", pki.caFile, "--cert", pki.certificate("acme"), "--key", pki.key("acme")]
            let environment = ["XDG_STATE_HOME": folder.path + "/state", "FERRY_CONFIG": ""]

            // Two 503s, then success: three PUTs, the waits about 0.4 s and then 0.8 s (each with up to 50 % jitter).
            let port = freeLoopbackPort()
            let server = try await Self.startPythonServer(
                Self.flakyServer,
                named: "flaky",
                in: folder.path,
                pki: pki,
                port: port,
                extra: ["2"]
            )
            let send = try await run(
                [
                    "send", folder.path + "/out.csv", "https://localhost:\(port)/in/", "--retries", "3", "--retry-wait",
                    "0.4", "--json",
                ] + tls,
                in: folder.path,
                environment: environment
            )
            #expect(send.status == 0, "\(send.output)")
            #expect(
                send.stderr.contains("retry 1 of 3") && send.stderr.contains("retry 2 of 3")
                    && !send.stderr.contains("retry 3 of 3"),
                "\(send.stderr)"
            )
            #expect(send.stderr.contains("try later"), "the server's words are shown: \(send.stderr)")
            let times = server.output.split(separator: "\n").filter { $0.hasPrefix("PUT ") }.compactMap {
                Double($0.dropFirst(4))
            }
            try #require(times.count == 3, "\(server.output)")
            let (first, second) = (times[1] - times[0], times[2] - times[1])
            #expect(first >= 0.4 && second >= 0.8, "waits \(first) s and \(second) s")
            await server.stop()

            // More failures than retries: the last 503 is final, exit 5 (worth retrying later).
            let stubborn = try await Self.startPythonServer(
                Self.flakyServer,
                named: "flaky",
                in: folder.path,
                pki: pki,
                port: port,
                extra: ["9"]
            )
            let refused = try await run(
                [
                    "send", folder.path + "/out.csv", "https://localhost:\(port)/in/", "--retries", "1", "--retry-wait",
                    "0.1",
                ] + tls,
                in: folder.path,
                environment: environment
            )
            #expect(refused.status == 5, "\(refused.output)")
            #expect(
                stubborn.output.split(separator: "\n").filter { $0.hasPrefix("PUT ") }.count == 2,
                "one try and one retry: \(stubborn.output)"
            )
            await stubborn.stop()
        }
    }

    @Test("ferry demo runs a verified round trip, then diagnoses a partner set up like the incident's, and exits 0")
    func demo() async throws {
        let outcome = try await run(["demo"])
        #expect(outcome.status == 0, "\(outcome.output)")
        #expect(outcome.stdout.contains("Demo passed."))
        #expect(outcome.stdout.contains("TLS1.3"))
        #expect(outcome.stdout.contains("ERROR [ca-names-empty-illegal]"), "\(outcome.stdout)")
        #expect(
            outcome.stdout.contains("Distinguished Names Length = 0")
                && outcome.stdout.contains("negotiated version: TLS1.0")
        )
        #expect(
            outcome.stderr.isEmpty,
            "the incident server's refusals are the diagnosis's to report, not log noise: \(outcome.stderr)"
        )
        let json = try await run(["demo", "--json", "--size", "1"])
        #expect(json.status == 0)
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect(object?["ok"] as? Bool == true)
        #expect(object?["serverLedgerTLSVersion"] as? String == "TLS1.3")
        #expect((object?["diagnosis"] as? [String])?.first == "ca-names-empty-illegal", "\(json.stdout)")
    }

    /// Starts `ferry get` slowed down and kills it (SIGKILL, as a crash would) once `NAME.part` holds at least
    /// `bytes`: the part and its validator stay for the next run.
    static func interruptedGet(
        _ arguments: [String],
        part: String,
        atLeast bytes: Int64,
        environment: [String: String]
    ) async throws {
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        let slow = try BackgroundProcess(try Self.ferry, arguments + ["--limit-rate", "2M"], environment: env)
        let deadline = ContinuousClock.now + .seconds(60)
        while TransferClient.length(of: part) < bytes, slow.isRunning, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        await slow.stop(signal: SIGKILL)
        #expect(TransferClient.length(of: part) >= bytes, "the slowed get never wrote \(bytes) bytes: \(slow.output)")
    }

    @Test(
        "ferry get resumes across runs from NAME.part (Range + If-Range), and starts over when the file changed on the server"
    )
    func getAcrossRuns() async throws {
        try await TestServerHarness.with { server in
            let environment = ["XDG_STATE_HOME": server.folder.path + "/state"]
            let identity = [
                "--cert", server.pki.certificate("acme"), "--key", server.pki.key("acme"), "--ca", server.pki.caFile,
            ]
            let remote = "https://localhost:\(server.port)/out/big.bin"
            try FileManager.default.createDirectory(
                atPath: server.root + "/acme/out",
                withIntermediateDirectories: true
            )
            let original = try TestFiles.write(server.root + "/acme/out/big.bin", size: 12 << 20, seed: 1)
            let local = server.folder.path + "/big.bin"
            let get = ["get", remote, local, "--json"] + identity

            // Run 1 is killed part-way; run 2 continues from the part and checks the whole file's digest.
            try await Self.interruptedGet(get, part: local + ".part", atLeast: 3 << 20, environment: environment)
            let kept = TransferClient.length(of: local + ".part")
            let resumed = try await run(get, environment: environment)
            #expect(resumed.status == 0, "\(resumed.output)")
            let result = try JSONSerialization.jsonObject(with: Data(resumed.stdout.utf8)) as? [String: Any]
            #expect((result?["resumedFrom"] as? Int).map { $0 >= 3 << 20 && $0 <= kept } == true, "\(resumed.stdout)")
            #expect(try TestFiles.sha256(local) == original)
            #expect(!FileManager.default.fileExists(atPath: local + ".part"))

            // Run 3 is killed; the file is replaced on the server; run 4 sees the validator fail and fetches it anew.
            try FileManager.default.removeItem(atPath: local)
            try await Self.interruptedGet(get, part: local + ".part", atLeast: 3 << 20, environment: environment)
            // Replaced as an editor or an upload would: a new file renamed over the old one (a new ETag).
            let replaced = try TestFiles.write(server.root + "/acme/out/.big.bin.new", size: 5 << 20, seed: 2)
            #expect(rename(server.root + "/acme/out/.big.bin.new", server.root + "/acme/out/big.bin") == 0)
            let restarted = try await run(get, environment: environment)
            #expect(restarted.status == 0, "\(restarted.output)")
            #expect(
                restarted.stderr.contains("changed on the server since the partial download; starting over"),
                "\(restarted.stderr)"
            )
            let second = try JSONSerialization.jsonObject(with: Data(restarted.stdout.utf8)) as? [String: Any]
            #expect(second?["resumedFrom"] as? Int == 0)
            #expect(try TestFiles.sha256(local) == replaced)
        }
    }

    @Test("send, get, ls, rm and history from the command line, with the documented exit codes")
    func clientCommands() async throws {
        try await TestServerHarness.with { server in
            let state = server.folder.path + "/state"
            let environment = ["XDG_STATE_HOME": state]
            let identity = [
                "--cert", server.pki.certificate("acme"), "--key", server.pki.key("acme"), "--ca", server.pki.caFile,
            ]
            let base = "https://localhost:\(server.port)"
            let file = server.folder.path + "/report.csv"
            let digest = try TestFiles.write(file, size: 200_000)

            let send = try await run(["send", file, base + "/in/", "--json"] + identity, environment: environment)
            #expect(send.status == 0, "\(send.output)")
            let sent = try JSONSerialization.jsonObject(with: Data(send.stdout.utf8)) as? [String: Any]
            #expect(sent?["sha256"] as? String == digest)
            #expect(sent?["verified"] as? Bool == true)

            let human = try await run(["send", file, base + "/in/copy.csv"] + identity, environment: environment)
            #expect(human.status == 0)
            #expect(human.stdout.contains("verified"))
            #expect(human.stderr.isEmpty, "no progress bar when not on a terminal: \(human.stderr)")

            let ls = try await run(["ls", base + "/in/"] + identity, environment: environment)
            #expect(ls.stdout.contains("report.csv") && ls.stdout.contains("copy.csv"))

            let local = server.folder.path + "/back.csv"
            let get = try await run(["get", base + "/in/report.csv", local] + identity, environment: environment)
            #expect(get.status == 0)
            #expect(try TestFiles.sha256(local) == digest)

            let rm = try await run(["rm", base + "/in/copy.csv"] + identity, environment: environment)
            #expect(rm.status == 0)

            let history = try await run(["history", "--json"], environment: environment)
            let rows = try JSONSerialization.jsonObject(with: Data(history.stdout.utf8)) as? [[String: Any]]
            #expect(rows?.count == 4)
            #expect(rows?.allSatisfy { $0["tlsVersion"] as? String == "TLS1.3" } == true)
            // Filters and pages: two PUTs, one GET, one DELETE were recorded above.
            let puts = try await run(["history", "--operation", "put", "--json"], environment: environment)
            #expect(
                (try JSONSerialization.jsonObject(with: Data(puts.stdout.utf8)) as? [[String: Any]])?.map {
                    $0["operation"] as? String
                } == ["PUT", "PUT"]
            )
            let copies = try await run(
                ["history", "--path", base + "/v1/files/in/copy", "--since", "1h"],
                environment: environment
            )
            #expect(copies.status == 0 && copies.stdout.split(separator: "\n").count == 2, "\(copies.output)")
            let first = try await run(["history", "--limit", "3"], environment: environment)
            let more = try #require(
                first.stdout.split(separator: "\n").last.flatMap {
                    $0.hasPrefix("more: ferry history --after ") ? $0.split(separator: " ")[4] : nil
                },
                "\(first.output)"
            )
            let rest = try await run(["history", "--after", String(more)], environment: environment)
            #expect(
                rest.status == 0 && rest.stdout.split(separator: "\n").count == 1 && rest.stdout.contains(" PUT "),
                "\(rest.output)"
            )
            let wrong = try await run(["history", "--operation", "copy"], environment: environment)
            #expect(
                wrong.status == 1 && wrong.stderr.contains("--operation 'copy' is not one of PUT, GET"),
                "\(wrong.output)"
            )
            let badCursor = try await run(["history", "--after", "12"], environment: environment)
            #expect(badCursor.status == 1 && badCursor.stderr.contains("--after '12'"), "\(badCursor.output)")

            let missingFile = try await run(
                ["send", server.folder.path + "/nope.csv", base + "/in/"] + identity,
                environment: environment
            )
            #expect(missingFile.status == 6)
            #expect(missingFile.stderr.contains("nope.csv"))

            let missingRemote = try await run(
                ["get", base + "/in/nope.csv", local] + identity,
                environment: environment
            )
            #expect(missingRemote.status == 3)
            #expect(missingRemote.stderr.contains("404"))

            let empty = server.folder.path + "/empty"
            try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
            let noCertificate = try await run(
                ["send", file, base + "/in/", "--ca", server.pki.caFile],
                in: empty,
                environment: environment
            )
            #expect(noCertificate.status == 2)
            #expect(noCertificate.stderr.contains("client certificate"), "\(noCertificate.stderr)")
            #expect(noCertificate.stderr.contains("--cert"), "the fix is named: \(noCertificate.stderr)")

            let refused = try await run(["send", file, "https://localhost:1/in/"] + identity, environment: environment)
            #expect(refused.status == 5)
            #expect(refused.stderr.contains("cannot connect"))

            let badTarget = try await run(["send", file, "nowhere"] + identity, environment: environment)
            #expect(badTarget.status == 1)
            let plainHTTP = try await run(
                ["send", file, "http://localhost:\(server.port)/"] + identity,
                environment: environment
            )
            #expect(plainHTTP.status == 1)
            #expect(plainHTTP.stderr.contains("HTTPS"))
        }
    }

    @Test("certs init writes a PKI, refuses to overwrite it, and replaces it with --force")
    func certsInit() async throws {
        try await TemporaryDirectory.with { folder in
            let first = try await run([
                "certs", "init", "--dir", folder.path + "/pki", "--client", "acme", "--server-name", "files.example",
            ])
            #expect(first.status == 0, "\(first.output)")
            #expect(FileManager.default.fileExists(atPath: folder.path + "/pki/clients/acme-key.pem"))
            let second = try await run(["certs", "init", "--dir", folder.path + "/pki", "--client", "acme"])
            #expect(second.status == 1)
            #expect(second.stderr.contains("--force"))
            let forced = try await run(["certs", "init", "--dir", folder.path + "/pki", "--client", "acme", "--force"])
            #expect(forced.status == 0)
        }
    }

    @Test("ferry serve with no config makes a dev PKI, prints working commands, serves them, and stops on SIGTERM")
    func serveWithoutConfig() async throws {
        try await TemporaryDirectory.with { folder in
            let log = folder.path + "/serve.log"
            FileManager.default.createFile(atPath: log, contents: nil)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: try Self.ferry)
            process.arguments = ["serve", "--listen", "127.0.0.1:0"]
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
            #expect(banner.contains("CA names sent"))
            let url = try #require(banner.split(separator: " ").first { $0.hasPrefix("https://localhost:") })
                .trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(FileManager.default.fileExists(atPath: folder.path + "/.ferry/pki/clients/dev.pem"))

            let file = folder.path + "/hello.txt"
            try "hello".write(toFile: file, atomically: true, encoding: .utf8)
            let send = try await run(
                ["send", "hello.txt", url + "/"],
                in: folder.path,
                environment: ["XDG_STATE_HOME": folder.path + "/state"]
            )
            #expect(send.status == 0, "\(send.output)")
            #expect(try String(contentsOfFile: folder.path + "/ferry-data/dev/hello.txt", encoding: .utf8) == "hello")

            // The banner's curl line works as printed.
            let curl = try ExternalTool.require("curl", installHint: "apt-get install curl")
            let curlLine = try #require(
                banner.split(separator: "\n").first(where: { $0.contains("curl --cert") }),
                "no curl line in the banner: \(banner)"
            )
            var words = curlLine.split(separator: " ").map(String.init).drop { $0 != "curl" }.dropFirst().map { $0 }
            words = words.map {
                $0 == "FILE" ? "hello.txt" : $0.replacingOccurrences(of: "/FILE", with: "/via-curl.txt")
            }
            let outcome = try await ExternalTool.run(
                curl,
                ["--silent", "--show-error", "-w", "%{http_code}", "-o", "/dev/null"] + words,
                directory: folder.path
            )
            #expect(outcome.stdout == "201", "\(outcome.output)")
            #expect(
                try String(contentsOfFile: folder.path + "/ferry-data/dev/via-curl.txt", encoding: .utf8) == "hello"
            )

            process.terminate()
            for _ in 0..<200 where process.isRunning {
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(!process.isRunning, "ferry serve must stop on SIGTERM")
            #expect(process.terminationStatus == 0)
        }
    }

    @Test(
        "ferry serve listens on IPv6 ([::1]): the banner's URL works for ferry and curl, the certificate checked by its IP address"
    )
    func serveOnIPv6() async throws {
        try await TemporaryDirectory.with { folder in
            // Started in the test's folder, where it makes its dev PKI.
            let server = try BackgroundProcess(
                "/bin/sh",
                ["-c", "cd \"$1\" && exec \"$2\" serve --listen '[::1]:0'", "serve", folder.path, try Self.ferry]
            )
            defer { Task { await server.stop() } }
            // The whole banner, curl line included.
            #expect(try await server.waitForOutput(".pem -T FILE", timeout: 30), "\(server.output)")
            let url = try #require(
                server.output.split(whereSeparator: { $0 == " " || $0 == "\n" }).first {
                    $0.hasPrefix("https://[::1]:")
                },
                "\(server.output)"
            )
            let file = folder.path + "/hello.txt"
            try "hello over IPv6".write(toFile: file, atomically: true, encoding: .utf8)
            // The dev PKI is in the server's working folder; the client finds it there too.
            let printed = try #require(
                server.output.split(separator: "\n").first { $0.contains("dev PKI in ") }.map {
                    String($0.split(separator: " ")[3])
                },
                "\(server.output)"
            )
            let pkiDirectory = printed.hasPrefix("/") ? printed : folder.path + "/" + printed
            #expect(FileManager.default.fileExists(atPath: folder.path + "/.ferry/pki/ca.pem"))
            let identity = [
                "--cert", pkiDirectory + "/clients/dev.pem", "--key", pkiDirectory + "/clients/dev-key.pem", "--ca",
                pkiDirectory + "/ca.pem",
            ]
            let send = try await run(
                ["send", file, String(url) + "/", "--json"] + identity,
                environment: ["XDG_STATE_HOME": folder.path + "/state"]
            )
            #expect(send.status == 0, "\(send.output)")
            #expect(
                try String(contentsOfFile: folder.path + "/ferry-data/dev/hello.txt", encoding: .utf8)
                    == "hello over IPv6"
            )
            let curl = try ExternalTool.require("curl", installHint: "apt-get install curl")
            let fetched = try await ExternalTool.run(
                curl,
                [
                    "--silent", "--show-error", "--cert", identity[1], "--key", identity[3], "--cacert", identity[5],
                    String(url) + FerryAPI.files + "/hello.txt",
                ]
            )
            #expect(fetched.stdout == "hello over IPv6", "\(fetched.output)")
        }
    }

    @Test("ferry serve refuses a bad configuration with the file and the fix")
    func serveBadConfig() async throws {
        try await TemporaryDirectory.with { folder in
            let config = folder.path + "/ferry.yaml"
            try "server:\n  tls:\n    certificate: missing.pem\n    key: missing-key.pem\n    ca: ca.pem\n".write(
                toFile: config,
                atomically: true,
                encoding: .utf8
            )
            let outcome = try await run(["serve", "--config", config], in: folder.path)
            #expect(outcome.status == 1)
            #expect(
                outcome.stderr.contains("missing.pem") && outcome.stderr.contains("does not exist"),
                "\(outcome.stderr)"
            )
            try "listen: nonsense\n".write(toFile: config, atomically: true, encoding: .utf8)
            let listen = try await run(["serve", "--config", config], in: folder.path)
            #expect(listen.status == 1)
        }
    }
}
