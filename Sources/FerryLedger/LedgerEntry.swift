public import FerryTLS
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

    /// What was done. A registry, not free text: every operation a row may carry is listed here once.
    public struct Operation: Hashable, Sendable, Codable, CustomStringConvertible {
        public let name: String
        private init(_ name: String) { self.name = name }

        /// A file sent with one request (`ferry send`, a batch member, a partner's `PUT`).
        public static let put = Operation("PUT")
        /// A file fetched (`ferry get`, a partner's `GET`).
        public static let get = Operation("GET")
        /// A file or empty folder removed.
        public static let delete = Operation("DELETE")
        /// A resumable (tus) upload, recorded once when it completes or fails for good.
        public static let tus = Operation("TUS")
        /// A folder listed.
        public static let list = Operation("LIST")
        /// A `ferry send` whose handshake failed before any file was chosen to go.
        public static let send = Operation("SEND")
        /// A TLS handshake that failed: a transfer that never started.
        public static let tls = Operation("TLS")
        /// One delivery of an action (a command with its exit status and output tail, a webhook, a move, copy
        /// or forward); the path is `ACTION EVENT-TYPE`.
        public static let action = Operation("ACTION")

        public static let all: [Operation] = [.put, .get, .delete, .tus, .list, .send, .tls, .action]

        /// The operation a stored row names; a name this version does not know (a newer writer's) is kept as it is.
        init(stored name: String) {
            self = Self.all.first { $0.name == name } ?? Operation(name)
        }

        /// The operation with this name, if it is one of the registry's.
        public static func named(_ name: String) -> Operation? { all.first { $0.name == name.uppercased() } }

        public var description: String { name }

        public init(from decoder: any Decoder) throws {
            self.init(stored: try decoder.singleValueContainer().decode(String.self))
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(name)
        }
    }

    /// The certificate the other side presented. A row keeps one format for it wherever it comes from: the
    /// serial number in lowercase hexadecimal without separators, and a certificate that was not accepted marked
    /// `unverified: ` before its subject and issuer (it names no partner).
    public struct PeerCertificate: Sendable, Equatable {
        public var subject: String
        public var issuer: String
        public var serial: String
        public var verified: Bool

        public init(subject: String, issuer: String, serial: String, verified: Bool = true) {
            self.subject = subject
            self.issuer = issuer
            self.serial = Self.normalised(serial: serial)
            self.verified = verified
        }

        /// `0A:1B:2c` and `0a1b2c` are one serial: `0a1b2c`. Text that is not hexadecimal is kept as given.
        static func normalised(serial: String) -> String {
            let digits = serial.filter { $0 != ":" && $0 != " " }.lowercased()
            return !digits.isEmpty && digits.allSatisfy(\.isHexDigit) ? digits : serial
        }
    }

    public var id: String
    public var direction: Direction
    /// The partner: for a server, the client's partner name; for a client, the server or partner it talked to.
    public var partner: String
    /// The operation (`PUT`, `GET`, `DELETE`, ...).
    public var operation: Operation
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
    /// Lowercase hexadecimal, no separators.
    public var peerSerial: String?

    /// The peer's certificate fields, set together in the one format rows keep.
    public var peer: PeerCertificate? {
        get {
            guard let peerSubject, let peerIssuer else { return nil }
            let unverified = "unverified: "
            let verified = !peerSubject.hasPrefix(unverified)
            return PeerCertificate(
                subject: verified ? peerSubject : String(peerSubject.dropFirst(unverified.count)),
                issuer: verified ? peerIssuer : String(peerIssuer.dropFirst(unverified.count)),
                serial: peerSerial ?? "",
                verified: verified
            )
        }
        set {
            let mark = newValue?.verified == false ? "unverified: " : ""
            peerSubject = newValue.map { mark + $0.subject }
            peerIssuer = newValue.map { mark + $0.issuer }
            peerSerial = newValue.map(\.serial)
        }
    }
    /// Diagnosis finding ids of a failed handshake (`peer-alert`, `ca-names-empty-illegal`, ...).
    public var findings: [String] = []
    /// A text-mode transfer: the SHA-256 of the file as this side keeps it (converted from or to the bytes on the
    /// wire, which `sha256` covers).
    public var fileSHA256: String?
    /// A text-mode transfer: the conversion's settings and what it did (substitutions, split records), enough to
    /// replay it with `ferry convert`.
    public var conversion: String?

    public init(
        id: String = UUID().uuidString.lowercased(),
        direction: Direction,
        partner: String,
        operation: Operation,
        path: String,
        bytes: Int64,
        sha256: String?,
        started: Date,
        ended: Date = .now,
        result: Result,
        error: String? = nil,
        tlsVersion: String? = nil,
        cipherSuite: String? = nil,
        peer: PeerCertificate? = nil,
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
        self.findings = findings
        self.peer = peer
    }
}

extension LedgerEntry.PeerCertificate {
    /// The view of a certificate this side accepted.
    public init(_ identity: PeerIdentity) {
        self.init(subject: identity.subject, issuer: identity.issuer, serial: identity.serial)
    }
}
