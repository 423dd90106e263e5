import FerryConfig
import FerryTestSupport
import FerryTrace
import FerryWire
import Foundation
import NIOCore
import Testing

/// Handshake captures hold the handshake and the secrets that decrypt it, nothing of the data: checked with
/// tshark (which decrypts whatever the file's secrets allow) and with the file's own key block.
@Suite("Handshake captures hold no application data", .serialized)
struct CaptureSecrecyTests {
    static func mode(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    static func labels(_ capture: String) throws -> Set<String> {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: capture))
        let file = try CaptureFile(bytes: ByteBuffer(bytes: bytes))
        return Set(file.keyLog.lines.map { String($0.prefix { $0 != " " }) })
    }

    /// What tshark decodes of the capture with its embedded secrets: HTTP frames, and the handshake types.
    static func tsharkView(_ capture: String, port: Int) async throws -> (http: String, handshake: String) {
        let tshark = try ExternalTool.require("tshark", installHint: "apt-get install tshark")
        let http = try await ExternalTool.run(
            tshark,
            ["-r", capture, "-d", "tcp.port==\(port),tls", "-Y", "http || http2", "-T", "fields", "-e", "frame.number"]
        )
        #expect(http.status == 0, "\(http.output)")
        let handshake = try await ExternalTool.run(
            tshark,
            [
                "-r", capture, "-d", "tcp.port==\(port),tls", "-Y", "tls", "-T", "fields", "-e", "tcp.srcport", "-e",
                "tls.handshake.type",
            ]
        )
        return (http.stdout.trimmingCharacters(in: .whitespacesAndNewlines), handshake.stdout)
    }

    @Test(
        "serve --pcapng-dir: each capture is 0600 and stops at the Finished messages; TLS 1.3 exports only handshake secrets, TLS 1.2 none",
        arguments: ["1.2", "1.3"]
    )
    func serverCaptures(version: String) async throws {
        let curl = try ExternalTool.require("curl", installHint: "apt-get install curl")
        try await TestServerHarness.with(configure: { configuration, _ in
            configuration.serverTrace.pcapngDirectory = configuration.root + "-captures"
        }) { server in
            let captures = server.root + "-captures"
            #expect(try Self.mode(captures) == 0o700)
            let file = server.folder.path + "/payload.txt"
            try String(repeating: "FERRY-SECRET-PAYLOAD ", count: 2000).write(
                toFile: file,
                atomically: true,
                encoding: .utf8
            )
            let upload = try await ExternalTool.run(
                curl,
                server.curlIdentity("acme") + [
                    "--tlsv\(version)", "--tls-max", version, "-o", "/dev/null", "-w", "%{http_code}", "-T", file,
                    server.url("in/payload.txt"),
                ]
            )
            #expect(upload.stdout == "201", "\(upload.output)")
            var names: [String] = []
            for _ in 0..<100 where names.isEmpty {
                try await Task.sleep(for: .milliseconds(50))
                names = (try? FileManager.default.contentsOfDirectory(atPath: captures)) ?? []
            }
            let capture = captures + "/" + (try #require(names.first, "no capture was written"))
            #expect(try Self.mode(capture) == 0o600)
            let labels = try Self.labels(capture)
            if version == "1.3" {
                #expect(labels == ["CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET"], "\(labels)")
            } else {
                #expect(
                    labels.isEmpty,
                    "the TLS 1.2 master secret would also open sessions resumed from this one: \(labels)"
                )
            }
            let view = try await Self.tsharkView(capture, port: server.port)
            #expect(view.http.isEmpty, "tshark decoded HTTP from a handshake capture: frames \(view.http)")
            if version == "1.3" {
                // The handshake itself is decrypted: both Finished messages (type 20) are visible.
                let finished = view.handshake.split(separator: "\n").filter {
                    $0.split(separator: "\t").last?.split(separator: ",").contains("20") == true
                }
                #expect(finished.count == 2, "\(view.handshake)")
            }
            // Ferry's own decoder agrees: nothing after the handshake.
            let trace = try await ExternalTool.run(try CLITests.ferry, ["trace", capture, "--json"])
            #expect(trace.status == 0, "\(trace.output)")
            #expect(!trace.stdout.contains("\"application_data\""), "\(trace.stdout)")
        }
    }

    @Test("ferry send --pcapng creates a new 0600 file, refuses to write over one, and holds no application data")
    func clientCapture() async throws {
        try await TestServerHarness.with { server in
            let file = server.folder.path + "/data.bin"
            _ = try TestFiles.write(file, size: 200_000)
            let identity = [
                "--cert", server.pki.certificate("acme"), "--key", server.pki.key("acme"), "--ca", server.pki.caFile,
            ]
            var environment = ProcessInfo.processInfo.environment
            environment["XDG_STATE_HOME"] = server.folder.path + "/state"
            let existing = server.folder.path + "/kept.pcapng"
            try "not yours".write(toFile: existing, atomically: true, encoding: .utf8)
            let refused = try await ExternalTool.run(
                try CLITests.ferry,
                ["send", file, "https://localhost:\(server.port)/in/", "--pcapng", existing] + identity,
                environment: environment
            )
            #expect(refused.status == 1, "\(refused.output)")
            #expect(refused.stderr.contains("already exists"), "\(refused.stderr)")
            #expect(try String(contentsOfFile: existing, encoding: .utf8) == "not yours")
            #expect(
                !FileManager.default.fileExists(atPath: server.root + "/acme/in/data.bin"),
                "nothing is sent when the capture cannot be written"
            )

            let capture = server.folder.path + "/send.pcapng"
            let send = try await ExternalTool.run(
                try CLITests.ferry,
                ["send", file, "https://localhost:\(server.port)/in/", "--pcapng", capture] + identity,
                environment: environment
            )
            #expect(send.status == 0, "\(send.output)")
            #expect(try Self.mode(capture) == 0o600)
            #expect(try Self.labels(capture) == ["CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET"])
            let view = try await Self.tsharkView(capture, port: server.port)
            #expect(view.http.isEmpty, "tshark decoded HTTP from a handshake capture: frames \(view.http)")
        }
    }

    @Test("a capture folder open to other users stops the server at startup with the fix")
    func openFolder() async throws {
        try await TemporaryDirectory.with("ferry-captures") { folder in
            let open = folder.path + "/open"
            try FileManager.default.createDirectory(
                atPath: open,
                withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o755]
            )
            do {
                try await TestServerHarness.with(configure: { configuration, _ in
                    configuration.serverTrace.pcapngDirectory = open
                }) { _ in }
                Issue.record("the server started with a capture folder others can read")
            } catch {
                #expect(String(describing: error).contains("chmod 700"), "\(error)")
            }
        }
    }
}
