public import FerryLedger
import FerryTLS
import FerryTrace
import FerryWire
import Foundation

/// The client ledger's rows.
extension TransferClient {
    func record(
        _ direction: LedgerEntry.Direction,
        _ operation: LedgerEntry.Operation,
        _ remote: RemoteTarget,
        bytes: Int64,
        sha256: String?,
        started: Date,
        connection: ClientConnection,
        error: String?
    ) async throws {
        guard let ledger else { return }
        try await ledger.record(
            entry(
                direction,
                operation,
                remote,
                bytes: bytes,
                sha256: sha256,
                started: started,
                connection: connection,
                error: error
            )
        )
    }

    /// A ledger row for a transfer on `connection`.
    func entry(
        _ direction: LedgerEntry.Direction,
        _ operation: LedgerEntry.Operation,
        _ remote: RemoteTarget,
        bytes: Int64,
        sha256: String?,
        started: Date,
        connection: ClientConnection,
        error: String?
    ) -> LedgerEntry {
        let snapshot = connection.record.snapshot
        let server = connection.serverIdentity
        var entry = LedgerEntry(
            id: Self.rowID(prefix: ledgerRowPrefix),
            direction: direction,
            partner: remote.partner ?? server?.commonName ?? remote.authority,
            operation: operation,
            path: remote.url,
            bytes: bytes,
            sha256: sha256,
            started: started,
            result: error == nil ? .ok : .failed,
            error: error,
            tlsVersion: snapshot.version?.description,
            cipherSuite: snapshot.cipherSuite?.description,
            peer: server.map(LedgerEntry.PeerCertificate.init)
        )
        if let staged = textStaging?.staged(for: remote.url) {
            entry.fileSHA256 = staged.originalSHA256
            entry.conversion = staged.conversion
        }
        return entry
    }

    /// A ledger row's id: random, after `prefix` and a dash when there is one.
    static func rowID(prefix: String?) -> String {
        let random = UUID().uuidString.lowercased()
        guard let prefix else { return random }
        return prefix + "-" + random.prefix(8)
    }
}
