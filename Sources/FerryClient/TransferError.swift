public import FerryProtocol

/// A failed client operation: what happened, in words a user can act on, and what kind of failure it is (the
/// command line maps the kind to an exit code).
public struct TransferError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure. A struct over a private set, so a new kind is not a breaking change.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Value: String, Sendable, Hashable {
            case usage, tlsHandshake = "tls-handshake", rejected, integrity, network, localIO = "local-io"
        }

        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// Bad arguments or configuration: nothing was tried.
        public static let usage = Code(.usage)
        /// The TLS handshake failed (the findings say why).
        public static let tlsHandshake = Code(.tlsHandshake)
        /// The server refused (its problem says why); retrying the same request will not help.
        public static let rejected = Code(.rejected)
        /// The bytes did not match their SHA-256.
        public static let integrity = Code(.integrity)
        /// The connection failed, stalled or the server answered 5xx: retried, and worth retrying later.
        public static let network = Code(.network)
        /// A local file could not be read or written.
        public static let localIO = Code(.localIO)

        public var description: String { value.rawValue }
    }

    public let code: Code
    public let message: String
    /// The server's problem, when it sent one.
    public let problem: Problem?
    /// Diagnosis finding ids, for a failed handshake (e.g. `peer-alert`, `client-issuer-not-in-ca-names`).
    public var findings: [String] = []

    public init(_ code: Code, _ message: String, problem: Problem? = nil) {
        self.code = code
        self.message = message
        self.problem = problem
    }

    public var description: String { message }
}
