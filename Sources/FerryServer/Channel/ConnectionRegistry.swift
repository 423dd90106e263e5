public import FerryTrace
import NIOConcurrencyHelpers
public import NIOCore

/// Maps each live TLS connection to its record, so a request (HTTP/1.1 connection or HTTP/2 stream) finds the
/// TLS facts of its connection without a hop to the event loop.
public final class ConnectionRegistry: Sendable {
    private struct Entry {
        let channel: any Channel
        let record: TLSConnectionRecord
        /// The server (its TLS context) the connection belongs to: several servers may share one process.
        let owner: ObjectIdentifier
    }

    private let records = NIOLockedValueBox([ObjectIdentifier: Entry]())

    public init() {}

    func register(_ channel: any Channel, record: TLSConnectionRecord, owner: AnyObject) {
        records.withLockedValue {
            $0[ObjectIdentifier(channel)] = Entry(channel: channel, record: record, owner: ObjectIdentifier(owner))
        }
    }

    /// The open connections of one server.
    func connections(of owner: AnyObject) -> [(channel: any Channel, record: TLSConnectionRecord)] {
        let owner = ObjectIdentifier(owner)
        return records.withLockedValue { $0.values.filter { $0.owner == owner }.map { ($0.channel, $0.record) } }
    }

    func remove(_ channel: any Channel) {
        _ = records.withLockedValue { $0.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    /// The record of the connection a request channel belongs to (itself, or its parent for an HTTP/2 stream).
    public func record(for channel: any Channel) -> TLSConnectionRecord? {
        records.withLockedValue { records in
            (records[ObjectIdentifier(channel)] ?? channel.parent.flatMap { records[ObjectIdentifier($0)] })?.record
        }
    }
}
