import FerryTestSupport
import Foundation
import Testing

/// curl (OpenSSL) as a third-party HTTPS client of a real Ferry server.
@Suite("curl against a Ferry server", .serialized)
struct CurlIntegrationTests {
    static let hint = "apt-get install curl"

    @Test("curl uploads and downloads with a client certificate, over HTTP/1.1 and HTTP/2")
    func putAndGet() async throws {
        let curl = try ExternalTool.require("curl", installHint: Self.hint)
        try await TestServerHarness.with { server in
            let source = server.folder.path + "/data.bin"
            let digest = try TestFiles.write(source, size: 3 << 20)
            let put = try await ExternalTool.run(
                curl,
                server.curlIdentity("acme") + ["-T", source, "-D", "-", "-o", "/dev/null", server.url("in/data.bin")]
            )
            #expect(put.status == 0, "\(put.output)")
            #expect(put.stdout.hasPrefix("HTTP/2 201"), "\(put.stdout)")
            let expectedHeader = "sha-256=:" + Data(hexDigits: digest).base64EncodedString() + ":"
            #expect(put.stdout.lowercased().contains("repr-digest: \(expectedHeader.lowercased())"))
            #expect(try TestFiles.sha256(server.root + "/acme/in/data.bin") == digest)

            let again = try await ExternalTool.run(
                curl,
                server.curlIdentity("acme") + [
                    "--http1.1", "-T", source, "-o", "/dev/null", "-w", "%{http_code} %{http_version}",
                    server.url("in/data.bin"),
                ]
            )
            #expect(again.stdout == "204 1.1")

            let fetched = server.folder.path + "/fetched.bin"
            let get = try await ExternalTool.run(
                curl,
                server.curlIdentity("acme") + [
                    "--http1.1", "-o", fetched, "-w", "%{http_code}", server.url("in/data.bin"),
                ]
            )
            #expect(get.stdout == "200")
            #expect(try TestFiles.sha256(fetched) == digest)

            let head = try await ExternalTool.run(
                curl,
                server.curlIdentity("acme") + ["-I", server.url("in/data.bin")]
            )
            #expect(head.stdout.contains("content-length: \(3 << 20)"))
            #expect(head.stdout.lowercased().contains("repr-digest: \(expectedHeader.lowercased())"))
            #expect(head.stdout.contains("etag: \""))
            #expect(head.stdout.contains("accept-ranges: bytes"))
        }
    }

    @Test("ranges: first bytes, suffix, open-ended, If-Range, and 416 with Content-Range")
    func ranges() async throws {
        let curl = try ExternalTool.require("curl", installHint: Self.hint)
        try await TestServerHarness.with { server in
            let source = server.folder.path + "/data.txt"
            try String(repeating: "0123456789", count: 100).write(toFile: source, atomically: true, encoding: .utf8)
            _ = try await ExternalTool.run(
                curl,
                server.curlIdentity("acme") + ["-T", source, "-o", "/dev/null", server.url("r.txt")]
            )
            func fetch(_ extra: [String]) async throws -> ExternalTool.Outcome {
                try await ExternalTool.run(
                    curl,
                    server.curlIdentity("acme") + ["--http1.1", "-D", server.folder.path + "/headers"] + extra + [
                        server.url("r.txt")
                    ]
                )
            }
            func headers() throws -> String {
                try String(contentsOfFile: server.folder.path + "/headers", encoding: .utf8).lowercased()
            }

            let first = try await fetch(["-r", "0-9"])
            #expect(first.stdout == "0123456789")
            #expect(try headers().contains("206 partial content"))
            #expect(try headers().contains("content-range: bytes 0-9/1000"))

            let suffix = try await fetch(["-H", "Range: bytes=-5"])
            #expect(suffix.stdout == "56789")
            #expect(try headers().contains("content-range: bytes 995-999/1000"))

            let open = try await fetch(["-H", "Range: bytes=990-"])
            #expect(open.stdout == "0123456789")

            let beyond = try await fetch(["-H", "Range: bytes=1000-"])
            #expect(try headers().contains("416"))
            #expect(try headers().contains("content-range: bytes */1000"))
            #expect(beyond.stdout.contains("range-not-satisfiable"))

            let stale = try await fetch(["-H", "Range: bytes=0-4", "-H", "If-Range: \"not-the-etag\""])
            #expect(stale.stdout.count == 1000)
            #expect(try headers().contains("200 ok"))

            let etag = try headers().split(separator: "\r\n").first { $0.hasPrefix("etag:") }.map {
                String($0.dropFirst(5)).trimmingCharacters(in: .whitespaces)
            }
            let current = try await fetch(["-H", "Range: bytes=0-4", "-H", "If-Range: \(try #require(etag))"])
            #expect(current.stdout == "01234")
        }
    }

    @Test("a declared digest that does not match commits nothing and leaves no temporary file")
    func digestMismatch() async throws {
        let curl = try ExternalTool.require("curl", installHint: Self.hint)
        try await TestServerHarness.with { server in
            let source = server.folder.path + "/data.bin"
            let digest = try TestFiles.write(source, size: 1 << 20)
            let wrong = "sha-256=:" + Data(repeating: 7, count: 32).base64EncodedString() + ":"
            let bad = try await ExternalTool.run(
                curl,
                server.curlIdentity("acme") + [
                    "-T", source, "-H", "Repr-Digest: \(wrong)", "-w", "\n%{http_code}", server.url("in/data.bin"),
                ]
            )
            #expect(bad.stdout.hasSuffix("\n400"))
            #expect(bad.stdout.contains("digest-mismatch"))
            #expect(!FileManager.default.fileExists(atPath: server.root + "/acme/in/data.bin"))
            let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: server.root + "/.ferry/tmp")) ?? []
            #expect(leftovers.isEmpty)

            let right = "sha-256=:" + Data(hexDigits: digest).base64EncodedString() + ":"
            let good = try await ExternalTool.run(
                curl,
                server.curlIdentity("acme") + [
                    "-T", source, "-H", "Repr-Digest: \(right)", "-o", "/dev/null", "-w", "%{http_code}",
                    server.url("in/data.bin"),
                ]
            )
            #expect(good.stdout == "201")
            let noOverwrite = try await ExternalTool.run(
                curl,
                server.curlIdentity("acme") + [
                    "-T", source, "-H", "If-None-Match: *", "-o", "/dev/null", "-w", "%{http_code}",
                    server.url("in/data.bin"),
                ]
            )
            #expect(noOverwrite.stdout == "412")
            let malformed = try await ExternalTool.run(
                curl,
                server.curlIdentity("acme") + [
                    "-T", source, "-H", "Repr-Digest: sha-256=nonsense", "-w", "%{http_code}",
                    server.url("in/other.bin"),
                ]
            )
            #expect(malformed.stdout.hasSuffix("400"))
            #expect(!FileManager.default.fileExists(atPath: server.root + "/acme/in/other.bin"))
        }
    }

    @Test("bad requests get problem+json and the server keeps serving")
    func problems() async throws {
        let curl = try ExternalTool.require("curl", installHint: Self.hint)
        try await TestServerHarness.with { server in
            let cases: [(String, [String], String)] = [
                ("missing.txt", [], "404"),
                ("in/", ["-X", "PUT", "--data-binary", "x"], "400"),
                ("x", ["-X", "PATCH", "--data-binary", "x"], "405"),
                ("x", ["-X", "POST", "--data-binary", "x"], "415"),
                ("a%00b", [], "400"),
                ("a%5cb", [], "400"),
            ]
            for (path, extra, status) in cases {
                let outcome = try await ExternalTool.run(
                    curl,
                    server.curlIdentity("acme") + ["--path-as-is", "-D", "-"] + extra + [
                        "-w", "\n%{http_code}", server.url(path),
                    ]
                )
                #expect(outcome.stdout.hasSuffix("\n" + status), "\(path): \(outcome.stdout)")
                #expect(outcome.stdout.lowercased().contains("content-type: application/problem+json"), "\(path)")
                #expect(outcome.stdout.contains("\"type\""))
            }
            // HEAD errors carry no body, over HTTP/2 too (a body there would break the stream).
            let head = try await ExternalTool.run(
                curl,
                server.curlIdentity("acme") + ["-I", server.url("missing.txt")]
            )
            #expect(head.status == 0, "\(head.output)")
            #expect(head.stdout.hasPrefix("HTTP/2 404"))
            let health = try await ExternalTool.run(
                curl,
                server.curlIdentity("acme") + ["https://localhost:\(server.port)/v1/health"]
            )
            #expect(health.stdout.contains("\"ok\""))
            let anonymous = try await ExternalTool.run(
                curl,
                ["--silent", "--cacert", server.pki.caFile, server.url("")]
            )
            #expect(anonymous.status != 0, "a client without a certificate must not get through")
        }
    }
}

extension Data {
    init(hexDigits: String) {
        var bytes: [UInt8] = []
        var index = hexDigits.startIndex
        while index < hexDigits.endIndex {
            let next = hexDigits.index(index, offsetBy: 2)
            bytes.append(UInt8(hexDigits[index..<next], radix: 16)!)
            index = next
        }
        self.init(bytes)
    }
}
