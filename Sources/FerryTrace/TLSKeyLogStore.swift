public import FerryWire
import NIOConcurrencyHelpers
public import NIOCore
public import NIOSSL

/// Collects the NSS key-log lines a TLS context reports (NIOSSL's `keyLogCallback`), so traces can decrypt
/// the encrypted part of a handshake. Bounded: the oldest lines go first; a connection's lines are dropped
/// when it closes (`forget`).
public final class TLSKeyLogStore: Sendable {
    private let lines = NIOLockedValueBox([(random: [UInt8], line: String)]())
    public let capacity: Int

    public init(capacity: Int = 4096) {
        self.capacity = capacity
    }

    /// The callback to set as `TLSConfiguration.keyLogCallback`.
    public var callback: NIOSSLKeyLogCallback {
        { [self] buffer in
            self.add(String(buffer: buffer))
        }
    }

    public func add(_ text: String) {
        for line in text.split(whereSeparator: \.isNewline) {
            var log = TLSKeyLog()
            guard log.add(line: String(line)), let random = log.secrets.keys.first else { continue }
            lines.withLockedValue { lines in
                lines.append((random, String(line)))
                if lines.count > capacity { lines.removeFirst(lines.count - capacity) }
            }
        }
    }

    /// The lines of one connection (by its ClientHello random).
    public func keyLog(for clientRandom: [UInt8]) -> TLSKeyLog {
        var log = TLSKeyLog()
        for entry in lines.withLockedValue({ $0 }) where entry.random == clientRandom {
            log.add(line: entry.line)
        }
        return log
    }

    public func forget(_ clientRandom: [UInt8]) {
        lines.withLockedValue { $0.removeAll { $0.random == clientRandom } }
    }
}
