public import FerryLedger
import FerryProtocol
public import Foundation

extension TransferClient {
    /// Runs one command's work against `target`, then closes the ledger and ends the trace (writing its capture).
    ///
    /// A handshake that fails never reaches a transfer's own ledger row, so it is recorded here: a failed row for
    /// `operation`, with the first lines of the explanation and the finding ids, so `ferry history` shows why.
    public func session<Result>(
        target: RemoteTarget,
        operation: LedgerEntry.Operation,
        direction: LedgerEntry.Direction,
        _ body: (TransferClient, RemoteTarget) async throws -> Result
    ) async throws -> Result {
        let started = Date()
        do {
            let result = try await body(self, target)
            try? await ledger?.close()
            try trace?.finish()
            return result
        } catch {
            if let failure = error as? TransferError, failure.code == .tlsHandshake, let ledger {
                try? await ledger.record(
                    Self.failedHandshakeEntry(
                        failure,
                        target: target,
                        operation: operation,
                        direction: direction,
                        started: started,
                        rowPrefix: ledgerRowPrefix
                    )
                )
            }
            try? await ledger?.close()
            _ = try? trace?.finish()
            throw error
        }
    }

    /// The ledger row of a handshake that failed before any transfer began.
    static func failedHandshakeEntry(
        _ failure: TransferError,
        target: RemoteTarget,
        operation: LedgerEntry.Operation,
        direction: LedgerEntry.Direction,
        started: Date,
        rowPrefix: String? = nil
    ) -> LedgerEntry {
        LedgerEntry(
            id: rowID(prefix: rowPrefix),
            direction: direction,
            partner: target.partner ?? target.authority,
            operation: operation,
            path: target.url,
            bytes: 0,
            sha256: nil,
            started: started,
            result: .failed,
            error: failure.message.split(separator: "\n").prefix(3).joined(separator: " "),
            findings: failure.findings
        )
    }
}
