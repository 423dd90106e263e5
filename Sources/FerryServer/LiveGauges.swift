import NIOConcurrencyHelpers

/// Values that are read when metrics are scraped rather than counted as things happen: connections open, uploads
/// in flight. Each part of the server that owns such a value registers a reading of it once.
final class LiveGauges: Sendable {
    /// One reading: a gauge's name, help, labels and value.
    struct Reading: Sendable {
        let name: String
        let help: String
        let labels: [(String, String)]
        let value: Double
    }

    private let readers = NIOLockedValueBox([@Sendable () -> [Reading]]())

    func register(_ reader: @escaping @Sendable () -> [Reading]) {
        readers.withLockedValue { $0.append(reader) }
    }

    func read() -> [Reading] {
        readers.withLockedValue { $0 }.flatMap { $0() }
    }
}
