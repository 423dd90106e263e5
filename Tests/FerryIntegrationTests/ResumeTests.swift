import FerryTestSupport
import Foundation
import Testing

/// Checkpoint/restart from the user's side: `ferry send` continues uploads after a killed server or a killed
/// client, sending only what is missing.
@Suite("ferry send resumes interrupted uploads", .serialized)
struct ResumeTests {
    @Test("server killed (SIGKILL) in the middle of a 256 MiB upload: the rerun completes, sending under 60%")
    func serverKilled() async throws {
        try await TemporaryDirectory.with("ferry-resume") { folder in
            let pki = try TestPKI(directory: folder.path + "/pki")
            let port = freeLoopbackPort()
            let config = try ServeProcess.writeConfig(in: folder.path, port: port)
            let size = 256 << 20
            let source = folder.path + "/big.bin"
            let digest = try TestFiles.write(source, size: size)
            let state = folder.path + "/state"
            // Limited to 32 MiB/s so that the kill lands mid-upload even on a busy machine.
            let command = [
                "send", source, "https://localhost:\(port)/in/", "--json", "--retries", "0", "--limit-rate", "32M",
                "--cert", pki.certificate("acme"), "--key", pki.key("acme"), "--ca", pki.caFile,
            ]

            let server = try await ServeProcess(config: config, directory: folder.path)
            let firstRun = Task { try await ferry(command, state: state) }
            let reached = await waitForPart(
                in: folder.path + "/root/.ferry/uploads",
                atLeast: 136 << 20,
                thenSignal: server.pid
            )
            try await server.kill()
            let first = try await firstRun.value
            #expect(reached, "the upload reached the kill point")
            #expect(first.status == 5, "the interrupted run ends with the network exit code: \(first.output)")
            #expect(
                !FileManager.default.fileExists(atPath: folder.path + "/root/acme/in/big.bin"),
                "no partial file under the final name"
            )

            let restarted = try await ServeProcess(config: config, directory: folder.path)
            let second = try await ferry(command, state: state)
            #expect(second.status == 0, "\(second.output)")
            let result = try JSONSerialization.jsonObject(with: Data(second.stdout.utf8)) as? [String: Any]
            let resumedFrom = result?["resumedFrom"] as? Int ?? 0
            let sentThisRun = result?["sentThisRun"] as? Int ?? size
            #expect(result?["method"] as? String == "tus")
            #expect(resumedFrom >= 128 << 20, "resumed from the durable offset, got \(resumedFrom)")
            #expect(Double(sentThisRun) < 0.6 * Double(size), "the second run sent \(sentThisRun) bytes")
            #expect(result?["sha256"] as? String == digest)
            #expect(try TestFiles.sha256(folder.path + "/root/acme/in/big.bin") == digest)
            #expect(second.stderr.contains("resuming"))
            try await restarted.kill()
        }
    }

    @Test("client killed mid-upload: rerunning the same command resumes; a changed file starts over")
    func clientKilled() async throws {
        try await TestServerHarness.with { server in
            let size = 128 << 20
            let source = server.folder.path + "/big.bin"
            let digest = try TestFiles.write(source, size: size)
            let state = server.folder.path + "/state"
            let command = [
                "send", source, "https://localhost:\(server.port)/in/", "--json", "--mode", "tus", "--limit-rate",
                "32M",
                "--cert", server.pki.certificate("acme"), "--key", server.pki.key("acme"), "--ca", server.pki.caFile,
            ]
            let reached = try await ferryKilledMidUpload(
                command,
                state: state,
                uploads: server.root + "/.ferry/uploads",
                atLeast: 72 << 20
            )
            #expect(reached)
            #expect(!FileManager.default.fileExists(atPath: server.root + "/acme/in/big.bin"))

            let rerun = try await ferry(command, state: state)
            #expect(rerun.status == 0, "\(rerun.output)")
            let result = try JSONSerialization.jsonObject(with: Data(rerun.stdout.utf8)) as? [String: Any]
            #expect((result?["resumedFrom"] as? Int ?? 0) >= 64 << 20)
            #expect((result?["sentThisRun"] as? Int ?? size) <= size - (64 << 20))
            #expect(try TestFiles.sha256(server.root + "/acme/in/big.bin") == digest)

            // An upload interrupted part-way, of a file that then changes, is not resumed: the rerun says so and
            // sends the new content from the start.
            let changing = server.folder.path + "/changing.bin"
            try TestFiles.write(changing, size: 24 << 20, seed: 1)
            let changingCommand = [
                "send", changing, "https://localhost:\(server.port)/in/", "--json", "--mode", "tus",
                "--cert", server.pki.certificate("acme"), "--key", server.pki.key("acme"), "--ca", server.pki.caFile,
            ]
            let started = try await ferryKilledMidUpload(
                changingCommand + ["--limit-rate", "4M"],
                state: state,
                uploads: server.root + "/.ferry/uploads",
                atLeast: 8 << 20
            )
            #expect(started, "the slowed upload never reached 8 MiB")
            #expect(
                try !FileManager.default.contentsOfDirectory(atPath: state + "/ferry/uploads").isEmpty,
                "the interrupted upload is remembered"
            )
            let changedDigest = try TestFiles.write(changing, size: 24 << 20, seed: 2)
            let sent = try await ferry(changingCommand, state: state)
            #expect(sent.status == 0, "\(sent.output)")
            #expect(sent.stderr.contains("changed since its interrupted upload; starting over"), "\(sent.stderr)")
            let restarted = try JSONSerialization.jsonObject(with: Data(sent.stdout.utf8)) as? [String: Any]
            #expect(
                restarted?["resumedFrom"] as? Int == 0 && restarted?["sentThisRun"] as? Int == 24 << 20,
                "\(sent.stdout)"
            )
            #expect(try TestFiles.sha256(server.root + "/acme/in/changing.bin") == changedDigest)
            #expect(
                try FileManager.default.contentsOfDirectory(atPath: state + "/ferry/uploads").isEmpty,
                "finished uploads leave no state"
            )
        }
    }
}
