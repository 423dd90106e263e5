import FerryProtocol
import FerryTestSupport
import Foundation
import Testing

/// Symbolic links in an area are never followed, whenever they appear: before a request, or swapped in for a
/// folder while an upload runs (as a script with write access to a partner's folder could do).
@Suite("Symbolic links in areas")
struct LinkSwapTests {
    @Test(
        "a folder swapped for a link to outside while a PUT and a tus upload run: both commits are refused, nothing is written outside"
    )
    func swapDuringUploads() async throws {
        let curl = try ExternalTool.require("curl", installHint: "apt-get install curl")
        try await TestServerHarness.with { server in
            let outside = server.folder.path + "/outside"
            try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
            let area = server.root + "/acme"
            try FileManager.default.createDirectory(atPath: area + "/drop", withIntermediateDirectories: true)

            // A PUT into drop/ whose body comes from a writer the test holds: once 8 MiB have gone through (so the
            // server is writing the body), drop becomes a link to outside, then the body ends.
            let sent = server.folder.path + "/sent"
            let go = server.folder.path + "/go"
            let writer =
                "import os,sys,time\nout=sys.stdout.buffer\nout.write(b'a'*(8<<20)); out.flush()\nopen(sys.argv[1],'w').close()\nwhile not os.path.exists(sys.argv[2]): time.sleep(0.05)\nout.write(b'b'*(1<<20)); out.flush()"
            let command = "python3 -c \"$WRITER\" \"$SENT\" \"$GO\" | \"$CURL\" \"$@\""
            var environment = ProcessInfo.processInfo.environment
            environment["WRITER"] = writer
            environment["SENT"] = sent
            environment["GO"] = go
            environment["CURL"] = curl
            let put = Task {
                try await ExternalTool.run(
                    "/bin/bash",
                    ["-c", command, "put"] + server.curlIdentity("acme") + [
                        "-o", "/dev/null", "-w", "%{http_code}", "-T", "-", server.url("drop/put.bin"),
                    ],
                    environment: environment
                )
            }
            #expect(try await Self.waitForFile(server.folder.path, named: "sent"), "8 MiB of the body went through")
            try Self.swapForLink(area + "/drop", to: outside)
            FileManager.default.createFile(atPath: go, contents: nil)
            let putOutcome = try await put.value
            #expect(putOutcome.stdout == "403", "\(putOutcome.output)")

            // A tus upload created into drop2/, half sent; drop2 becomes a link; the rest is sent.
            try FileManager.default.createDirectory(atPath: area + "/drop2", withIntermediateDirectories: true)
            let half = server.folder.path + "/half.bin"
            try Data(repeating: 0x61, count: 1000).write(to: URL(fileURLWithPath: half))
            let base = "https://localhost:\(server.port)/v1/uploads"
            let created = try await ExternalTool.run(
                curl,
                server.curlIdentity("acme") + [
                    "-D", "-", "-o", "/dev/null", "-X", "POST", "-H", "Tus-Resumable: 1.0.0", "-H",
                    "Upload-Length: 2000",
                    "-H", "Upload-Metadata: path " + Data("drop2/tus.bin".utf8).base64EncodedString(), base,
                ]
            )
            let location = try #require(
                created.stdout.split(separator: "\r\n").first { $0.lowercased().hasPrefix("location:") }
            ).dropFirst("location: ".count)
            let upload = "https://localhost:\(server.port)" + location
            func patch(offset: Int) async throws -> String {
                try await ExternalTool.run(
                    curl,
                    server.curlIdentity("acme") + [
                        "-o", "/dev/null", "-w", "%{http_code}", "-X", "PATCH", "-H", "Tus-Resumable: 1.0.0", "-H",
                        "Upload-Offset: \(offset)",
                        "-H", "Content-Type: application/offset+octet-stream", "--data-binary", "@" + half, upload,
                    ]
                ).stdout
            }
            #expect(try await patch(offset: 0) == "204")
            try Self.swapForLink(area + "/drop2", to: outside)
            #expect(try await patch(offset: 1000) == "403")

            #expect(
                try FileManager.default.contentsOfDirectory(atPath: outside).isEmpty,
                "nothing was written through the links"
            )
            #expect(
                !FileManager.default.fileExists(atPath: area + "/drop.old/put.bin")
                    && !FileManager.default.fileExists(atPath: area + "/drop2.old/tus.bin")
            )
        }
    }

    @Test(
        "links planted in an area are not followed for GET, HEAD, DELETE, listings or batch entries, even when they point inside it; a FIFO does not hang a GET"
    )
    func plantedLinks() async throws {
        let curl = try ExternalTool.require("curl", installHint: "apt-get install curl")
        try await TestServerHarness.with { server in
            let area = server.root + "/acme"
            let outside = server.folder.path + "/outside"
            try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: area + "/real", withIntermediateDirectories: true)
            try "kept".write(toFile: outside + "/secret.txt", atomically: true, encoding: .utf8)
            try "inside".write(toFile: area + "/real/inner.txt", atomically: true, encoding: .utf8)
            try FileManager.default.createSymbolicLink(atPath: area + "/out", withDestinationPath: outside)
            try FileManager.default.createSymbolicLink(
                atPath: area + "/secret.txt",
                withDestinationPath: outside + "/secret.txt"
            )
            try FileManager.default.createSymbolicLink(atPath: area + "/alias", withDestinationPath: area + "/real")
            try FileManager.default.createSymbolicLink(
                atPath: area + "/alias.txt",
                withDestinationPath: "real/inner.txt"
            )
            #expect(mkfifo(area + "/pipe", 0o600) == 0)

            func status(_ arguments: [String]) async throws -> String {
                try await ExternalTool.run(
                    curl,
                    server.curlIdentity("acme") + ["-o", "/dev/null", "-w", "%{http_code}", "--max-time", "90"]
                        + arguments
                ).stdout
            }
            for path in ["out/secret.txt", "secret.txt", "alias/inner.txt", "alias.txt"] {
                for (method, options) in [("GET", [String]()), ("HEAD", ["-I"]), ("DELETE", ["-X", "DELETE"])] {
                    let answer = try await status(options + [server.url(path)])
                    #expect(answer == "403", "\(method) \(path): \(answer)")
                }
            }
            #expect(try await status([server.url("out/")]) == "403", "listing through a link")
            #expect(try await status([server.url("pipe")]) == "404", "a FIFO is not a file and is not opened for long")
            #expect(try await status([server.url("real/inner.txt")]) == "200")

            // The listing names the links as links, and says nothing of what they point at.
            let listing = try await ExternalTool.run(curl, server.curlIdentity("acme") + [server.url("")])
            let page = try JSONDecoder().decode(Listing.self, from: Data(listing.stdout.utf8))
            let secret = try #require(page.entries.first { $0.name == "secret.txt" })
            #expect(secret.type == "link" && secret.size == nil, "\(secret)")

            // A batch entry through a link is refused; the one beside it is stored.
            let batch = server.folder.path + "/batch.bin"
            var body = Data()
            for (path, content) in [("out/planted.txt", "x"), ("real/ok.txt", "y")] {
                let header = try JSONEncoder().encode(
                    Batch.Header(
                        path: path,
                        size: Int64(content.utf8.count),
                        sha256: TestHashes.sha256Hex(Array(content.utf8))
                    )
                )
                body += header + Data("\n".utf8) + Data(content.utf8)
            }
            try body.write(to: URL(fileURLWithPath: batch))
            let posted = try await ExternalTool.run(
                curl,
                server.curlIdentity("acme") + [
                    "-H", "Content-Type: \(Batch.mediaType)", "--data-binary", "@" + batch, server.url(""),
                ]
            )
            #expect(posted.stdout.contains("path-outside-area"), "\(posted.output)")
            #expect(FileManager.default.fileExists(atPath: area + "/real/ok.txt"))
            #expect(
                try FileManager.default.contentsOfDirectory(atPath: outside) == ["secret.txt"],
                "nothing planted, nothing deleted outside"
            )
            #expect(
                FileManager.default.fileExists(atPath: area + "/real/inner.txt"),
                "DELETE through a link removed nothing"
            )
        }
    }

    /// Waits until `folder/name` exists (generous: the machine may be loaded).
    static func waitForFile(_ folder: String, named name: String) async throws -> Bool {
        for _ in 0..<1200 {
            if FileManager.default.fileExists(atPath: folder + "/" + name) { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    /// Moves `folder` aside and puts a link to `destination` in its place.
    static func swapForLink(_ folder: String, to destination: String) throws {
        try FileManager.default.moveItem(atPath: folder, toPath: folder + ".old")
        try FileManager.default.createSymbolicLink(atPath: folder, withDestinationPath: destination)
    }
}
