public import Foundation

/// One transfer, as the ledger keeps it.
public struct LedgerEntry: Codable, Sendable, Equatable {
    /// Whether the bytes came in to this side or went out from it.
    public enum Direction: String, Codable, Sendable {
        case inbound = "in"
        case outbound = "out"
    }

    /// The outcome.
    public enum Result: String, Codable, Sendable {
        case ok
        case failed
    }

    public var id: String
    public var direction: Direction
    /// The partner: for a server, the client's partner name; for a client, the server or partner it talked to.
    public var partner: String
    /// The operation (`PUT`, `GET`, `DELETE`, ...).
    public var operation: String
    public var path: String
    public var bytes: Int64
    public var sha256: String?
    public var started: Date
    public var ended: Date
    public var result: Result
    public var error: String?
    public var tlsVersion: String?
    public var cipherSuite: String?
    public var peerSubject: String?
    public var peerIssuer: String?
    public var peerSerial: String?
    /// Diagnosis finding ids of a failed handshake (`peer-alert`, `ca-names-empty-illegal`, ...).
    public var findings: [String] = []

    public init(
        id: String = UUID().uuidString.lowercased(),
        direction: Direction,
        partner: String,
        operation: String,
        path: String,
        bytes: Int64,
        sha256: String?,
        started: Date,
        ended: Date = .now,
        result: Result,
        error: String? = nil,
        tlsVersion: String? = nil,
        cipherSuite: String? = nil,
        peerSubject: String? = nil,
        peerIssuer: String? = nil,
        peerSerial: String? = nil,
        findings: [String] = []
    ) {
        self.id = id
        self.direction = direction
        self.partner = partner
        self.operation = operation
        self.path = path
        self.bytes = bytes
        self.sha256 = sha256
        self.started = started
        self.ended = ended
        self.result = result
        self.error = error
        self.tlsVersion = tlsVersion
        self.cipherSuite = cipherSuite
        self.peerSubject = peerSubject
        self.peerIssuer = peerIssuer
        self.peerSerial = peerSerial
        self.findings = findings
    }
}
