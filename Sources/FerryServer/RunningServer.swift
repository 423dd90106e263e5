import FerryLedger
import Hummingbird
public import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle

/// A server started in the background (for `ferry demo` and tests): its bound port, and a way to stop it.
public final class RunningServer: Sendable {
    /// The port the server listens on.
    public let port: Int
    private let group: ServiceGroup
    private let task: Task<Void, any Error>
    /// The server that runs.
    public let server: FerryServer
    private let stopped = NIOLockedValueBox(false)

    private init(server: FerryServer, port: Int, group: ServiceGroup, task: Task<Void, any Error>) {
        self.server = server
        self.port = port
        self.group = group
        self.task = task
    }

    /// Starts the server and returns once it listens. With an `executor`, the server's tasks (accepting, each
    /// connection, each request) prefer it to the shared cooperative pool: a test process gives its in-process
    /// servers threads of their own, so that test code busy on the pool does not stall them.
    public static func start(
        _ server: FerryServer,
        logger: Logger,
        executor: (any TaskExecutor)? = nil
    ) async throws -> RunningServer {
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let application: any ApplicationProtocol
        do {
            application = try await server.makeApplication(logger: logger) { port in
                continuation.yield(port)
                continuation.finish()
            }
        } catch {
            try? await server.ledger.close()
            throw error
        }
        let group = ServiceGroup(
            configuration: .init(services: [application], gracefulShutdownSignals: [], logger: logger)
        )
        let task = Task(executorPreference: executor) {
            defer { continuation.finish() }
            try await group.run()
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else {
            // The group ended before listening: surface its error.
            let result = await task.result
            try? await server.ledger.close()
            try result.get()
            throw ListenFailure()
        }
        return RunningServer(server: server, port: port, group: group, task: task)
    }

    /// Stops accepting connections, lets requests in flight finish, waits for the server to end, and closes
    /// the ledger.
    public func stop() async throws {
        guard
            stopped.withLockedValue({ stopped in
                defer { stopped = true }
                return !stopped
            })
        else { return }
        await group.triggerGracefulShutdown()
        let result = await task.result
        try await server.ledger.close()
        try result.get()
    }

    struct ListenFailure: Error, CustomStringConvertible {
        var description: String { "the server stopped before it started listening" }
    }
}
