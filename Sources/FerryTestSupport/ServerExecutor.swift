import Dispatch
import Synchronization

/// Threads of their own for a test process's in-process servers (`RunningServer.start(executor:)`).
///
/// A test process has as many cooperative threads as cores (two here), and every test and every in-process server
/// shares them. A test that keeps one busy (decoding thousands of mutated inputs, a blocking call) halves what the
/// servers of the suites beside it get; two such tests stop them, and their partners' uploads stall until the
/// server's own stall timeout cuts them. Jobs of the servers' tasks run here instead, on serial dispatch queues,
/// which get threads of their own however busy the cooperative pool is.
public final class ServerExecutor: TaskExecutor, Sendable {
    /// The executor all in-process test servers share.
    public static let shared = ServerExecutor(width: 4)

    private let queues: [DispatchQueue]
    private let next = Atomic<Int>(0)

    public init(width: Int) {
        queues = (0..<max(1, width)).map { DispatchQueue(label: "ferry.test-server.\($0)") }
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        let index = next.add(1, ordering: .relaxed).oldValue % queues.count
        queues[index].async { job.runSynchronously(on: executor) }
    }
}
