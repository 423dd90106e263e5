import FerryClient
public import FerryConfig
public import FerryLedger
public import FerryQueue
public import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
public import Logging
import NIOConcurrencyHelpers
public import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// The managed side of `ferry serve`: the queue, its loop and its control socket, as services of the daemon's
/// service group. With the embedded SQLite queue, one daemon per queue database: a second one on the same database
/// is refused at startup. With `database.url`, the queue is in PostgreSQL and every node's daemon works it.
public struct QueueDaemon: Sendable {
    public let store: any QueueStore
    public let runner: QueueRunner
    public let socketPath: String
    /// Where queued transfers and actions are recorded, and the server's rows are read.
    public let ledger: DaemonLedger
    /// Whether the server's inbound rows become `file.received` and `handshake.failed` events (a daemon beside a
    /// listener).
    public var readsServerLedger = false
    let configuration: FerryConfiguration
    let lock: Int32
    let clock: @Sendable () -> Date

    /// Opens the queue, takes its lock and recovers what a killed daemon left active.
    public static func open(
        configuration: FerryConfiguration,
        clock: @escaping @Sendable () -> Date = { Date() },
        execute: QueueRunner.Execute? = nil
    ) async throws -> QueueDaemon {
        let database = configuration.resolvedQueueDatabase
        let socket = configuration.resolvedControlSocket
        try ControlSocket.prepare(socket)
        let folder = (database as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(
            atPath: folder,
            withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700]
        )
        for rule in configuration.watches {
            do {
                try FileManager.default.createDirectory(atPath: rule.folder, withIntermediateDirectories: true)
            } catch {
                throw QueueDaemonError(
                    "watch.\(rule.name): cannot use the folder \(rule.folder): \(error.localizedDescription)"
                )
            }
        }
        let lock = try takeLock(database + ".lock")
        do {
            let (store, ledger) = try await openStore(configuration)
            var made = QueueTransfer(configuration: configuration)
            made.ledger = ledger
            if let shared = store as? PostgresQueueStore {
                made.resumeRecords = SharedResumeRecords(store: shared, logger: Logger(label: "ferry.queue"))
            }
            let transfer = made
            let runner = QueueRunner(
                store: store,
                maximum: configuration.queue.maximumActive,
                keep: configuration.queue.keep,
                limit: { configuration.queueSettings(for: $0).sessions ?? 2 },
                clock: clock,
                execute: execute ?? { await transfer.run($0) }
            )
            do {
                _ = try await runner.start()
            } catch {
                try? await store.close()
                throw error
            }
            return QueueDaemon(
                store: store,
                runner: runner,
                socketPath: socket,
                ledger: ledger,
                configuration: configuration,
                lock: lock,
                clock: clock
            )
        } catch {
            Glibc.close(lock)
            throw error
        }
    }

    /// The queue and ledger: in the shared PostgreSQL database when `database.url` is set (one pool for both), else
    /// the SQLite files under the root.
    static func openStore(_ configuration: FerryConfiguration) async throws -> (any QueueStore, DaemonLedger) {
        guard let database = configuration.database else {
            return (
                try await SQLiteQueueStore.open(path: configuration.resolvedQueueDatabase),
                .file(configuration.resolvedServerLedger)
            )
        }
        let store = try await PostgresQueueStore.open(
            url: database.url,
            password: try database.filePassword(),
            maximumConnections: database.maximumConnections,
            node: database.node,
            claimDuration: configuration.queue.lease
        )
        do {
            return (store, .shared(try await PostgresLedger.open(store.database, node: store.node)))
        } catch {
            try? await store.close()
            throw error
        }
    }

    /// Closes the queue and releases the queue's lock, once its services have all stopped (or never ran).
    public func close() async {
        try? await store.close()
        Glibc.close(lock)
    }

    /// An exclusive lock beside the database for the daemon's life (the kernel releases it when the process ends,
    /// however it ends).
    static func takeLock(_ path: String) throws -> Int32 {
        let descriptor = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw QueueDaemonError("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(
                in: .whitespacesAndNewlines
            )
            Glibc.close(descriptor)
            throw QueueDaemonError(
                "another ferry daemon already runs this queue (\((path as NSString).deletingPathExtension)\(holder.map { ", pid \($0)" } ?? "")): stop it first, or give this one its own root or queue.database"
            )
        }
        ftruncate(descriptor, 0)
        let pid = "\(getpid())\n"
        _ = pid.withCString { write(descriptor, $0, strlen($0)) }
        return descriptor
    }

    /// The services to run: the queue loop and the control socket (with `admin`, the server's operator API on it too);
    /// `onReady` runs once the socket accepts.
    public func services(
        logger: Logger,
        grace: Duration,
        admin: AdminPlane? = nil,
        network: AdminNetwork? = nil,
        onReady: @escaping @Sendable () -> Void = {}
    ) throws -> [any Service] {
        let router = ControlRoutes.router(
            store: store,
            runner: runner,
            configuration: configuration,
            clock: clock,
            admin: admin
        )
        let socketPath = self.socketPath
        var control = Application(
            router: router,
            configuration: .init(address: .unixDomainSocket(path: socketPath), serverName: nil),
            onServerRunning: { _ in
                // 0600 at once; the peer check refuses others in the moment before.
                chmod(socketPath, 0o600)
                onReady()
            },
            logger: logger
        )
        control.logger = logger
        var services: [any Service] = [
            QueueLoop(runner: runner, grace: grace, logger: logger)
        ]
        if !configuration.watches.isEmpty {
            let folders = HotFolders(
                configuration: configuration,
                store: store,
                runner: runner,
                clock: clock,
                logger: logger
            )
            services.append(HotFolderLoop(folders: folders, paths: configuration.watches.map(\.folder), logger: logger))
        }
        if !configuration.actions.isEmpty {
            let actions = Actions(
                configuration: configuration,
                store: store,
                ledger: ledger,
                runner: runner,
                clock: clock,
                logger: logger
            )
            services.append(
                ActionLoop(
                    actions: actions,
                    store: store,
                    configuration: configuration,
                    ledger: readsServerLedger ? ledger : nil,
                    logger: logger
                )
            )
        }
        services.append(control)
        if let admin, let network {
            let router = ControlRoutes.router(
                store: store,
                runner: runner,
                configuration: configuration,
                clock: clock,
                admin: admin,
                door: .network(network.token, secure: network.tls != nil)
            )
            let address = BindAddress.hostname(network.host, port: network.port)
            let open = NIOLockedValueBox(0)
            let http = HTTPServerBuilder.http1(
                configuration: .init(
                    additionalChannelHandlers: [AdminConnectionCap(open: open)],
                    idleTimeout: AdminConnectionCap.idleTimeout
                )
            )
            var listener = Application(
                router: router,
                server: try network.tls.map { try .tls(http, tlsConfiguration: $0) } ?? http,
                configuration: .init(address: address, serverName: nil),
                logger: logger
            )
            listener.logger = logger
            services.append(listener)
        }
        return services
    }
}

/// The queue's loop: a tick, then a pause of a second or until something changes; on a graceful stop, transfers in
/// flight get the grace period and are then cut at their checkpoint (their entries retry at the next start).
struct QueueLoop: Service {
    let runner: QueueRunner
    let grace: Duration
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await runner.tick()
                } catch {
                    logger.error("queue tick failed", metadata: ["error": "\(error)"])
                }
                await runner.pause(.seconds(1))
            }
        }
        // The store stays open: the other services (actions, hot folders, the control socket) may still use it
        // until the whole group has stopped; the daemon's `close()` then closes it.
        try? await runner.stop(grace: grace)
    }
}

/// Where the daemon records queued transfers and actions and reads the server's rows: the server's SQLite ledger
/// (opened for each use: the server has it open too), or the ledger in the shared PostgreSQL database (one, on the
/// queue's pool).
public enum DaemonLedger: Sendable {
    case file(String)
    case shared(PostgresLedger)

    /// A ledger to use and then close (closing the shared one leaves its pool open).
    func open() async throws -> any Ledger {
        switch self {
        case .file(let path): return try await SQLiteLedger.open(path: path)
        case .shared(let ledger): return ledger
        }
    }
}

/// Something that stops the daemon from starting its queue.
public struct QueueDaemonError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// The records of queued resumable uploads in the shared database. A record that cannot be read or written costs
/// only the resumption (the upload starts over, checked end to end as always), so a failure is logged, not thrown.
struct SharedResumeRecords: ResumeRecordStore {
    let store: PostgresQueueStore
    let logger: Logger

    func load(_ key: String) async -> Data? {
        do {
            return try await store.resumeRecord(key).map { Data($0.utf8) }
        } catch {
            logger.warning("cannot read an upload's resume record", metadata: ["error": "\(error)"])
            return nil
        }
    }

    func save(_ record: Data, key: String) async {
        do {
            try await store.setResumeRecord(String(decoding: record, as: UTF8.self), key: key)
        } catch {
            logger.warning("cannot keep an upload's resume record", metadata: ["error": "\(error)"])
        }
    }

    func remove(_ key: String) async {
        do {
            try await store.removeResumeRecord(key)
        } catch {
            logger.warning("cannot remove an upload's resume record", metadata: ["error": "\(error)"])
        }
    }
}
