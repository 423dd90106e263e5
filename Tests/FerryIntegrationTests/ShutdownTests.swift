import FerryServer
import FerryTestSupport
import Foundation
import Testing

@Suite("Graceful shutdown", .serialized)
struct ShutdownTests {
    @Test(
        "a graceful stop during an upload lets it finish: the file is committed whole, nothing is left in the temporary folder"
    )
    func stopDuringUpload() async throws {
        let curl = try ExternalTool.require("curl", installHint: "apt-get install curl")
        try await TestServerHarness.with { server in
            let source = server.folder.path + "/slow.bin"
            let digest = try TestFiles.write(source, size: 4 << 20)
            let upload = Task {
                try await ExternalTool.run(
                    curl,
                    server.curlIdentity("acme") + [
                        // 16 s: a window the loop below sees even when the suite beside it holds this test's
                        // threads for seconds, well inside the 30 s grace.
                        "--http1.1", "--limit-rate", "256K", "-T", source, "-o", "/dev/null", "-w", "%{http_code}",
                        server.url("in/slow.bin"),
                    ],
                    // Generous: in the first minute of the whole suite on two cores, everything is starved.
                    timeout: 120
                )
            }
            // Stop once the upload is under way: the server (in this process) holds its temporary file open. The file
            // is created unnamed (O_TMPFILE) and only linked when complete, so the folder listing shows nothing; the
            // open descriptor's target does.
            let temporary = server.root + "/.ferry/tmp/"
            let deadline = ContinuousClock.now + .seconds(60)
            func inFlight() -> Bool {
                let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
                return descriptors.contains {
                    ((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + $0)) ?? "")
                        .hasPrefix(temporary)
                }
            }
            while !inFlight(), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            #expect(inFlight(), "the upload never started")
            #expect(
                !FileManager.default.fileExists(atPath: server.root + "/acme/in/slow.bin"),
                "visible before the last byte"
            )
            try await server.running.stop()
            let outcome = try await upload.value
            // A graceful stop lets the request in flight finish (server.shutdown-grace, 30 s by default, is more
            // than the 16 s this upload needs): committed whole, and answered 201.
            let final = server.root + "/acme/in/slow.bin"
            #expect(outcome.stdout == "201", "\(outcome.stdout) \(outcome.stderr)")
            #expect(try TestFiles.sha256(final) == digest, "a committed file must be complete")
            let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: server.root + "/.ferry/tmp")) ?? []
            #expect(leftovers.isEmpty, "temporary files left: \(leftovers)")
        }
    }

    @Test(
        "SIGTERM lets a slow upload run for server.shutdown-grace, then cuts it at a checkpoint; after a restart the rerun resumes"
    )
    func graceThenCheckpoint() async throws {
        try await TemporaryDirectory.with("ferry-grace") { folder in
            _ = try TestPKI(directory: folder.path + "/pki")
            let port = freeLoopbackPort()
            let config = try ServeProcess.writeConfig(in: folder.path, port: port)
            try
                (String(contentsOfFile: config, encoding: .utf8).replacingOccurrences(
                    of: "server:\n",
                    with: "server:\n  shutdown-grace: 2s\n"
                ))
                .write(toFile: config, atomically: true, encoding: .utf8)
            var server = try await ServeProcess(config: config, directory: folder.path)
            let source = folder.path + "/big.bin"
            let digest = try TestFiles.write(source, size: 24 << 20)
            var environment = ProcessInfo.processInfo.environment
            environment["XDG_STATE_HOME"] = folder.path + "/state"
            let identity = [
                "--cert", folder.path + "/pki/acme.pem", "--key", folder.path + "/pki/acme-key.pem", "--ca",
                folder.path + "/pki/ca.pem",
            ]
            // 24 MiB at 1 MiB/s: still running long after the grace period.
            async let slow = ExternalTool.run(
                try CLITests.ferry,
                ["send", source, "https://localhost:\(port)/in/", "--limit-rate", "1M", "--retries", "0"] + identity,
                environment: environment
            )
            // Cut once the upload's part holds a few MiB (the stop's checkpoint then has something to keep).
            #expect(
                await waitForPart(in: folder.path + "/root/.ferry/uploads", atLeast: 3 << 20),
                "the upload never got going"
            )
            kill(server.process.processIdentifier, SIGTERM)
            let deadline = Date().addingTimeInterval(20)
            while server.process.isRunning, Date() < deadline { try await Task.sleep(for: .milliseconds(100)) }
            #expect(!server.process.isRunning, "the server still waits for the upload 20 s after SIGTERM")
            let cut = try await slow
            #expect(cut.status != 0, "the upload finished although the server stopped: \(cut.output)")
            #expect(!FileManager.default.fileExists(atPath: folder.path + "/root/acme/in/big.bin"))
            server = try await ServeProcess(config: config, directory: folder.path)
            defer { server.process.terminate() }
            let rerun = try await ExternalTool.run(
                try CLITests.ferry,
                ["send", source, "https://localhost:\(port)/in/", "--json"] + identity,
                environment: environment
            )
            #expect(rerun.status == 0, "\(rerun.output)")
            let result = try #require(
                try JSONSerialization.jsonObject(with: Data(rerun.stdout.utf8)) as? [String: Any],
                "\(rerun.stdout)"
            )
            #expect((result["resumedFrom"] as? Int ?? 0) > 0, "the rerun started over: \(rerun.stdout)")
            #expect(result["sha256"] as? String == digest)
        }
    }
}
