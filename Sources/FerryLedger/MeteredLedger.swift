public import FerryProtocol
public import Foundation
import NIOConcurrencyHelpers
public import Prometheus

/// The server's ledger, counted as it is written: every row that reaches the ledger is a finished transfer, a failed
/// handshake or an action, so the metrics come from the one place every outcome passes, and agree with the ledger.
/// Label sets are bounded: no paths; operations, results and directions are fixed; finding ids come from the
/// catalogue; partners are counted by name up to `maximumPartners`, then as `other`.
public final class MeteredLedger: Ledger, DigestIndex {
    let inner: any Ledger & DigestIndex
    public let registry: PrometheusCollectorRegistry
    let maximumPartners: Int
    private let partners = NIOLockedValueBox(Set<String>())
    private let writes: DurationHistogram

    public init(_ inner: any Ledger & DigestIndex, registry: PrometheusCollectorRegistry, maximumPartners: Int = 200) {
        self.inner = inner
        self.registry = registry
        self.maximumPartners = maximumPartners
        writes = registry.makeDurationHistogram(
            name: "ferry_ledger_write_seconds",
            labels: [],
            buckets: [
                .milliseconds(1), .milliseconds(5), .milliseconds(20), .milliseconds(100), .milliseconds(500),
                .seconds(2), .seconds(10),
            ],
            help: "Time to append rows to the ledger (a batch is one write)"
        )
    }

    /// The partner as a label value: its name while fewer than `maximumPartners` names have been seen, else `other`.
    func partnerLabel(_ name: String) -> String {
        partners.withLockedValue { seen in
            if seen.contains(name) { return name }
            guard seen.count < maximumPartners else { return "other" }
            seen.insert(name)
            return name
        }
    }

    public func record(_ entries: [LedgerEntry]) async throws {
        let started = ContinuousClock.now
        try await inner.record(entries)
        writes.record(ContinuousClock.now - started)
        for entry in entries { count(entry) }
    }

    private func count(_ entry: LedgerEntry) {
        if entry.operation == .tls {
            for finding in entry.findings.isEmpty ? ["none"] : entry.findings {
                registry.makeCounter(
                    name: "ferry_handshake_failures_total",
                    labels: [("finding", finding)],
                    help: "Failed TLS handshakes that got a ledger row, by diagnosis finding"
                ).increment()
            }
            return
        }
        let partner = partnerLabel(entry.partner)
        registry.makeCounter(
            name: "ferry_transfers_total",
            labels: [
                ("direction", entry.direction.rawValue), ("operation", entry.operation.name),
                ("result", entry.result.rawValue), ("partner", partner),
            ],
            help: "Finished transfers by direction, operation, result and partner"
        ).increment()
        if entry.result == .ok, entry.bytes > 0 {
            registry.makeCounter(
                name: "ferry_transfer_bytes_total",
                labels: [("direction", entry.direction.rawValue), ("partner", partner)],
                help: "Bytes of the transfers that succeeded, by direction and partner"
            ).increment(by: entry.bytes)
        }
        registry.makeDurationHistogram(
            name: "ferry_transfer_duration_seconds",
            labels: [("operation", entry.operation.name)],
            buckets: [
                .milliseconds(10), .milliseconds(100), .seconds(1), .seconds(10), .seconds(60), .seconds(600),
                .seconds(3600),
            ],
            help: "Transfer durations, from the request to its ledger row"
        ).record(.nanoseconds(Int64(max(0, entry.ended.timeIntervalSince(entry.started)) * 1e9)))
    }

    public func transfers(_ query: LedgerQuery) async throws -> LedgerPage { try await inner.transfers(query) }

    @discardableResult
    public func removeTransfers(endedBefore date: Date) async throws -> Int {
        try await inner.removeTransfers(endedBefore: date)
    }

    public func close() async throws { try await inner.close() }

    public func digests(for stamps: [String: FileStamp]) async throws -> [String: String] {
        try await inner.digests(for: stamps)
    }

    public func remember(_ digests: [KnownDigest]) async throws { try await inner.remember(digests) }

    public func forget(path: String) async throws { try await inner.forget(path: path) }
}
