public import Foundation
public import Logging
import NIOConcurrencyHelpers
import NIOSSL
public import PostgresNIO

/// A PostgreSQL database shared by several `ferry serve` nodes, named by `database.url`
/// (`postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE?sslmode=disable|prefer|require|verify-full`, the password also
/// from `PGPASSWORD`). Owns the connection pool (`run()` must be going while it is used) and applies Ferry's schema
/// migrations, once, whichever node starts first.
public final class PostgresDatabase: Sendable {
    public let client: PostgresClient
    /// The URL without its password, for messages.
    public let displayURL: String
    public let logger: Logger
    private let pool = NIOLockedValueBox<Task<Void, Never>?>(nil)
    /// One connection outside the pool, made only to say why the pool cannot connect (the pool retries in silence).
    private let probe: PostgresConnection.Configuration

    public init(url: String, password: String? = nil, maximumConnections: Int = 10) throws {
        let (configuration, probe, display) = try Self.configuration(url: url, password: password)
        self.probe = probe
        var options = configuration
        options.options.maximumConnections = maximumConnections
        logger = Logger(label: "ferry.database", factory: { _ in SwiftLogNoOpLogHandler() })
        client = PostgresClient(configuration: options, backgroundLogger: logger)
        displayURL = display
    }

    /// Runs the connection pool until the task is cancelled.
    public func run() async { await client.run() }

    /// Runs the connection pool in a task of its own, until `shutdown()`.
    public func start() {
        pool.withLockedValue { task in
            if task == nil { task = Task { [client] in await client.run() } }
        }
    }

    /// Closes the pool's connections.
    public func shutdown() {
        pool.withLockedValue { task in
            task?.cancel()
            task = nil
        }
    }

    static func configuration(
        url: String,
        password: String?
    ) throws -> (PostgresClient.Configuration, PostgresConnection.Configuration, String) {
        guard let parts = URLComponents(string: url), ["postgres", "postgresql"].contains(parts.scheme ?? ""),
            let host = parts.host, !host.isEmpty, let user = parts.user, !user.isEmpty
        else {
            throw LedgerError(
                "database.url: '\(Self.withoutPassword(url))' is not a PostgreSQL URL such as postgres://ferry@db.example.com:5432/ferry?sslmode=verify-full"
            )
        }
        let database = String(parts.path.drop { $0 == "/" })
        let mode = parts.queryItems?.first { $0.name == "sslmode" }?.value ?? "prefer"
        let tls: PostgresClient.Configuration.TLS
        let probeTLS: PostgresConnection.Configuration.TLS
        func context(_ configuration: TLSConfiguration) throws -> NIOSSLContext {
            do {
                return try NIOSSLContext(configuration: configuration)
            } catch {
                throw LedgerError("database.url: cannot set up TLS to the database (\(error)); check sslrootcert")
            }
        }
        switch mode {
        case "disable":
            tls = .disable
            probeTLS = .disable
        case "prefer", "allow":
            tls = .prefer(Self.unverified())
            probeTLS = .prefer(try context(Self.unverified()))
        case "require":
            tls = .require(Self.unverified())
            probeTLS = .require(try context(Self.unverified()))
        case "verify-full", "verify-ca":
            var verified = TLSConfiguration.makeClientConfiguration()
            // verify-ca checks the chain only; verify-full the host name too.
            if mode == "verify-ca" { verified.certificateVerification = .noHostnameVerification }
            if let root = parts.queryItems?.first(where: { $0.name == "sslrootcert" })?.value {
                verified.trustRoots = .file(root)
            }
            tls = .require(verified)
            probeTLS = .require(try context(verified))
        default:
            throw LedgerError(
                "database.url: sslmode '\(mode)' is not one of disable, prefer, require, verify-ca, verify-full"
            )
        }
        let username = user.removingPercentEncoding ?? user
        let secret =
            parts.password?.removingPercentEncoding ?? password ?? ProcessInfo.processInfo.environment["PGPASSWORD"]
        let name = database.isEmpty ? nil : database
        let configuration = PostgresClient.Configuration(
            host: host,
            port: parts.port ?? 5432,
            username: username,
            password: secret,
            database: name,
            tls: tls
        )
        var probe = PostgresConnection.Configuration(
            host: host,
            port: parts.port ?? 5432,
            username: username,
            password: secret,
            database: name,
            tls: probeTLS
        )
        probe.options.connectTimeout = .seconds(5)
        return (configuration, probe, Self.withoutPassword(url))
    }

    /// TLS without checking the server's certificate (libpq's `require` and `prefer`).
    private static func unverified() -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .none
        return configuration
    }

    /// The URL with its password masked, for messages and banners.
    public static func withoutPassword(_ url: String) -> String {
        guard var parts = URLComponents(string: url), parts.password != nil else { return url }
        parts.password = "***"
        return parts.string ?? url
    }

    /// Applies the migrations not yet applied, in order, each in its own transaction, under an advisory lock held
    /// on one connection: nodes starting together take turns, and the second finds nothing left to do.
    public func migrate(
        _ migrations: [(version: Int, sql: [String])],
        within deadline: Duration = .seconds(10)
    ) async throws {
        do {
            // The pool retries a database that does not answer for ever: a node that cannot reach it stops instead.
            try await withDeadline(deadline, "no connection to the database within \(deadline)") {
                try await self.applyMigrations(migrations)
            }
        } catch {
            // Why the pool could not connect, from one connection of our own.
            var reason = Self.describe(error)
            do {
                let connection = try await PostgresConnection.connect(configuration: probe, id: 0, logger: logger)
                try? await connection.close()
            } catch {
                reason += " (connecting: \(Self.describe(error)))"
            }
            throw LedgerError(
                "cannot prepare the database \(displayURL): \(reason); check that PostgreSQL runs there and database.url is right"
            )
        }
    }

    private func applyMigrations(_ migrations: [(version: Int, sql: [String])]) async throws {
        try await client.withConnection { connection in
            _ = try await connection.query("SELECT pg_advisory_lock(\(Self.migrationLock))", logger: logger)
            do {
                _ = try await connection.query(
                    "CREATE TABLE IF NOT EXISTS ferry_migrations (version INTEGER PRIMARY KEY, applied TIMESTAMPTZ NOT NULL DEFAULT now())",
                    logger: logger
                )
                var applied: Set<Int> = []
                for try await version in try await connection.query(
                    "SELECT version FROM ferry_migrations",
                    logger: logger
                ).decode(Int.self) {
                    applied.insert(version)
                }
                for migration in migrations where !applied.contains(migration.version) {
                    try await connection.withTransaction(logger: logger) { transaction in
                        for statement in migration.sql {
                            _ = try await transaction.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                        }
                        _ = try await transaction.query(
                            "INSERT INTO ferry_migrations (version) VALUES (\(migration.version))",
                            logger: logger
                        )
                    }
                }
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(Self.migrationLock))", logger: logger)
                throw error
            }
            _ = try await connection.query("SELECT pg_advisory_unlock(\(Self.migrationLock))", logger: logger)
        }
    }

    /// The advisory lock key of migrations ("ferry" in ASCII).
    static let migrationLock: Int64 = 0x6665_7272_79

    /// What PostgreSQL said (postgres-nio keeps it out of the error's description).
    public static func describe(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] {
                return "\(message) (SQLSTATE \(error.serverInfo?[.sqlState] ?? "?"))"
            }
            if let underlying = error.underlying { return "\(error.code): \(underlying)" }
            return "\(error.code)"
        }
        return "\(error)"
    }
}
