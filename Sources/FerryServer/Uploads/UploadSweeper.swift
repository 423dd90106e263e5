import FerryLedger
import Foundation
import Logging
import ServiceLifecycle

/// Removes abandoned resumable uploads in the background, reclaiming their space, and ledger rows older than
/// the retention.
struct UploadSweeper<Storage: FileStorage>: Service {
    let uploads: UploadStore<Storage>
    /// Seconds between sweeps.
    let interval: Double
    let ledger: any Ledger
    /// Seconds a ledger row is kept.
    let retention: Double
    let logger: Logger

    func run() async throws {
        // Stops with the server: graceful shutdown cancels the sleep.
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let removed = await uploads.sweep()
                if !removed.isEmpty {
                    logger.info("removed expired uploads", metadata: ["count": "\(removed.count)"])
                }
                if let old = try? await ledger.removeTransfers(endedBefore: Date().addingTimeInterval(-retention)),
                    old > 0
                {
                    logger.info("removed ledger rows older than server.ledger-retain", metadata: ["count": "\(old)"])
                }
                try await Task.sleep(for: .seconds(interval))
            }
        }
    }
}
