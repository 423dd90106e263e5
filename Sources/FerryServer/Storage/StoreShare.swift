import FerryLedger
import FerryObjectStore
import Logging
import ServiceLifecycle

/// With several nodes, `storage.s3.connections` is the cluster's budget of requests in flight to the one store:
/// each node takes an equal share, recounted every 10 s from the nodes alive in the shared database (a node
/// silent for 30 s no longer counts; one that stops gracefully leaves at once). Before this, every node took the
/// whole budget, so three nodes put three times what the store was sized for on it, and most part uploads missed
/// their deadline (docs/scaling.md).
struct StoreShare: Service {
    let client: S3Client
    let budget: Int
    let roster: any NodeRoster
    let logger: Logger

    static let interval: Duration = .seconds(10)
    static let window = PostgresLedger.aliveWindow

    /// A node's share: the budget split evenly, at least one request.
    static func share(of budget: Int, among nodes: Int) -> Int { max(1, budget / max(1, nodes)) }

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            var nodes = 0
            while !Task.isCancelled {
                do {
                    let alive = try await roster.heartbeat(window: Self.window)
                    if alive != nodes {
                        nodes = alive
                        let share = Self.share(of: budget, among: alive)
                        client.setRequestLimit(share)
                        logger.info(
                            "object store requests shared among the nodes",
                            metadata: ["nodes": "\(alive)", "share": "\(share)", "budget": "\(budget)"]
                        )
                    }
                } catch {
                    // The share stays as it was: the database's failure is reported by the ledger's spool too.
                    logger.warning("cannot count the nodes alive", metadata: ["error": "\(error)"])
                }
                try await Task.sleep(for: Self.interval)
            }
        }
        try? await roster.leave()
    }
}
