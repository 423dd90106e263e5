public import Foundation
public import NIOSSL
public import X509

/// Whether the server asks for a client certificate.
public enum ClientAuthentication: String, Sendable, CaseIterable {
    /// A certificate is requested and must be valid; the handshake fails without one.
    case required
    /// A certificate is requested and verified when sent; connections without one are let in.
    case optional
    /// No certificate is requested.
    case none
}

/// The receive side: Ferry as the TLS server.
///
/// Safe defaults: TLS 1.2 minimum, ECDHE with AEAD ciphers, client certificate required, and the CA names of
/// every trusted CA sent in the CertificateRequest (swift-nio-ssl only sends them with explicit trust roots,
/// which this profile always uses).
@dynamicMemberLookup
public struct ServerTLSProfile: Sendable, Equatable {
    public var core = TLSProfileCore()
    public var clientAuthentication: ClientAuthentication = .required
    public var sendCANames: Bool = true
    /// Further files whose change reloads the context (the partner bindings' CA files).
    public var watchedFiles: [String] = []

    public init(certificate: String, privateKey: String, trustedCAs: [String]) {
        core.certificate = certificate
        core.privateKey = privateKey
        core.trustedCAs = trustedCAs
    }

    public init(core: TLSProfileCore) {
        self.core = core
    }

    public subscript<T>(dynamicMember keyPath: WritableKeyPath<TLSProfileCore, T>) -> T {
        get { core[keyPath: keyPath] }
        set { core[keyPath: keyPath] = newValue }
    }

    /// The dev PKI's server profile.
    public static func dev(_ pki: DevPKI) -> ServerTLSProfile {
        ServerTLSProfile(certificate: pki.serverCertificate, privateKey: pki.serverKey, trustedCAs: [pki.caCertificate])
    }

    /// Loads and checks every file and builds the NIOSSL configuration and context.
    ///
    /// - Returns: the context, the loaded identity, and warnings about loosened settings.
    /// - Parameter keyLog: receives the connections' TLS secrets (kept in memory for handshake traces).
    public func makeConfiguration(
        now: Date = .now,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        keyLog: NIOSSLKeyLogCallback? = nil
    ) throws(TLSSetupError) -> ResolvedServerTLS {
        let side = "server.tls"
        guard let certificate = core.certificate, let privateKey = core.privateKey else {
            throw TLSSetupError(
                .incomplete,
                subject: side,
                problem: "the receive side needs a certificate and its private key",
                fix:
                    "set server.tls.certificate and server.tls.key (or [CERTIFICATE] and [PRIVATEKEY] RECEIVE_SIDE in a configssl.cnf)"
            )
        }
        let allowedSuites = try core.checkSettings(side: side)
        let identity = try CertificateFiles.loadIdentity(
            certificate: certificate,
            key: privateKey,
            passphrase: core.passphrase,
            role: .server,
            now: now,
            environment: environment
        )
        let trust = try core.loadTrust()
        if clientAuthentication != .none && trust.files.isEmpty {
            throw TLSSetupError(
                .incomplete,
                subject: "server.tls.ca",
                problem: "client certificates are \(clientAuthentication.rawValue) but no CA file is configured",
                fix: "set server.tls.ca to the CA file that issued your partners' certificates"
            )
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: identity.chain.map { .certificate($0) },
            privateKey: .privateKey(identity.privateKey)
        )
        var warnings = try core.apply(to: &configuration, trust: trust, side: side)
        let (revocation, crlWarnings) = try core.loadRevocation(trust: trust, side: side, now: now)
        warnings += crlWarnings
        if trust.files.isEmpty {
            // Explicit (empty) roots without client certificates, so that NIOSSL never falls back to the system store.
            configuration.trustRoots = .certificates([])
        }
        switch clientAuthentication {
        case .required: configuration.certificateVerification = .noHostnameVerification
        case .optional: configuration.certificateVerification = .optionalVerification
        case .none: configuration.certificateVerification = .none
        }
        configuration.sendCANameList = sendCANames && clientAuthentication != .none
        if clientAuthentication != .required {
            warnings.append(
                "server.tls.client-auth is \(clientAuthentication.rawValue): connections without a client certificate have no partner identity and are refused by the file routes"
            )
        }
        if !sendCANames && clientAuthentication != .none {
            warnings.append(
                "server.tls.send-ca-names is off: the CertificateRequest carries no CA names, which strict clients (IBM System SSL under SSLv3/TLS 1.0) reject and which makes other clients guess their certificate"
            )
        }
        configuration.keyLogCallback = keyLog
        // HTTP/2 first, HTTP/1.1 for clients that do not offer h2 (curl --http1.1, Ferry's own client).
        configuration.applicationProtocols = ["h2", "http/1.1"]
        let context: NIOSSLContext
        do {
            context = try NIOSSLContext(configuration: configuration)
        } catch let error {
            throw TLSSetupError(
                .notPEM,
                subject: certificate,
                problem: "BoringSSL refuses this profile (\(error))",
                fix: "check the certificate, key and CA files with `ferry config check`"
            )
        }
        return ResolvedServerTLS(
            configuration: configuration,
            context: context,
            identity: identity,
            trustedCertificates: trust.certificates,
            files: [certificate, privateKey] + trust.files + core.passphraseFiles
                + (core.caDirectory.map { [$0] } ?? []) + core.crlFiles + watchedFiles,
            peerPolicy: PeerPolicy(verifyDepth: core.verifyDepth, tls13Suites: allowedSuites, revocation: revocation),
            warnings: warnings
        )
    }
}

/// A server profile after loading: what NIOSSL needs and what the operator should know.
public struct ResolvedServerTLS: Sendable {
    public let configuration: TLSConfiguration
    /// Built once per load; a reload builds a new one.
    public let context: NIOSSLContext
    public let identity: TLSIdentity
    /// The trusted CA certificates with their files (for expiry checks and display).
    public let trustedCertificates: [(file: String, certificate: Certificate)]
    /// The files this context was built from; a change to any of them triggers a reload.
    public let files: [String]
    public let peerPolicy: PeerPolicy
    public let warnings: [String]

    /// A TLS handler for one new connection; `onVerified` receives the verified chain, anchor first (DER).
    public func makeHandler(
        onReject: @escaping @Sendable (PeerRefusal) -> Void = { _ in },
        onVerified: @escaping @Sendable ([UInt8]) -> Void = { _ in }
    ) throws -> NIOSSLServerHandler {
        try peerPolicy.makeServerHandler(context: context, onReject: onReject, onVerified: onVerified)
    }
}

extension TLSProfileCore {
    /// The pass phrase file, if the pass phrase comes from one (watched for changes like the key).
    var passphraseFiles: [String] {
        if case .file(let path) = passphrase { return [path] }
        return []
    }
}
