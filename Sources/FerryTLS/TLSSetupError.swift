/// A TLS setup problem found at load time: names the file, what is wrong and what to do.
public struct TLSSetupError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case unreadable = "file-unreadable"
        case notPEM = "not-pem"
        case keyMismatch = "key-certificate-mismatch"
        case expired = "certificate-expired"
        case notYetValid = "certificate-not-yet-valid"
        case wrongUsage = "certificate-wrong-eku"
        case noCertificates = "no-certificates"
        case badVersion = "bad-protocol-version"
        case incomplete = "incomplete-profile"
        case badCipher = "bad-cipher-setting"
        case wrongPassphrase = "key-passphrase"
        case badCRL = "crl-invalid"
    }

    public let code: Code
    /// The file (or setting) concerned.
    public let subject: String
    /// What is wrong.
    public let problem: String
    /// What to do about it.
    public let fix: String

    init(_ code: Code, subject: String, problem: String, fix: String) {
        self.code = code
        self.subject = subject
        self.problem = problem
        self.fix = fix
    }

    /// A stable identifier of the problem.
    public var shortDescription: String { code.rawValue }

    public var description: String { "\(subject): \(problem). Fix: \(fix)" }
}
