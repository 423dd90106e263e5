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
}
