import FerryTestSupport
import Foundation
import Testing

/// The acknowledged offset of a resumable upload survives `kill -9` of the server.
@Suite("tus uploads survive a killed server", .serialized)
struct TusCrashTests {
    @Test("SIGKILL in the middle of a PATCH: after a restart the upload continues from a durable offset")
    func killDuringPatch() async throws {
        let curl = try ExternalTool.require("curl", installHint: "apt-get install curl")
        try await TemporaryDirectory.with("ferry-crash") { folder in
            let pki = try TestPKI(directory: folder.path + "/pki")
            let config = try ServeProcess.writeConfig(in: folder.path, port: 0)
            let source = folder.path + "/source.bin"
            let size = 64 << 20
            let digest = try TestFiles.write(source, size: size)
            let identity = [
                "--silent", "--show-error", "--cert", pki.certificate("acme"), "--key", pki.key("acme"), "--cacert",
                pki.caFile, "-H", "Tus-Resumable: 1.0.0",
            ]

            let first = try await ServeProcess(config: config, directory: folder.path)
            let created = try await ExternalTool.run(
                curl,
                identity + [
                    "-D", "-", "-o", "/dev/null", "-X", "POST", "-H", "Upload-Length: \(size)", "-H",
                    "Upload-Metadata: path " + Data("big/source.bin".utf8).base64EncodedString(),
                    "https://localhost:\(first.port)/v1/uploads",
                ]
            )
            let location = try #require(
                created.stdout.lowercased().split(separator: "\r\n").first { $0.hasPrefix("location:") }
            ).dropFirst("location: ".count)
            let patchArguments =
                identity + [
                    "-X", "PATCH", "--limit-rate", "6M", "-H", "Upload-Offset: 0", "-H",
                    "Content-Type: application/offset+octet-stream", "--data-binary", "@" + source,
                    "https://localhost:\(first.port)\(location)",
                ]
            let patch = Task { try await ExternalTool.run(curl, patchArguments, timeout: 60) }
            // Past two 8 MiB checkpoints, well before the end.
            let reached = await waitForPart(
                in: folder.path + "/root/.ferry/uploads",
                atLeast: 24 << 20,
                thenSignal: first.pid
            )
            try await first.kill()
            #expect(reached)
            let cut = try await patch.value
            #expect(cut.status != 0, "the PATCH was cut by the kill")
            #expect(!FileManager.default.fileExists(atPath: folder.path + "/root/acme/big/source.bin"))

            let second = try await ServeProcess(config: config, directory: folder.path)
            let head = try await ExternalTool.run(
                curl,
                identity + ["-I", "https://localhost:\(second.port)\(location)"]
            )
            let offsetLine = try #require(
                head.stdout.lowercased().split(separator: "\r\n").first { $0.hasPrefix("upload-offset:") }
            )
            let offset = try #require(Int(offsetLine.dropFirst("upload-offset: ".count)))
            #expect(offset >= 8 << 20, "at least one checkpoint was acknowledged before the kill (offset \(offset))")
            #expect(offset < size)

            // The rest, from the durable offset.
            let rest = folder.path + "/rest.bin"
            let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: source))
            try handle.seek(toOffset: UInt64(offset))
            try handle.readToEnd()?.write(to: URL(fileURLWithPath: rest))
            try handle.close()
            let finish = try await ExternalTool.run(
                curl,
                identity + [
                    "-o", "/dev/null", "-w", "%{http_code}", "-X", "PATCH", "-H", "Upload-Offset: \(offset)", "-H",
                    "Content-Type: application/offset+octet-stream", "--data-binary", "@" + rest,
                    "https://localhost:\(second.port)\(location)",
                ],
                timeout: 60
            )
            #expect(finish.stdout == "204", "\(finish.output)")
            #expect(
                try TestFiles.sha256(folder.path + "/root/acme/big/source.bin") == digest,
                "the bytes before the kill were kept intact"
            )
            try await second.kill()
        }
    }
}
