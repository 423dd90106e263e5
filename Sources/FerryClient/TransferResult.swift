public import Foundation

/// What one transfer did, for the human report, `--json` and the ledger.
public struct TransferResult: Codable, Sendable, Equatable {
    public var operation: String
    public var local: String
    public var remote: String
    public var bytes: Int64
    public var sha256: String
    /// Whether the server's digest matched ours.
    public var verified: Bool
    public var seconds: Double
    public var bytesPerSecond: Double
    public var tlsVersion: String?
    public var cipherSuite: String?
    public var serverSubject: String?
    public var serverIssuer: String?
    public var clientSubject: String?
    /// The HTTP status the server answered with.
    public var status: Int
    /// `PUT` (whole file), `batch` (with other small files in one request) or `tus` (resumable).
    public var method: String = "PUT"
    /// For a resumed upload: the offset this run continued from (bytes sent by earlier runs).
    public var resumedFrom: Int64 = 0
    /// Bytes put on the wire by this run, retries included.
    public var sentThisRun: Int64 = 0
    /// Attempts this run needed (1 without retries).
    public var attempts: Int = 1
    /// The offset each attempt of a resumable transfer started from (a retry continues, it does not start over).
    public var attemptOffsets: [Int64] = []
    /// Text mode: the SHA-256 of the local file (the text sent, or the text written), where `sha256` is the
    /// wire's.
    public var fileSHA256: String?
    /// Text mode: the conversion's settings and what it substituted, split or truncated.
    public var conversion: String?
}

extension TransferResult {
    /// The result of a file sent from a staged conversion: named by the user's file, with its digest.
    func sentInTextMode(_ staged: TextStaging.Staged?) -> TransferResult {
        guard let staged else { return self }
        var result = self
        result.local = staged.original
        result.fileSHA256 = staged.originalSHA256
        result.conversion = staged.conversion
        return result
    }
}
