import Logging
import ServiceLifecycle

/// Removes abandoned resumable uploads in the background, reclaiming their space.
struct UploadSweeper: Service {
    let uploads: UploadStore
    /// Seconds between sweeps.
    let interval: Double
    let logger: Logger

    func run() async throws {
        // Stops with the server: graceful shutdown cancels the sleep.
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let removed = uploads.sweep()
                if !removed.isEmpty {
                    logger.info("removed expired uploads", metadata: ["count": "\(removed.count)"])
                }
                try await Task.sleep(for: .seconds(interval))
            }
        }
    }
}
