public import FerryProtocol
import NIOHTTP1

/// A failed client operation: what happened, in words a user can act on, and what kind of failure it is (the
/// command line maps the kind to an exit code).
public struct TransferError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure. A struct over a private set, so a new kind is not a breaking change.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Value: String, Sendable, Hashable {
            case usage
            case tlsHandshake = "tls-handshake"
            case rejected, integrity, network
            case localIO = "local-io"
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
    /// A handshake failure whose diagnosis names a cause a person must fix (a configuration, a certificate, the
    /// partner's server), as opposed to one cut by the network.
    public var needsFix = false

    /// Whether trying again later may succeed without anyone changing anything: a dropped or refused connection,
    /// a 5xx, a busy server, a handshake cut by the network. A queued transfer retries these and fails at once on
    /// the rest (unless told to retry configuration errors too).
    public var worthRetryingLater: Bool { code == .network || (code == .tlsHandshake && !needsFix) }

    public init(_ code: Code, _ message: String, problem: Problem? = nil) {
        self.code = code
        self.message = message
        self.problem = problem
    }

    public var description: String { message }
}

extension TransferError {
    /// A server's refusal as a transfer error: 5xx and the refusals that mean "not now" (408 timeout, 423 locked by
    /// a request that has not yet noticed its dropped connection, 429 too many requests) are worth a retry
    /// (`.network`); the rest is final (`.rejected`). 507 is final: the server's disk will not empty itself within
    /// this run, and neither does a quota (whatever its status: 413, 429, 507).
    static func refused(status: Int, problem: Problem?, doing what: String) -> TransferError {
        let reason =
            problem.map { $0.detail ?? $0.title } ?? "\(status) \(HTTPResponseStatus(statusCode: status).reasonPhrase)"
        let quota = problem?.slug == ProblemKind.quotaExceeded.slug
        let transient = !quota && ((status >= 500 && status != 507) || [408, 423, 429].contains(status))
        let full = status == 507 && !quota ? "; the server is out of space: ask its operator, or retry later" : ""
        return TransferError(
            transient ? .network : .rejected,
            "\(what) refused by the server (\(status)): \(TerminalText.escaped(reason))\(full)",
            problem: problem
        )
    }
}
