import Foundation

/// Waits until an upload's part file on the server holds at least `bytes` (a point in the middle of an upload
/// at which a test interrupts it). Returns false after about 15 seconds.
func waitForPart(in folder: String, atLeast bytes: Int) async throws -> Bool {
    for _ in 0..<3000 {
        if let name = (try? FileManager.default.contentsOfDirectory(atPath: folder))?.first(where: { $0.hasSuffix(".part") }),
            let size = try? FileManager.default.attributesOfItem(atPath: folder + "/" + name)[.size] as? Int, size >= bytes
        {
            return true
        }
        try await Task.sleep(for: .milliseconds(5))
    }
    return false
}
