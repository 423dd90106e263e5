public import FerryProtocol

/// A failed client operation: what happened, in words a user can act on, and the exit code it maps to.
public struct TransferError: Error, Sendable, CustomStringConvertible {
    public let exitCode: FerryExitCode
    public let message: String
    /// The server's problem, when it sent one.
    public let problem: Problem?
    /// Diagnosis finding ids, for a failed handshake (e.g. `peer-alert`, `client-issuer-not-in-ca-names`).
    public var findings: [String] = []

    public init(_ exitCode: FerryExitCode, _ message: String, problem: Problem? = nil) {
        self.exitCode = exitCode
        self.message = message
        self.problem = problem
    }

    public var description: String { message }
}
