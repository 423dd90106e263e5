import Foundation

/// Waits until a resumable upload's `.part` file in `folder` holds at least `bytes`, then sends `signal` to `pid`
/// if one is given. The polling and the signal run on a thread of their own, not on Swift's cooperative pool: with
/// the whole suite running, the pool can be busy for seconds, and a kill point checked from it was seen to miss its
/// window entirely (the upload finished first).
func waitForPart(
    in folder: String,
    atLeast bytes: Int,
    named matches: @escaping @Sendable (String) -> Bool = { $0.hasSuffix(".part") },
    thenSignal pid: pid_t? = nil,
    signal: Int32 = SIGKILL
) async -> Bool {
    await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
        let thread = Thread {
            // Generous: on a loaded machine the upload itself may run far below its paced rate.
            let deadline = Date().addingTimeInterval(150)
            while Date() < deadline {
                if let name = (try? FileManager.default.contentsOfDirectory(atPath: folder))?.first(where: matches),
                    let size = try? FileManager.default.attributesOfItem(atPath: folder + "/" + name)[.size] as? Int,
                    size >= bytes
                {
                    if let pid { kill(pid, signal) }
                    continuation.resume(returning: true)
                    return
                }
                usleep(2_000)
            }
            continuation.resume(returning: false)
        }
        thread.start()
    }
}
