public import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A real PostgreSQL server for one test: `initdb` into a fresh folder and `postgres` on a loopback port, run as
/// an unprivileged user when the tests run as root (PostgreSQL refuses root), with fsync off. `url` reaches it as
/// the user `ferry` (trust authentication on loopback); `stop()` shuts it down and removes the folder.
public final class PostgresTestServer: Sendable {
    public let url: String
    public let port: Int
    private let process: Mutex<BackgroundProcess>
    private let directory: TemporaryDirectory
    /// `pg_ctl stop -m immediate`, as the server's user.
    private let stopCommand: [String]
    /// The program and arguments that start the server.
    private let startCommand: [String]

    private init(
        url: String,
        port: Int,
        process: BackgroundProcess,
        directory: TemporaryDirectory,
        stopCommand: [String],
        startCommand: [String]
    ) {
        self.url = url
        self.port = port
        self.process = Mutex(process)
        self.directory = directory
        self.stopCommand = stopCommand
        self.startCommand = startCommand
    }

    /// A PostgreSQL program: on PATH, or in Debian's /usr/lib/postgresql/VERSION/bin.
    static func program(_ name: String) throws -> String {
        if let found = ExternalTool.find(name) { return found }
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        for version in versions.sorted(by: >) {
            let candidate = "/usr/lib/postgresql/\(version)/bin/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return try ExternalTool.require(name, installHint: "apt-get install postgresql")
    }

    /// The server every test in the process may share, started by the first that asks; it ends with the test
    /// process. Tests on it use a database of their own (`freshDatabase()`) and never stop it.
    public static func shared() async throws -> PostgresTestServer {
        try await Shared.instance.server()
    }

    private actor Shared {
        static let instance = Shared()
        var starting: Task<PostgresTestServer, any Error>?

        func server() async throws -> PostgresTestServer {
            if let starting, let server = try? await starting.value, server.process.withLock({ $0.isRunning }) {
                return server
            }
            let task = Task { try await PostgresTestServer.start(port: freeLoopbackPort(), tied: true) }
            starting = task
            return try await task.value
        }
    }

    /// A new, empty database on this server; its URL.
    public func freshDatabase() async throws -> String {
        let name = "ferry_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
        let psql = try Self.program("psql")
        let made = try await ExternalTool.run(
            psql,
            ["-h", "127.0.0.1", "-p", String(port), "-U", "ferry", "-d", "postgres", "-c", "CREATE DATABASE \(name)"],
            timeout: 60
        )
        guard made.status == 0 else {
            throw ExternalTool.MissingTool(name: "psql", hint: "CREATE DATABASE failed: \(made.output.suffix(1000))")
        }
        return url.replacingOccurrences(of: "/postgres?", with: "/\(name)?")
    }

    /// Starts a server; with `tls` (certificate and key files), it also speaks TLS (`ssl=on`). A `tied` server also
    /// ends (and its folder goes) when the test process ends, however it ends.
    public static func start(
        port: Int,
        tls: (certificate: String, key: String)? = nil,
        tied: Bool = false
    ) async throws -> PostgresTestServer {
        let initdb = try program("initdb")
        let postgres = try program("postgres")
        let directory = try TemporaryDirectory("ferry-postgres")
        // As root: the postgres user (or nobody) owns the folder and runs the server.
        var wrapper: [String] = []
        if getuid() == 0 {
            let user = getpwnam("postgres") != nil ? "postgres" : "nobody"
            guard let account = getpwnam(user) else { throw ExternalTool.MissingTool(name: user, hint: "a user") }
            chown(directory.path, account.pointee.pw_uid, account.pointee.pw_gid)
            let runuser = try ExternalTool.require("runuser", installHint: "apt-get install util-linux")
            wrapper = [runuser, "-u", user, "--"]
        }
        let data = directory.path + "/data"
        let made = try await ExternalTool.run(
            wrapper.first ?? initdb,
            Array(wrapper.dropFirst()) + (wrapper.isEmpty ? [] : [initdb])
                + ["-D", data, "-U", "ferry", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C"],
            timeout: 60
        )
        guard made.status == 0 else {
            directory.remove()
            throw ExternalTool.MissingTool(name: "initdb", hint: "initdb failed: \(made.output.suffix(1000))")
        }
        var arguments = ["-D", data, "-p", String(port), "-k", directory.path, "-h", "127.0.0.1", "-F"]
        if let tls {
            // Copies the server's user owns, the key 0600 (PostgreSQL refuses a key others can read).
            for (source, name) in [(tls.certificate, "server.crt"), (tls.key, "server.key")] {
                let copy = data + "/" + name
                try FileManager.default.copyItem(atPath: source, toPath: copy)
                chmod(copy, 0o600)
                if getuid() == 0, let account = getpwnam(getpwnam("postgres") != nil ? "postgres" : "nobody") {
                    chown(copy, account.pointee.pw_uid, account.pointee.pw_gid)
                }
            }
            arguments += ["-c", "ssl=on", "-c", "ssl_cert_file=server.crt", "-c", "ssl_key_file=server.key"]
        }
        let startCommand = wrapper + [postgres] + arguments
        let process =
            tied
            ? try BackgroundProcess.tiedToTestProcess(
                startCommand[0],
                Array(startCommand.dropFirst()),
                removing: directory.path
            )
            : try BackgroundProcess(startCommand[0], Array(startCommand.dropFirst()))
        let server = PostgresTestServer(
            url: "postgres://ferry@127.0.0.1:\(port)/postgres?sslmode=\(tls == nil ? "disable" : "require")",
            port: port,
            process: process,
            directory: directory,
            stopCommand: wrapper + [try program("pg_ctl"), "stop", "-D", data, "-m", "immediate"],
            startCommand: startCommand
        )
        guard try await process.waitForOutput("ready to accept connections", timeout: 30) else {
            let output = process.output
            await server.stop()
            throw ExternalTool.MissingTool(name: "postgres", hint: "did not start: \(output.suffix(1000))")
        }
        return server
    }

    /// Shuts the server down at once (connections still open do not hold it) and removes its folder.
    public func stop() async {
        await halt()
        directory.remove()
    }

    /// Stops the server as a crash would (immediate shutdown), keeping its data for `resume()`.
    public func halt() async {
        _ = try? await ExternalTool.run(stopCommand[0], Array(stopCommand.dropFirst()), timeout: 30)
        let current = process.withLock { $0 }
        await current.stop()
    }

    /// Starts the halted server again on the same port and data.
    public func resume() async throws {
        let started = try BackgroundProcess(startCommand[0], Array(startCommand.dropFirst()))
        process.withLock { $0 = started }
        guard try await started.waitForOutput("ready to accept connections", timeout: 30) else {
            throw ExternalTool.MissingTool(
                name: "postgres",
                hint: "did not start again: \(started.output.suffix(1000))"
            )
        }
    }
}
