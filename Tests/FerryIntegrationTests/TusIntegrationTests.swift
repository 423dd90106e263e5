import FerryConfig
import FerryLedger
import FerryProtocol
import FerryServer
import FerryTestSupport
import Foundation
import Testing

/// Resumable uploads (tus 1.0.0) against a real Ferry server, driven by the Python tus client and curl.
@Suite("tus resumable uploads", .serialized)
struct TusIntegrationTests {
    static let tuspyScript = """
        import os, sys
        from tusclient import client
        url, cert, key, ca, path, target, mode = sys.argv[1:8]
        os.environ["REQUESTS_CA_BUNDLE"] = ca
        tus = client.TusClient(url, client_cert=(cert, key))
        if mode == "whole":
            uploader = tus.uploader(path, chunk_size=1 << 20, metadata={"path": target}, upload_checksum=True)
            uploader.upload()
            print(uploader.url)
        elif mode == "start":
            uploader = tus.uploader(path, chunk_size=1 << 20, metadata={"path": target})
            uploader.upload_chunk()
            uploader.upload_chunk()
            print(uploader.url)
            sys.stdout.flush()
            os._exit(0)  # the client dies here, mid-upload
        else:
            uploader = tus.uploader(path, chunk_size=1 << 20, url=mode)
            print(uploader.offset)
            uploader.upload()
        """

    func tuspy(
        _ server: TestServerHarness,
        _ file: String,
        _ target: String,
        _ mode: String
    ) async throws -> ExternalTool.Outcome? {
        let python = try ExternalTool.require("python3", installHint: "apt-get install python3")
        let check = try await ExternalTool.run(python, ["-c", "import tusclient"])
        if check.status != 0 {
            if ExternalTool.isCI { throw ExternalTool.MissingTool(name: "tuspy", hint: "pip install tuspy") }
            print("note: the Python package tuspy is not installed; skipping (CI installs it: pip install tuspy)")
            return nil
        }
        let script = server.folder.path + "/tus_client.py"
        try Self.tuspyScript.write(toFile: script, atomically: true, encoding: .utf8)
        return try await ExternalTool.run(
            python,
            [
                script, "https://localhost:\(server.port)/v1/uploads", server.pki.certificate("acme"),
                server.pki.key("acme"), server.pki.caFile, file, target, mode,
            ]
        )
    }

    @Test("tuspy uploads a file with per-chunk checksums; the committed file's digest matches")
    func tuspyWhole() async throws {
        try await TestServerHarness.with { server in
            let file = server.folder.path + "/data.bin"
            let digest = try TestFiles.write(file, size: 5 << 20 + 123)
            guard let outcome = try await tuspy(server, file, "tus/data.bin", "whole") else { return }
            #expect(outcome.status == 0, "\(outcome.output)")
            #expect(try TestFiles.sha256(server.root + "/acme/tus/data.bin") == digest)
            let rows = try await server.ledger.recent(limit: 5)
            #expect(rows.first?.operation == .tus)
            #expect(rows.first?.sha256 == digest)
            #expect(rows.first?.tlsVersion == "TLS1.3")
            #expect(try FileManager.default.contentsOfDirectory(atPath: server.root + "/.ferry/uploads").isEmpty)
        }
    }

    @Test("tuspy resumes an upload after its first process died; the final file is never visible early")
    func tuspyResume() async throws {
        try await TestServerHarness.with { server in
            let file = server.folder.path + "/data.bin"
            let digest = try TestFiles.write(file, size: 6 << 20)
            guard let first = try await tuspy(server, file, "tus/resumed.bin", "start") else { return }
            #expect(first.status == 0, "\(first.output)")
            let url = first.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(url.contains("/v1/uploads/"))
            #expect(!FileManager.default.fileExists(atPath: server.root + "/acme/tus/resumed.bin"))
            guard let second = try await tuspy(server, file, "tus/resumed.bin", url) else { return }
            #expect(second.status == 0, "\(second.output)")
            #expect(second.stdout.split(separator: "\n").first == "\(2 << 20)", "resumed from the server's offset")
            #expect(try TestFiles.sha256(server.root + "/acme/tus/resumed.bin") == digest)
        }
    }

    @Test("protocol rules: discovery, content type, offsets, checksums, length, ownership, termination")
    func protocolRules() async throws {
        let curl = try ExternalTool.require("curl", installHint: "apt-get install curl")
        try await TestServerHarness.with { server in
            let base = "https://localhost:\(server.port)/v1/uploads"
            func call(
                _ who: String,
                _ arguments: [String],
                body: String? = nil
            ) async throws -> (status: String, headers: String) {
                var extra = ["-D", "-", "-o", "/dev/null", "-H", "Tus-Resumable: 1.0.0"]
                if let body { extra += ["--data-binary", body] }
                let outcome = try await ExternalTool.run(curl, server.curlIdentity(who) + extra + arguments)
                let status = outcome.stdout.split(separator: " ").dropFirst().first.map(String.init) ?? ""
                return (status, outcome.stdout.lowercased())
            }
            let options = try await call("acme", ["-X", "OPTIONS", base])
            #expect(options.status == "204")
            #expect(options.headers.contains("tus-version: 1.0.0"))
            #expect(
                options.headers.contains("tus-extension: creation,creation-with-upload,termination,checksum,expiration")
            )
            #expect(options.headers.contains("tus-checksum-algorithm: sha1,sha256"))
            #expect(
                options.headers.contains("tus-max-size: \(FerryConfiguration().uploadMaximumSize)\r\n"),
                "\(options.headers)"
            )

            let metadata =
                "path " + Data("t/file.txt".utf8).base64EncodedString() + ",sha256 "
                + Data(TestHashes.sha256Hex(Array("0123456789".utf8)).utf8).base64EncodedString()
            let created = try await call(
                "acme",
                ["-X", "POST", "-H", "Upload-Length: 10", "-H", "Upload-Metadata: \(metadata)", base]
            )
            #expect(created.status == "201")
            let location = try #require(created.headers.split(separator: "\r\n").first { $0.hasPrefix("location:") })
                .dropFirst("location: ".count)
            let upload = "https://localhost:\(server.port)" + location
            // Upload-Expires: an HTTP date a day (uploads.expire-after) from now.
            let expires = try #require(
                created.headers.split(separator: "\r\n").first { $0.hasPrefix("upload-expires: ") }?.dropFirst(
                    "upload-expires: ".count
                )
            )
            let format = DateFormatter()
            format.locale = Locale(identifier: "en_US_POSIX")
            format.timeZone = TimeZone(identifier: "GMT")
            format.dateFormat = "EEE, dd MMM yyyy HH:mm:ss"
            // The headers were lowercased for matching: "mon, 07 dec 2026 03:00:36 gmt".
            #expect(expires.hasSuffix(" gmt"))
            let expiry = try #require(format.date(from: String(expires.dropLast(4)).capitalized), "\(expires)")
            #expect(abs(expiry.timeIntervalSinceNow - FerryConfiguration().uploadExpireAfter) < 120, "\(expires)")

            let octet = ["-H", "Content-Type: application/offset+octet-stream"]
            #expect(
                try await call(
                    "acme",
                    ["-X", "PATCH", "-H", "Upload-Offset: 0", "-H", "Content-Type: text/plain", upload],
                    body: "01234"
                ).status == "415"
            )
            #expect(
                try await call("acme", ["-X", "PATCH", "-H", "Upload-Offset: 3"] + octet + [upload], body: "01234")
                    .status == "409"
            )
            let wrongSum = "sha256 " + Data(repeating: 1, count: 32).base64EncodedString()
            #expect(
                try await call(
                    "acme",
                    ["-X", "PATCH", "-H", "Upload-Offset: 0", "-H", "Upload-Checksum: \(wrongSum)"] + octet + [upload],
                    body: "01234"
                ).status == "460"
            )
            #expect(
                try await call("acme", ["-I", upload]).headers.contains("upload-offset: 0"),
                "a checksum mismatch discards the bytes"
            )
            let rightSum = "sha1 " + Data(TestHashes.sha1(Array("01234".utf8))).base64EncodedString()
            #expect(
                try await call(
                    "acme",
                    ["-X", "PATCH", "-H", "Upload-Offset: 0", "-H", "Upload-Checksum: \(rightSum)"] + octet + [upload],
                    body: "01234"
                ).status == "204"
            )
            #expect(
                try await call(
                    "acme",
                    ["-X", "PATCH", "-H", "Upload-Offset: 5"] + octet + [upload],
                    body: "56789-too-long"
                ).status == "413"
            )
            #expect(try await call("acme", ["-I", upload]).headers.contains("upload-offset: 5"))

            for method in ["HEAD", "PATCH", "DELETE"] {
                let arguments =
                    method == "HEAD" ? ["-I", upload] : ["-X", method, "-H", "Upload-Offset: 5"] + octet + [upload]
                #expect(
                    try await call("bank", arguments, body: method == "PATCH" ? "56789" : nil).status == "404",
                    "\(method) by another partner"
                )
            }
            #expect(
                !FileManager.default.fileExists(atPath: server.root + "/acme/t/file.txt"),
                "not visible before the last byte"
            )
            let done = try await call(
                "acme",
                ["-X", "PATCH", "-H", "Upload-Offset: 5"] + octet + [upload],
                body: "56789"
            )
            #expect(done.status == "204")
            #expect(done.headers.contains("repr-digest: sha-256="))
            #expect(try String(contentsOfFile: server.root + "/acme/t/file.txt", encoding: .utf8) == "0123456789")
            #expect(try await call("acme", ["-I", upload]).status == "404", "a completed upload is gone")

            let mismatch =
                "path " + Data("t/bad.txt".utf8).base64EncodedString() + ",sha256 "
                + Data(String(repeating: "0", count: 64).utf8).base64EncodedString()
            let bad = try await call(
                "acme",
                ["-X", "POST", "-H", "Upload-Length: 3", "-H", "Upload-Metadata: \(mismatch)"] + octet + [base],
                body: "abc"
            )
            #expect(bad.status == "400")
            #expect(!FileManager.default.fileExists(atPath: server.root + "/acme/t/bad.txt"))

            let withUpload = try await call(
                "acme",
                [
                    "-X", "POST", "-H", "Upload-Length: 6", "-H",
                    "Upload-Metadata: path " + Data("t/cwu.txt".utf8).base64EncodedString(),
                ] + octet + [base],
                body: "abc"
            )
            #expect(withUpload.status == "201")
            #expect(withUpload.headers.contains("upload-offset: 3"))
            let second =
                "https://localhost:\(server.port)"
                + (try #require(withUpload.headers.split(separator: "\r\n").first { $0.hasPrefix("location:") })
                    .dropFirst("location: ".count))
            #expect(try await call("acme", ["-X", "DELETE", second]).status == "204")
            #expect(try await call("acme", ["-I", second]).status == "404")

            #expect(
                try await call(
                    "acme",
                    [
                        "-X", "POST", "-H", "Upload-Length: 1", "-H",
                        "Upload-Metadata: path " + Data("../x".utf8).base64EncodedString(), base,
                    ]
                ).status == "400"
            )
            #expect(try await call("acme", ["-X", "POST", "-H", "Upload-Length: 1", base]).status == "400")
            #expect(
                try await call(
                    "acme",
                    [
                        "-X", "POST", "-H", "Upload-Length: 1", "-H", "Tus-Resumable: 0.2.0", "-H",
                        "Upload-Metadata: path eA==", base,
                    ]
                ).status == "412"
            )
            #expect(try FileManager.default.contentsOfDirectory(atPath: server.root + "/.ferry/uploads").isEmpty)
        }
    }

    @Test("asking the offset while a PATCH is writing changes nothing: the upload completes intact")
    func headDuringPatch() async throws {
        let curl = try ExternalTool.require("curl", installHint: "apt-get install curl")
        try await TestServerHarness.with { server in
            let file = server.folder.path + "/paced.bin"
            let size = 20 << 20
            let digest = try TestFiles.write(file, size: size)
            let base = "https://localhost:\(server.port)/v1/uploads"
            let metadata =
                "path " + Data("paced.bin".utf8).base64EncodedString() + ",sha256 "
                + Data(digest.utf8).base64EncodedString()
            let created = try await ExternalTool.run(
                curl,
                server.curlIdentity("acme") + [
                    "-D", "-", "-o", "/dev/null", "-X", "POST", "-H", "Tus-Resumable: 1.0.0", "-H",
                    "Upload-Length: \(size)", "-H", "Upload-Metadata: \(metadata)", base,
                ]
            )
            let location = try #require(
                created.stdout.split(separator: "\r\n").first { $0.lowercased().hasPrefix("location:") }
            ).dropFirst("location: ".count)
            let upload = "https://localhost:\(server.port)" + location
            // A PATCH of the whole file whose body the test holds: 12 MiB go (past the first 8 MiB checkpoint), then
            // the writer waits for the test's go before the rest, however fast or loaded the machine is.
            let go = server.folder.path + "/go"
            let writer =
                "import os,sys,time\nout=sys.stdout.buffer\ndata=open(sys.argv[1],'rb').read()\nout.write(data[:12<<20]); out.flush()\nwhile not os.path.exists(sys.argv[2]): time.sleep(0.02)\nout.write(data[12<<20:]); out.flush()"
            var environment = ProcessInfo.processInfo.environment
            environment["WRITER"] = writer
            environment["FILE"] = file
            environment["GO"] = go
            environment["CURL"] = curl
            let command = "python3 -c \"$WRITER\" \"$FILE\" \"$GO\" | \"$CURL\" \"$@\""
            let patch = Task {
                try await ExternalTool.run(
                    "/bin/bash",
                    ["-c", command, "patch"] + server.curlIdentity("acme") + [
                        "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PATCH", "-H", "Tus-Resumable: 1.0.0",
                        "-H", "Upload-Offset: 0", "-H", "Content-Type: application/offset+octet-stream", "-H",
                        "Content-Length: \(size)", "-T", "-", upload,
                    ],
                    environment: environment
                )
            }
            #expect(
                await waitForPart(in: server.root + "/.ferry/uploads", atLeast: 10 << 20),
                "the PATCH got past its first checkpoint"
            )
            // Offsets asked meanwhile are acknowledged ones, behind what is being written, never ahead.
            var offsets: [Int] = []
            for _ in 0..<3 {
                let head = try await ExternalTool.run(
                    curl,
                    server.curlIdentity("acme") + ["-s", "-I", "-H", "Tus-Resumable: 1.0.0", upload]
                )
                let offset = head.stdout.lowercased().split(separator: "\r\n").first { $0.hasPrefix("upload-offset:") }
                    .flatMap { Int($0.dropFirst("upload-offset: ".count)) }
                // 12 MiB arrived; the acknowledged checkpoint is the first chunk boundary at or past 8 MiB, and it
                // holds still while the PATCH is held.
                #expect(offset.map { $0 >= 8 << 20 && $0 < 12 << 20 } == true, "\(head.stdout)")
                offsets.append(offset ?? -1)
            }
            #expect(Set(offsets).count == 1, "\(offsets)")
            // A second PATCH while the first is writing: 423 upload-busy, and nothing of it is written.
            let second = try await ExternalTool.run(
                curl,
                server.curlIdentity("acme") + [
                    "-s", "-w", "\n%{http_code}", "-X", "PATCH", "-H", "Tus-Resumable: 1.0.0", "-H",
                    "Upload-Offset: \(8 << 20)", "-H", "Content-Type: application/offset+octet-stream", "--data-binary",
                    "intruding bytes", upload,
                ]
            )
            let secondLines = second.stdout.split(separator: "\n", omittingEmptySubsequences: false)
            #expect(secondLines.last == "423", "\(second.output)")
            let busy = try JSONDecoder().decode(
                Problem.self,
                from: Data(secondLines.dropLast().joined(separator: "\n").utf8)
            )
            #expect(busy.slug == ProblemKind.uploadBusy.slug)
            FileManager.default.createFile(atPath: go, contents: nil)
            let outcome = try await patch.value
            #expect(
                outcome.stdout == "204",
                "the declared digest matched: no byte was lost to the HEADs (\(outcome.output))"
            )
            #expect(try TestFiles.sha256(server.root + "/acme/paced.bin") == digest)
        }
    }

    @Test("abandoned uploads expire and the sweep reclaims their space")
    func expiry() async throws {
        let curl = try ExternalTool.require("curl", installHint: "apt-get install curl")
        try await TestServerHarness.with(configure: { configuration, _ in
            configuration.uploadExpireAfter = 1
            configuration.uploadSweepInterval = 0.2
        }) { server in
            let base = "https://localhost:\(server.port)/v1/uploads"
            let outcome = try await ExternalTool.run(
                curl,
                server.curlIdentity("acme") + [
                    "-D", "-", "-o", "/dev/null", "-X", "POST", "-H", "Tus-Resumable: 1.0.0", "-H",
                    "Upload-Length: 100", "-H", "Content-Type: application/offset+octet-stream", "-H",
                    "Upload-Metadata: path " + Data("x.bin".utf8).base64EncodedString(), "--data-binary", "partial",
                    base,
                ]
            )
            #expect(outcome.stdout.contains("201"))
            let folder = server.root + "/.ferry/uploads"
            #expect(try FileManager.default.contentsOfDirectory(atPath: folder).count == 2)
            // The expiry's arithmetic is unit-tested with an injected clock (UploadStoreTests); here the sweep runs for
            // real, with a deadline far beyond the 1 s expiry so that a loaded machine cannot fail it.
            var remaining = 2
            let deadline = ContinuousClock.now + .seconds(30)
            while remaining > 0, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
                remaining = try FileManager.default.contentsOfDirectory(atPath: folder).count
            }
            #expect(remaining == 0, "the sweep removed the part and state files")
        }
    }
}
