import FerryTestSupport
import Foundation

/// A real packet capture with dumpcap (Wireshark's capture engine) on a loopback port, around a test's
/// traffic. Needs root or the capture capability; CI runs as root.
enum PacketCapture {
    /// Captures TCP port `port` on `interface` while `body` runs; returns the capture file, or nil when dumpcap
    /// is missing on a developer's machine (a message says the check is skipped).
    static func record(
        port: Int,
        interface: String = "lo",
        into file: String,
        classicPcap: Bool = false,
        _ body: () async throws -> Void
    ) async throws -> String? {
        let dumpcap = try ExternalTool.require("dumpcap", installHint: "apt-get install tshark")
        let capture = try BackgroundProcess(
            dumpcap,
            ["-q", "-i", interface, "-f", "tcp port \(port)", "-w", file] + (classicPcap ? ["-P"] : [])
        )
        // dumpcap writes the file's header blocks once it is capturing.
        var ready = false
        for _ in 0..<500 where !ready {
            try await Task.sleep(for: .milliseconds(20))
            let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0
            ready = size > 0
            if !capture.isRunning { break }
        }
        guard ready else {
            await capture.stop()
            throw CaptureFailure(log: capture.output)
        }
        do {
            try await body()
        } catch {
            await capture.stop(signal: SIGINT)
            throw error
        }
        // Let the last packets reach the file.
        try await Task.sleep(for: .milliseconds(300))
        await capture.stop(signal: SIGINT)
        return file
    }

    struct CaptureFailure: Error, CustomStringConvertible {
        let log: String
        var description: String { "dumpcap did not start capturing (root or CAP_NET_RAW is needed): \(log)" }
    }
}
