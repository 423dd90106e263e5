import FerryClient
import FerryConfig
import FerryLedger
import FerryProtocol
import FerryServer
import FerryTLS
import FerryTestSupport
import Foundation
import Logging

/// A real Ferry server on a free loopback port with a test PKI, for integration tests.
struct TestServerHarness {
    let folder: TemporaryDirectory
    let pki: TestPKI
    let root: String
    let running: RunningServer

    var port: Int { running.port }
    var ledger: any Ledger { running.server.ledger }

    /// Starts a server, runs `body`, and always stops the server and removes its folder.
    static func with<Result>(
        configure: (inout FerryConfiguration, TestPKI) -> Void = { _, _ in },
        _ body: (TestServerHarness) async throws -> Result
    ) async throws -> Result {
        let folder = try TemporaryDirectory("ferry-it")
        defer { folder.remove() }
        let pki = try TestPKI(directory: folder.path + "/pki")
        var configuration = FerryConfiguration()
        configuration.root = folder.path + "/root"
        configuration.listen = "127.0.0.1:0"
        configuration.serverTLS = pki.serverProfile
        configure(&configuration, pki)
        let server = try await FerryServer.prepare(configuration: configuration)
        var logger = Logger(label: "ferry.test")
        logger.logLevel = .error
        let running = try await RunningServer.start(server, logger: logger, executor: ServerExecutor.shared)
        let harness = TestServerHarness(folder: folder, pki: pki, root: configuration.root, running: running)
        do {
            let result = try await body(harness)
            try await running.stop()
            return result
        } catch {
            try? await running.stop()
            throw error
        }
    }

    /// A Ferry client for a named test client, or one without a certificate for `nil`.
    func client(_ name: String?, ledger: (any Ledger)? = nil) throws -> TransferClient {
        let profile =
            name.map { pki.clientProfile($0) }
            ?? ClientTLSProfile(certificate: nil, privateKey: nil, trustedCAs: [pki.caFile])
        return TransferClient(tls: try profile.makeConfiguration(), ledger: ledger)
    }

    /// A target on this server.
    func target(_ path: String) throws -> RemoteTarget {
        RemoteTarget(host: "localhost", port: port, path: try PartnerPath(plain: path))
    }

    /// The URL of a file route.
    func url(_ encodedPath: String) -> String {
        "https://localhost:\(port)/v1/files/\(encodedPath)"
    }

    /// curl arguments that authenticate as a test client.
    func curlIdentity(_ name: String) -> [String] {
        ["--silent", "--show-error", "--cert", pki.certificate(name), "--key", pki.key(name), "--cacert", pki.caFile]
    }
}
