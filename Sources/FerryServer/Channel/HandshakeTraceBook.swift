public import FerryDiagnosis
import NIOConcurrencyHelpers

/// The traces and findings (with their evidence) of the most recent failed handshakes, by ledger row id, for the
/// operator's console. The ledger keeps only the finding ids of each failure; the trace itself is in the log (and
/// in a capture, with `pcapng-dir`), so the console shows it while the server still holds it: the last
/// `capacity` failures since the server started.
public final class HandshakeTraceBook: Sendable {
    /// What the server saw of one failed handshake.
    public struct Record: Sendable {
        /// The handshake as `ferry trace` shows it (`->` sent by this server), control characters escaped.
        public let trace: String
        /// The diagnosis, with the evidence of this handshake.
        public let findings: [Finding]
    }

    public let capacity: Int
    private let state = NIOLockedValueBox((records: [String: Record](), order: [String]()))

    public init(capacity: Int = 200) {
        self.capacity = max(1, capacity)
    }

    func keep(_ record: Record, id: String) {
        state.withLockedValue { state in
            if state.records.updateValue(record, forKey: id) == nil { state.order.append(id) }
            while state.order.count > capacity {
                state.records[state.order.removeFirst()] = nil
            }
        }
    }

    /// The record of the ledger row `id`, if the server still holds it.
    public func record(id: String) -> Record? {
        state.withLockedValue { $0.records[id] }
    }
}
