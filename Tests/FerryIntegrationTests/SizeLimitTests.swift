import FerryConfig
import FerryTestSupport
import Foundation
import Testing

/// `uploads.max-size` holds for every way a file arrives, and a refused file leaves nothing behind.
@Suite("Upload size limit")
struct SizeLimitTests {
    @Test(
        "a PUT with Content-Length, a chunked PUT and a tus creation over the limit get 413; nothing is stored, no temporary file stays"
    )
    func everyWay() async throws {
        let curl = try ExternalTool.require("curl", installHint: "apt-get install curl")
        try await TestServerHarness.with(configure: { configuration, _ in
            configuration.uploadMaximumSize = 1 << 20
        }) { server in
            let big = server.folder.path + "/big.bin"
            try TestFiles.write(big, size: 3 << 20)
            let small = server.folder.path + "/small.bin"
            try TestFiles.write(small, size: 1 << 20)
            let status = ["-o", "/dev/null", "-w", "%{http_code}"]
            let sized = try await ExternalTool.run(
                curl,
                server.curlIdentity("acme") + status + ["-T", big, server.url("sized.bin")]
            )
            #expect(sized.stdout == "413", "\(sized.output)")
            let chunked = try await ExternalTool.run(
                curl,
                server.curlIdentity("acme") + status + [
                    "-H", "Transfer-Encoding: chunked", "-T", big, server.url("chunked.bin"),
                ]
            )
            #expect(chunked.stdout == "413", "\(chunked.output)")
            let tus = try await ExternalTool.run(
                curl,
                server.curlIdentity("acme") + status + [
                    "-X", "POST", "-H", "Tus-Resumable: 1.0.0", "-H", "Upload-Length: \(3 << 20)",
                    "-H", "Upload-Metadata: path \(Data("tus.bin".utf8).base64EncodedString())",
                    "https://localhost:\(server.port)/v1/uploads",
                ]
            )
            #expect(tus.stdout == "413", "\(tus.output)")
            let exact = try await ExternalTool.run(
                curl,
                server.curlIdentity("acme") + status + [
                    "-H", "Transfer-Encoding: chunked", "-T", small, server.url("exact.bin"),
                ]
            )
            #expect(exact.stdout == "201", "a file of exactly the limit is accepted: \(exact.output)")
            let stored = try FileManager.default.contentsOfDirectory(atPath: server.root + "/acme")
            #expect(stored == ["exact.bin"], "\(stored)")
            let temporary = (try? FileManager.default.contentsOfDirectory(atPath: server.root + "/.ferry/tmp")) ?? []
            #expect(temporary.isEmpty, "\(temporary)")
        }
    }

    @Test(
        "Expect: 100-continue: 100 for an upload that may go on; the final refusal (403, 413) at once for one that may not, and its body is never sent"
    )
    func expectContinue() async throws {
        let curl = try ExternalTool.require("curl", installHint: "apt-get install curl")
        try await TestServerHarness.with(configure: { configuration, _ in
            configuration.uploadMaximumSize = 8 << 20
            configuration.accessRules = [
                .init(name: "ro", partners: ["*"], area: "shared/ro", mount: "ro", rights: [.read])
            ]
        }) { server in
            let file = server.folder.path + "/four.bin"
            try TestFiles.write(file, size: 4 << 20)
            let big = server.folder.path + "/twelve.bin"
            try TestFiles.write(big, size: 12 << 20)
            // curl sends Expect: 100-continue itself for HTTP/1.1 uploads over 1 MiB; -w shows how much body it sent.
            // It waits 1 s for an answer before sending the body anyway: longer here, as a loaded machine may take
            // that long to answer at all.
            let base =
                server.curlIdentity("acme") + [
                    "--http1.1", "--expect100-timeout", "20", "-v", "-o", "/dev/null", "-w",
                    "%{http_code} %{size_upload}",
                ]
            let allowed = try await ExternalTool.run(curl, base + ["-T", file, server.url("in/four.bin")])
            #expect(allowed.stdout == "201 \(4 << 20)", "\(allowed.stdout)")
            #expect(allowed.stderr.contains("HTTP/1.1 100 Continue"), "no 100 Continue: \(allowed.stderr)")
            for (label, source, url, status) in [
                ("read-only", file, server.url("ro/x.bin"), "403"),
                ("too large", big, server.url("in/twelve.bin"), "413"),
            ] {
                let refused = try await ExternalTool.run(curl, base + ["-T", source, url])
                let parts = refused.stdout.split(separator: " ")
                #expect(parts.first.map(String.init) == status, "\(label): \(refused.stdout)")
                #expect(
                    (parts.last.flatMap { Int($0) } ?? Int.max) < 1 << 20,
                    "\(label): the body was sent although the upload was refused: \(refused.stdout)"
                )
                #expect(!refused.stderr.contains("100 Continue"), "\(label)")
            }
        }
    }
}
