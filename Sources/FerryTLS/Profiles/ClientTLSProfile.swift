public import Foundation
public import NIOSSL

/// The initiate side: Ferry as the TLS client.
@dynamicMemberLookup
public struct ClientTLSProfile: Sendable, Equatable {
    public var core = TLSProfileCore()
    /// Whether the server's certificate is verified (chain and host name). Off only for tests and emergencies.
    public var verifyServer = true

    public init(certificate: String?, privateKey: String?, trustedCAs: [String]) {
        core.certificate = certificate
        core.privateKey = privateKey
        core.trustedCAs = trustedCAs
    }

    public subscript<T>(dynamicMember keyPath: WritableKeyPath<TLSProfileCore, T>) -> T {
        get { core[keyPath: keyPath] }
        set { core[keyPath: keyPath] = newValue }
    }

    /// A dev PKI client profile.
    public static func dev(_ pki: DevPKI, client: String) -> ClientTLSProfile {
        ClientTLSProfile(
            certificate: pki.clientCertificate(client),
            privateKey: pki.clientKey(client),
            trustedCAs: [pki.caCertificate]
        )
    }

    /// Loads and checks every file and builds the NIOSSL configuration (full server verification, host name
    /// included, unless `verifyServer` is off).
    public func makeConfiguration(
        side: String = "client.tls",
        now: Date = .now,
        environment: [String: String] = ProcessInfo.processInfo.environment
    )
        throws(TLSSetupError) -> ResolvedClientTLS
    {
        let allowedSuites = try core.checkSettings(side: side)
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = verifyServer ? .fullVerification : .none
        configuration.applicationProtocols = ["http/1.1"]
        let trust = try core.loadTrust()
        var warnings = try core.apply(to: &configuration, trust: trust, side: side)
        let (revocation, crlWarnings) = try core.loadRevocation(trust: trust, side: side, now: now)
        warnings += crlWarnings
        if !verifyServer {
            warnings.append(
                "\(side).verify is off: the server's certificate is not checked, so anyone on the path can pose as the partner and read or change the files"
            )
        }
        var identity: TLSIdentity?
        switch (core.certificate, core.privateKey) {
        case (let cert?, let key?):
            let loaded = try CertificateFiles.loadIdentity(
                certificate: cert,
                key: key,
                passphrase: core.passphrase,
                role: .client,
                now: now,
                environment: environment
            )
            configuration.certificateChain = loaded.chain.map { .certificate($0) }
            configuration.privateKey = .privateKey(loaded.privateKey)
            identity = loaded
        case (nil, nil):
            break
        case (.some, nil):
            throw TLSSetupError(
                .incomplete,
                subject: "--key",
                problem: "a client certificate was given without its private key",
                fix: "pass --key KEY.pem as well"
            )
        case (nil, .some):
            throw TLSSetupError(
                .incomplete,
                subject: "--cert",
                problem: "a private key was given without its certificate",
                fix: "pass --cert CERT.pem as well"
            )
        }
        return ResolvedClientTLS(
            configuration: configuration,
            identity: identity,
            peerPolicy: PeerPolicy(verifyDepth: core.verifyDepth, tls13Suites: allowedSuites, revocation: revocation),
            warnings: warnings
        )
    }
}

/// A client profile after loading.
public struct ResolvedClientTLS: Sendable {
    public let configuration: TLSConfiguration
    public let identity: TLSIdentity?
    public let peerPolicy: PeerPolicy
    /// Loosened settings, each with its risk; printed once per command.
    public let warnings: [String]
    /// The client certificate's subject (RFC 4514), worked out once for every result and ledger row.
    public let clientSubject: String?

    public init(
        configuration: TLSConfiguration,
        identity: TLSIdentity?,
        peerPolicy: PeerPolicy = PeerPolicy(),
        warnings: [String] = []
    ) {
        self.configuration = configuration
        self.identity = identity
        self.peerPolicy = peerPolicy
        self.warnings = warnings
        self.clientSubject = identity.map { PeerIdentity(certificate: $0.leaf).subject }
    }
}
