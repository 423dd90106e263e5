import FerryClient
import FerryLedger
import FerryProtocol
import FerryTLS
import FerryTestSupport
import Foundation
import NIOCore
import NIOPosix
import Testing

/// A connection that drops mid-transfer: the client resumes by itself within the same run.
@Suite("Transfers resume after the connection is cut", .serialized)
struct NetworkCutTests {
    @Test("an upload cut after 20 MiB resumes from the server's offset in the same run")
    func uploadCut() async throws {
        try await TestServerHarness.with { server in
            let proxy = try await CuttingProxy(upstreamPort: server.port, cutAfter: 20 << 20)
            defer { Task { try? await proxy.close() } }
            let size = 48 << 20
            let source = server.folder.path + "/cut.bin"
            let digest = try TestFiles.write(source, size: size)
            var client = try server.client("acme")
            // The retry asks for the offset soon. A loaded server may not have read the cut connection's end yet
            // (its socket still holds bytes the PATCH has not taken): then it answers the last checkpoint, the
            // PATCH from there gets 423 or 409, and a later attempt starts from the drained offset.
            client.retry = RetryPolicy(retries: 5, baseWait: 0.5)
            let target = RemoteTarget(host: "localhost", port: proxy.port, path: try .init(plain: "in/cut.bin"))
            let result = try await client.send(files: [source], to: target)[0]
            #expect(result.sha256 == digest)
            #expect(result.attempts >= 2, "the first connection was cut")
            #expect(proxy.connectionCount >= 2)
            // Each attempt starts at least once; one whose PATCH met the 409 above starts again, in the same
            // attempt, from the offset the server then gives (a loaded full run saw 3 starts in 2 attempts).
            #expect(result.attemptOffsets.count >= result.attempts, "\(result.attemptOffsets)")
            // 20 MiB of TLS records reached the server: all but their framing, the handshake and the request head is
            // counted, not only the 16 MiB of the last checkpoint.
            #expect(
                (result.attemptOffsets.dropFirst().max() ?? 0) >= 19 << 20,
                "a retry continued from every byte that reached the server: \(result.attemptOffsets)"
            )
            #expect(try TestFiles.sha256(server.root + "/acme/in/cut.bin") == digest)
        }
    }

    @Test("a download cut after 20 MiB resumes with Range and If-Range in the same run")
    func downloadCut() async throws {
        try await TestServerHarness.with { server in
            let size = 48 << 20
            let source = server.folder.path + "/down.bin"
            let digest = try TestFiles.write(source, size: size)
            _ = try await server.client("acme").send(files: [source], to: try server.target("out/down.bin"))
            let proxy = try await CuttingProxy(upstreamPort: server.port, cutAfter: 20 << 20)
            defer { Task { try? await proxy.close() } }
            var client = try server.client("acme")
            client.retry = RetryPolicy(retries: 3, baseWait: 0.05)
            let target = RemoteTarget(host: "localhost", port: proxy.port, path: try .init(plain: "out/down.bin"))
            let local = server.folder.path + "/fetched.bin"
            let result = try await client.get(target, to: local)
            #expect(result.attempts >= 2)
            #expect(result.resumedFrom == 0)
            #expect(
                (result.attemptOffsets.dropFirst().first ?? 0) > 0,
                "the retry asked only for the rest: \(result.attemptOffsets)"
            )
            #expect(result.sentThisRun == Int64(size), "received \(result.sentThisRun) bytes in all")
            #expect(result.sha256 == digest)
            #expect(try TestFiles.sha256(local) == digest)
            #expect(!FileManager.default.fileExists(atPath: local + ".part"))
        }
    }
}

@Suite("Stalled connections")
struct StallTests {
    @Test("a peer that accepts and then says nothing is reported as a stalled network, not a hang")
    func blackHole() async throws {
        try await TemporaryDirectory.with { folder in
            let pki = try TestPKI(directory: folder.path)
            let hole = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .childChannelInitializer { _ in MultiThreadedEventLoopGroup.singleton.any().makeSucceededVoidFuture() }
                .bind(host: "127.0.0.1", port: 0).get()
            defer { hole.close(promise: nil) }
            var client = TransferClient(tls: try pki.clientProfile("acme").makeConfiguration(), ledger: nil)
            client.stallTimeout = .milliseconds(300)
            client.retry = RetryPolicy(retries: 0)
            let target = RemoteTarget(host: "localhost", port: hole.localAddress!.port!, path: try .init(plain: "x"))
            await #expect {
                try await client.list(target)
            } throws: { error in
                guard let error = error as? TransferError else { return false }
                return error.code == .network && error.message.contains("stalled")
            }
        }
    }
}
