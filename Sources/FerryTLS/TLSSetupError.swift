/// A TLS setup problem found at load time: names the file, what is wrong and what to do.
public struct TLSSetupError: Error, Sendable, CustomStringConvertible {
    /// What kind of setup problem it is. A struct over a private set, so a new kind is not a breaking change;
    /// ``id`` is the stable identifier.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        public let id: String
        private init(_ id: String) { self.id = id }

        public static let unreadable = Code("file-unreadable")
        public static let notPEM = Code("not-pem")
        public static let keyMismatch = Code("key-certificate-mismatch")
        public static let expired = Code("certificate-expired")
        public static let notYetValid = Code("certificate-not-yet-valid")
        public static let wrongUsage = Code("certificate-wrong-eku")
        public static let noCertificates = Code("no-certificates")
        public static let badVersion = Code("bad-protocol-version")
        public static let incomplete = Code("incomplete-profile")
        public static let badCipher = Code("bad-cipher-setting")
        public static let wrongPassphrase = Code("key-passphrase")
        public static let badCRL = Code("crl-invalid")

        /// Every kind there is.
        public static let all: [Code] = [
            unreadable, notPEM, keyMismatch, expired, notYetValid, wrongUsage, noCertificates, badVersion, incomplete,
            badCipher, wrongPassphrase, badCRL,
        ]

        public var description: String { id }
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
    public var shortDescription: String { code.id }

    public var description: String { "\(subject): \(problem). Fix: \(fix)" }
}
