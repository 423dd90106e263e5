import FerryConfig
import FerryTestSupport
import Foundation
import Testing

/// `uploads.max-size` holds for every way a file arrives, and a refused file leaves nothing behind.
@Suite("Upload size limit")
struct SizeLimitTests {
    @Test("a PUT with Content-Length, a chunked PUT and a tus creation over the limit get 413; nothing is stored, no temporary file stays")
    func everyWay() async throws {
        guard let curl = try ExternalTool.require("curl", installHint: "apt-get install curl") else { return }
        try await TestServerHarness.with(configure: { configuration, _ in
            configuration.uploadMaximumSize = 1 << 20
        }) { server in
            let big = server.folder.path + "/big.bin"
            try TestFiles.write(big, size: 3 << 20)
            let small = server.folder.path + "/small.bin"
            try TestFiles.write(small, size: 1 << 20)
            let status = ["-o", "/dev/null", "-w", "%{http_code}"]
            let sized = try await ExternalTool.run(curl, server.curlIdentity("acme") + status + ["-T", big, server.url("sized.bin")])
            #expect(sized.stdout == "413", "\(sized.output)")
            let chunked = try await ExternalTool.run(curl, server.curlIdentity("acme") + status + ["-H", "Transfer-Encoding: chunked", "-T", big, server.url("chunked.bin")])
            #expect(chunked.stdout == "413", "\(chunked.output)")
            let tus = try await ExternalTool.run(
                curl, server.curlIdentity("acme") + status + ["-X", "POST", "-H", "Tus-Resumable: 1.0.0", "-H", "Upload-Length: \(3 << 20)",
                    "-H", "Upload-Metadata: path \(Data("tus.bin".utf8).base64EncodedString())", "https://localhost:\(server.port)/v1/uploads"])
            #expect(tus.stdout == "413", "\(tus.output)")
            let exact = try await ExternalTool.run(curl, server.curlIdentity("acme") + status + ["-H", "Transfer-Encoding: chunked", "-T", small, server.url("exact.bin")])
            #expect(exact.stdout == "201", "a file of exactly the limit is accepted: \(exact.output)")
            let stored = try FileManager.default.contentsOfDirectory(atPath: server.root + "/acme")
            #expect(stored == ["exact.bin"], "\(stored)")
            let temporary = (try? FileManager.default.contentsOfDirectory(atPath: server.root + "/.ferry/tmp")) ?? []
            #expect(temporary.isEmpty, "\(temporary)")
        }
    }
}
