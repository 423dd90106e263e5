import AsyncHTTPClient
import Crypto
import FerryObjectStore
import FerryTestSupport
import Foundation
import NIOCore
import Testing

/// Ferry's S3 client against real S3-compatible servers: SeaweedFS, which checks signatures, and moto's server.
@Suite("S3 client against real servers")
struct ObjectStoreTests {
    static func bytes(_ count: Int) -> [UInt8] {
        TestFiles.bytes(count, seed: UInt64.random(in: 0...UInt64.max))
    }

    /// The object's bytes (or a range of them), nil when there is none.
    static func read(_ store: S3Client, _ key: String, range: ClosedRange<Int64>? = nil) async throws -> [UInt8]? {
        var collected: [UInt8] = []
        let found = try await store.read(key, range: range) { collected += $0.readableBytesView }
        return found ? collected : nil
    }

    @Test(
        "objects with awkward keys: put, head, whole and ranged get, paged listing, delete",
        arguments: S3TestServer.Kind.allCases
    )
    func objects(kind: S3TestServer.Kind) async throws {
        let store = try await S3TestServer.shared(kind).freshBucket()
        try await store.createBucket()  // again: not an error for its owner
        let keys = ["acme/in/a b+c$d.txt", "acme/in/é€ü.dat", "acme/in/plain", "acme/in/x=1&y=2", "acme/out/other"]
        var contents: [String: [UInt8]] = [:]
        for key in keys {
            let data = Self.bytes(Int.random(in: 20...3000))
            contents[key] = data
            try await store.put(key, body: ByteBuffer(bytes: data))
        }
        for key in keys {
            let info = try #require(try await store.head(key), "\(kind): head \(key)")
            #expect(info.size == Int64(contents[key]!.count), "\(kind): \(key)")
            #expect(try await Self.read(store, key) == contents[key]!, "\(kind): \(key)")
            #expect(
                try await Self.read(store, key, range: 5...14) == Array(contents[key]![5...14]),
                "\(kind): range of \(key)"
            )
        }
        // Pages of two, in key order, only under the prefix.
        var listed: [String] = []
        var next: String?
        var pages = 0
        repeat {
            let page = try await store.list(prefix: "acme/in/", continuation: next, maximum: 2)
            #expect(page.objects.count <= 2)
            listed += page.objects.map(\.key)
            next = page.next
            pages += 1
        } while next != nil && pages < 10
        #expect(
            listed
                == keys.filter { $0.hasPrefix("acme/in/") }.sorted {
                    Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8))
                }
        )
        #expect(pages >= 2, "\(kind): the listing was paged")
        // A folder's view: keys below a deeper "/" rolled up into folders; a page after a name.
        let view = try await store.list(prefix: "acme/", delimiter: "/")
        #expect(view.objects.isEmpty && view.folders == ["acme/in/", "acme/out/"], "\(kind): \(view.folders)")
        let after = try await store.list(prefix: "acme/in/", delimiter: "/", startAfter: "acme/in/plain")
        #expect(
            after.objects.map(\.key) == ["acme/in/x=1&y=2", "acme/in/é€ü.dat"],
            "\(kind): \(after.objects.map(\.key))"
        )
        try await store.delete("acme/in/plain")
        #expect(try await store.head("acme/in/plain") == nil)
        #expect(try await Self.read(store, "acme/in/plain") == nil)
        try await store.delete("acme/in/plain")  // again: not an error
    }

    @Test(
        "multipart uploads: parts listed, the object appears whole only on completion, aborted and bad ones leave nothing",
        arguments: S3TestServer.Kind.allCases
    )
    func multipart(kind: S3TestServer.Kind) async throws {
        let store = try await S3TestServer.shared(kind).freshBucket()
        let key = "acme/big file.bin"
        let pieces = [Self.bytes(5 << 20), Self.bytes(5 << 20), Self.bytes(1234)]
        let id = try await store.createMultipartUpload(key)
        var parts: [S3Client.Part] = []
        for (index, piece) in pieces.enumerated() {
            parts.append(
                try await store.uploadPart(key, uploadID: id, number: index + 1, body: ByteBuffer(bytes: piece))
            )
        }
        let held = try await store.listParts(key, uploadID: id)
        #expect(held.map(\.number) == [1, 2, 3] && held.map(\.size) == pieces.map { Int64($0.count) }, "\(kind)")
        #expect(try await store.openUploads(prefix: "acme/").contains { $0.uploadID == id }, "\(kind)")
        #expect(try await store.head(key) == nil, "\(kind): no object before completion")
        // Parts named from the listing, as a node taking the upload over would.
        try await store.completeMultipartUpload(key, uploadID: id, parts: held)
        let whole = pieces.flatMap { $0 }
        #expect(try await store.head(key)?.size == Int64(whole.count))
        #expect(SHA256.hash(data: try #require(try await Self.read(store, key))) == SHA256.hash(data: whole), "\(kind)")
        #expect(try await store.openUploads(prefix: "acme/").contains { $0.uploadID == id } == false)

        // Aborted: nothing left, and a late part is refused.
        let aborted = try await store.createMultipartUpload("acme/aborted.bin")
        _ = try await store.uploadPart(
            "acme/aborted.bin",
            uploadID: aborted,
            number: 1,
            body: ByteBuffer(bytes: pieces[2])
        )
        try await store.abortMultipartUpload("acme/aborted.bin", uploadID: aborted)
        #expect(try await store.openUploads(prefix: "acme/").contains { $0.uploadID == aborted } == false)
        #expect(try await store.head("acme/aborted.bin") == nil)
        await #expect(throws: ObjectStoreError.self) {
            _ = try await store.uploadPart(
                "acme/aborted.bin",
                uploadID: aborted,
                number: 2,
                body: ByteBuffer(bytes: pieces[2])
            )
        }

        // A completion naming a part the store does not have fails, and no object appears.
        let bad = try await store.createMultipartUpload("acme/bad.bin")
        let good = try await store.uploadPart(
            "acme/bad.bin",
            uploadID: bad,
            number: 1,
            body: ByteBuffer(bytes: pieces[2])
        )
        do {
            try await store.completeMultipartUpload(
                "acme/bad.bin",
                uploadID: bad,
                parts: [good, S3Client.Part(number: 2, etag: "\"0123456789abcdef0123456789abcdef\"", size: 1)]
            )
            Issue.record("\(kind): a completion with an unknown part succeeded")
        } catch let error as ObjectStoreError {
            #expect(error.code != nil, "\(kind): \(error)")
        }
        #expect(try await store.head("acme/bad.bin") == nil, "\(kind)")
        try await store.abortMultipartUpload("acme/bad.bin", uploadID: bad)
    }

    @Test(
        "more parts at once than the HTTP pool holds: they wait their turn in the gate and all arrive, where the pool alone failed them after its connect timeout",
        // SeaweedFS only: moto's server closes each connection after its answer, so every request would make a new
        // one, bounded by the same 300 ms as the pool's wait, which a loaded machine does not always meet.
        arguments: [S3TestServer.Kind.seaweedfs]
    )
    func crowdedPool(kind: S3TestServer.Kind) async throws {
        let server = try await S3TestServer.shared(kind)
        let bucket = "ferry-" + UUID().uuidString.lowercased().prefix(12)
        try await server.client(bucket: bucket).createBucket()
        // A pool of two with a 300 ms wait, and a gate of one as in production (the gate below the pool): 32 parts of
        // 512 KiB (16 MiB in all, light on the stores other tests share) through two connections take longer than
        // that wait, so without the gate the later ones fail.
        var configuration = HTTPClient.Configuration()
        configuration.timeout.connect = .milliseconds(300)
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 2
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            try await crowd(http, server: server, bucket: bucket, kind: kind)
        } catch {
            try await http.shutdown()
            throw error
        }
        try await http.shutdown()
    }

    private func crowd(_ http: HTTPClient, server: S3TestServer, bucket: String, kind: S3TestServer.Kind) async throws {
        let store = try S3Client(
            settings: .init(endpoint: server.endpoint, bucket: bucket, connections: 1),
            credentials: S3TestServer.credentials,
            http: http
        )
        let key = "acme/in/crowd.bin"
        // The one connection made first, tried again while a loaded machine takes more than 300 ms to accept it (the
        // same timeout bounds making a connection): the crowd below then waits only in the gate or the pool.
        var id = ""
        for attempt in 1...20 {
            do {
                id = try await store.createMultipartUpload(key)
                break
            } catch  where attempt < 20 {
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        let piece = ByteBuffer(bytes: Self.bytes(512 << 10))
        let parts = try await withThrowingTaskGroup(of: S3Client.Part.self) { [id] group in
            for number in 1...32 {
                group.addTask { try await store.uploadPart(key, uploadID: id, number: number, body: piece) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(parts.count == 32, "\(kind)")
        // Parts under 5 MiB cannot be completed: aborted, the store keeps nothing.
        try await store.abortMultipartUpload(key, uploadID: id)
    }

    @Test(
        "a store that answers 503 SlowDown or 500 InternalError is asked again (three times in all); a refusal is not"
    )
    func transientAnswers() async throws {
        let python = try ExternalTool.require("python3", installHint: "apt-get install python3")
        try await TemporaryDirectory.with { folder in
            // A store that fails the first two tries of each key under flaky/, every try under down/, and refuses
            // denied/ (403): it counts what it was sent.
            let script = folder.path + "/store.py"
            try """
            import http.server, sys
            seen = {}
            class Store(http.server.BaseHTTPRequestHandler):
                def do_PUT(self):
                    self.rfile.read(int(self.headers.get("content-length", 0)))
                    seen[self.path] = seen.get(self.path, 0) + 1
                    with open(sys.argv[2], "a") as log:
                        log.write(self.path + "\\n")
                    if "/denied/" in self.path:
                        self.reply(403, b"<Error><Code>AccessDenied</Code><Message>no</Message></Error>")
                    elif "/down/" in self.path or seen[self.path] <= 2:
                        code = b"SlowDown" if seen[self.path] % 2 else b"InternalError"
                        self.reply(503 if code == b"SlowDown" else 500, b"<Error><Code>" + code + b"</Code></Error>")
                    else:
                        self.reply(200, b"", etag='"abc"')
                def reply(self, status, body, etag=None):
                    self.send_response(status)
                    if etag:
                        self.send_header("ETag", etag)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                def log_message(self, *args):
                    pass
            http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Store).serve_forever()
            """.write(toFile: script, atomically: true, encoding: .utf8)
            let port = freeLoopbackPort()
            let log = folder.path + "/requests.log"
            let store = try BackgroundProcess.tiedToTestProcess(python, ["-u", script, String(port), log])
            let client = try S3Client(
                settings: .init(endpoint: "http://127.0.0.1:\(port)", bucket: "bucket"),
                credentials: S3TestServer.credentials
            )
            // Until it listens (a connection refused is not asked again: it fails at once).
            for _ in 0..<100 {
                if (try? await client.put("ready/x", body: ByteBuffer(string: "x"))) != nil { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            func sent(_ key: String) throws -> Int {
                try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").filter {
                    $0.hasSuffix("/" + key)
                }
                .count
            }
            try await client.put("flaky/a", body: ByteBuffer(string: "a"))
            #expect(try sent("flaky/a") == 3, "two failures, then stored")
            do {
                try await client.put("down/b", body: ByteBuffer(string: "b"))
                Issue.record("a store that always fails was not reported")
            } catch let error as ObjectStoreError {
                #expect(error.status == 500 || error.status == 503, "\(error)")
            }
            #expect(try sent("down/b") == 3, "asked three times, then the failure is reported")
            do {
                try await client.put("denied/c", body: ByteBuffer(string: "c"))
                Issue.record("a refusal was not reported")
            } catch let error as ObjectStoreError {
                #expect(error.status == 403 && error.code == "AccessDenied", "\(error)")
            }
            #expect(try sent("denied/c") == 1, "a refusal is not asked again")
            await store.stop()
        }
    }

    @Test("a wrong secret, an unknown key and an unreachable store: refused with what to check")
    func refusals() async throws {
        let server = try await S3TestServer.shared(.seaweedfs)
        let bucket = try await server.freshBucket().settings.bucket
        let wrongSecret = try server.client(
            bucket: bucket,
            credentials: ObjectStoreCredentials(accessKeyID: "ferrytestkey", secretAccessKey: "not-the-secret")
        )
        do {
            try await wrongSecret.put("x", body: ByteBuffer(string: "x"))
            Issue.record("a wrong secret was accepted")
        } catch let error as ObjectStoreError {
            #expect(error.status == 403 && error.code == "SignatureDoesNotMatch", "\(error)")
            #expect(error.description.contains("check the access key"), "\(error)")
        }
        let unknownKey = try server.client(
            bucket: bucket,
            credentials: ObjectStoreCredentials(accessKeyID: "nobody", secretAccessKey: "ferrytestsecret")
        )
        await #expect(throws: ObjectStoreError.self) { _ = try await unknownKey.list(prefix: "") }
        let nowhere = try S3Client(
            settings: .init(endpoint: "http://127.0.0.1:\(freeLoopbackPort())", bucket: "ferry-refusals"),
            credentials: S3TestServer.credentials
        )
        do {
            _ = try await nowhere.head("x")
            Issue.record("an unreachable store answered")
        } catch let error as ObjectStoreError {
            #expect(error.description.contains("cannot reach the object store"), "\(error)")
        }
        #expect(throws: ObjectStoreError.self) {
            try S3Client(
                settings: .init(endpoint: "s3.example.com/path", bucket: "b"),
                credentials: S3TestServer.credentials
            )
        }
        #expect(throws: ObjectStoreError.self) {
            try S3Client(
                settings: .init(endpoint: "http://127.0.0.1:1", bucket: "Bad_Bucket"),
                credentials: S3TestServer.credentials
            )
        }
    }

    @Test(
        "ferry serve with storage.s3 lists the bucket before it listens: a missing bucket, a wrong secret and an unreachable store each stop it with what to fix"
    )
    func startupCheck() async throws {
        let server = try await S3TestServer.shared(.seaweedfs)
        let bucket = try await server.freshBucket().settings.bucket
        try await TemporaryDirectory.with("ferry-s3-startup") { folder in
            let pki = try TestPKI(directory: folder.path + "/pki")
            let cases: [(endpoint: String, bucket: String, secret: String, expected: String)] = [
                (
                    server.endpoint, "ferry-no-such-bucket", S3TestServer.credentials.secretAccessKey,
                    "create the bucket"
                ),
                (server.endpoint, bucket, "not-the-secret", "check the access key"),
                (
                    "http://127.0.0.1:\(freeLoopbackPort())", bucket, S3TestServer.credentials.secretAccessKey,
                    "cannot reach the object store"
                ),
            ]
            for (index, attempt) in cases.enumerated() {
                let config = folder.path + "/ferry-\(index).yaml"
                try """
                listen: 127.0.0.1:\(freeLoopbackPort())
                root: root-\(index)
                server:
                  tls: {certificate: \(pki.serverCertificate), key: \(pki.key("server")), ca: \(pki.caFile)}
                storage:
                  s3:
                    endpoint: \(attempt.endpoint)
                    bucket: \(attempt.bucket)
                """.write(toFile: config, atomically: true, encoding: .utf8)
                var environment = ProcessInfo.processInfo.environment
                environment["AWS_ACCESS_KEY_ID"] = S3TestServer.credentials.accessKeyID
                environment["AWS_SECRET_ACCESS_KEY"] = attempt.secret
                let outcome = try await ExternalTool.run(
                    try CLITests.ferry,
                    ["serve", "--config", config],
                    timeout: 90,
                    environment: environment,
                    directory: folder.path
                )
                #expect(outcome.status == 1, "case \(index): \(outcome.output)")
                #expect(
                    outcome.stderr.contains("storage.s3") && outcome.stderr.contains(attempt.expected),
                    "case \(index): \(outcome.stderr)"
                )
                #expect(!outcome.output.contains("Ferry listening"), "case \(index) listened: \(outcome.output)")
            }
        }
    }
}
