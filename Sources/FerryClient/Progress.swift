import Foundation
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#endif

/// A one-line progress bar on standard error, shown only when standard error is a terminal.
public final class ProgressDisplay: Sendable {
    private struct State {
        var name = ""
        var total: Int64 = 0
        var done: Int64 = 0
        var started = Date()
        var lastDraw = Date.distantPast
    }

    private let state = NIOLockedValueBox(State())
    private let enabled: Bool

    /// - Parameter enabled: `nil` decides by whether standard error is a terminal.
    public init(enabled: Bool? = nil) {
        self.enabled = enabled ?? (isatty(STDERR_FILENO) == 1)
    }

    func start(name: String, total: Int64) {
        guard enabled else { return }
        state.withLockedValue { $0 = State(name: name, total: total, done: 0, started: Date(), lastDraw: .distantPast) }
    }

    func advance(_ bytes: Int) {
        guard enabled else { return }
        let line: String? = state.withLockedValue { state in
            state.done += Int64(bytes)
            let now = Date()
            guard now.timeIntervalSince(state.lastDraw) >= 0.1 || state.done == state.total else { return nil }
            state.lastDraw = now
            return Self.render(state, now: now)
        }
        if let line { FileHandle.standardError.write(Data(line.utf8)) }
    }

    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }

    private static func render(_ state: State, now: Date) -> String {
        let fraction = state.total > 0 ? min(1, Double(state.done) / Double(state.total)) : 1
        let width = 30
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let seconds = max(now.timeIntervalSince(state.started), 0.001)
        let rate = Double(state.done) / seconds
        return
            "\r\u{1B}[K\(state.name.suffix(30)) [\(bar)] \(Int(fraction * 100))% \(ByteFormat.size(state.done))/\(ByteFormat.size(state.total)) \(ByteFormat.size(Int64(rate)))/s"
    }
}

/// Human-readable sizes (binary units).
public enum ByteFormat {
    public static func size(_ bytes: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
    }
}
