import FerryServer
import FerryTestSupport
import Foundation
import Testing

@Suite("Graceful shutdown", .serialized)
struct ShutdownTests {
    @Test("stopping the server during an upload never leaves a partial file under the final name")
    func stopDuringUpload() async throws {
        guard let curl = try ExternalTool.require("curl", installHint: "apt-get install curl") else { return }
        try await TestServerHarness.with { server in
            let source = server.folder.path + "/slow.bin"
            let digest = try TestFiles.write(source, size: 4 << 20)
            let upload = Task {
                try await ExternalTool.run(curl, server.curlIdentity("acme") + ["--http1.1", "--limit-rate", "2M", "-T", source, "-o", "/dev/null", "-w", "%{http_code}", server.url("in/slow.bin")], timeout: 30)
            }
            try await Task.sleep(for: .milliseconds(600))
            #expect(!FileManager.default.fileExists(atPath: server.root + "/acme/in/slow.bin"), "visible before the last byte")
            try await server.running.stop()
            let outcome = try await upload.value
            let final = server.root + "/acme/in/slow.bin"
            if FileManager.default.fileExists(atPath: final) {
                #expect(try TestFiles.sha256(final) == digest, "a committed file must be complete")
                #expect(outcome.stdout == "201")
            } else {
                #expect(outcome.stdout != "201")
            }
            let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: server.root + "/.ferry/tmp")) ?? []
            #expect(leftovers.isEmpty, "temporary files left: \(leftovers)")
        }
    }
}
