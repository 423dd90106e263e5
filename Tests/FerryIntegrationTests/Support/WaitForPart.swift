import FerryTestSupport
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
                // The largest matching file: an earlier attempt's part may lie beside the one that grows.
                let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter(matches)
                let largest = names.compactMap {
                    try? FileManager.default.attributesOfItem(atPath: folder + "/" + $0)[.size] as? Int
                }.max()
                if let largest, largest >= bytes {
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

/// Runs `ferry ARGUMENTS` with its state under `state` (`XDG_STATE_HOME`), kills it (SIGKILL) once an upload's
/// part file in `uploads` holds `bytes`, and waits until it is gone. Whether the part got there in time.
func ferryKilledMidUpload(
    _ arguments: [String],
    state: String,
    uploads: String,
    atLeast bytes: Int
) async throws
    -> Bool
{
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try CLITests.ferry)
    process.arguments = arguments
    var environment = ProcessInfo.processInfo.environment
    environment["XDG_STATE_HOME"] = state
    process.environment = environment
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    let reached = await waitForPart(in: uploads, atLeast: bytes, thenSignal: process.processIdentifier)
    kill(process.processIdentifier, SIGKILL)
    while process.isRunning { try await Task.sleep(for: .milliseconds(20)) }
    return reached
}

/// Runs `ferry ARGUMENTS` to its end with its state under `state` (`XDG_STATE_HOME`): the rerun after a kill.
func ferry(_ arguments: [String], state: String) async throws -> ExternalTool.Outcome {
    var environment = ProcessInfo.processInfo.environment
    environment["XDG_STATE_HOME"] = state
    return try await ExternalTool.run(try CLITests.ferry, arguments, timeout: 180, environment: environment)
}
