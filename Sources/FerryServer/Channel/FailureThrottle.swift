import NIOConcurrencyHelpers
import NIOCore

/// Decides which failed handshakes are recorded in full (ledger row, log with trace, capture) and which are only
/// counted: per source address at most `perSource` in each window, and at most `total` from all sources, so a
/// flood of plaintext or broken connections costs a counter, not a row, seven log lines and a file each. The
/// counted ones are reported once per window and source as a summary.
final class FailureThrottle: Sendable {
    let window: TimeAmount
    let perSource: Int
    let total: Int

    private struct State {
        /// Opened by the first failure after a quiet spell, so a flood spans as few windows as its length allows.
        var windowStart: NIODeadline?
        var detailed: [String: Int] = [:]
        var suppressed: [String: Int] = [:]
        var detailedTotal = 0
    }

    private let state = NIOLockedValueBox(State())

    init(window: TimeAmount = .seconds(60), perSource: Int = 5, total: Int = 100) {
        self.window = window
        self.perSource = perSource
        self.total = total
    }

    /// What to do with one failed handshake from `source`.
    struct Decision {
        /// Record this one in full.
        let detailed: Bool
        /// Failures counted but not recorded in the window that just ended, by source: report them now.
        let summaries: [(source: String, count: Int)]
    }

    func admit(source: String, now: NIODeadline = .now()) -> Decision {
        state.withLockedValue { state in
            var summaries: [(String, Int)] = []
            if let start = state.windowStart, now - start >= window {
                summaries = state.suppressed.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
                state = State()
            }
            if state.windowStart == nil { state.windowStart = now }
            let fromSource = state.detailed[source, default: 0]
            if fromSource < perSource, state.detailedTotal < total {
                state.detailed[source] = fromSource + 1
                state.detailedTotal += 1
                return Decision(detailed: true, summaries: summaries)
            }
            // Bounded: beyond 10,000 sources in one window the rest are counted under one key.
            let key = state.suppressed.count < 10_000 || state.suppressed[source] != nil ? source : "other addresses"
            state.suppressed[key, default: 0] += 1
            return Decision(detailed: false, summaries: summaries)
        }
    }
}
