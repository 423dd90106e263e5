import Foundation

/// Waits until an upload's part file on the server holds at least `bytes` (a point in the middle of an upload
/// at which a test interrupts it). Returns false after 150 seconds.
func waitForPart(in folder: String, atLeast bytes: Int) async throws -> Bool {
    // By the clock, and generous: on a loaded machine the upload itself may run far below its paced rate.
    let deadline = ContinuousClock.now + .seconds(150)
    while ContinuousClock.now < deadline {
        if let name = (try? FileManager.default.contentsOfDirectory(atPath: folder))?.first(where: { $0.hasSuffix(".part") }),
            let size = try? FileManager.default.attributesOfItem(atPath: folder + "/" + name)[.size] as? Int, size >= bytes
        {
            return true
        }
        try await Task.sleep(for: .milliseconds(5))
    }
    return false
}
