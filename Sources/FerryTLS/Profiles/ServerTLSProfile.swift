public import Foundation
public import NIOSSL

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
/// Safe defaults: TLS 1.2 minimum, client certificate required, and the CA names of every trusted CA sent in
/// the CertificateRequest (swift-nio-ssl only sends them with explicit trust roots, which this profile always
/// uses).
public struct ServerTLSProfile: Sendable {
    public var certificate: String
    public var privateKey: String
    /// CA files whose certificates are trusted for client certificates; all their names are sent.
    public var trustedCAs: [String]
    public var minimumVersion: TLSVersion = .tlsv12
    public var maximumVersion: TLSVersion = .tlsv13
    public var clientAuthentication: ClientAuthentication = .required
    public var sendCANames: Bool = true

    public init(certificate: String, privateKey: String, trustedCAs: [String]) {
        self.certificate = certificate
        self.privateKey = privateKey
        self.trustedCAs = trustedCAs
    }

    /// The dev PKI's server profile.
    public static func dev(_ pki: DevPKI) -> ServerTLSProfile {
        ServerTLSProfile(certificate: pki.serverCertificate, privateKey: pki.serverKey, trustedCAs: [pki.caCertificate])
    }

    /// Loads and checks every file and builds the NIOSSL configuration.
    ///
    /// - Returns: the configuration, the loaded identity, and warnings about loosened settings.
    public func makeConfiguration(now: Date = .now) throws(TLSSetupError) -> ResolvedServerTLS {
        let identity = try CertificateFiles.loadIdentity(certificate: certificate, key: privateKey, role: .server, now: now)
        if clientAuthentication != .none && trustedCAs.isEmpty {
            throw TLSSetupError(.incomplete, subject: "server.tls.ca", problem: "client certificates are \(clientAuthentication.rawValue) but no CA file is configured", fix: "set server.tls.ca to the CA file that issued your partners' certificates")
        }
        let roots = try CertificateFiles.loadTrustRoots(trustedCAs)
        if minimumVersion.rank > maximumVersion.rank {
            throw TLSSetupError(.badVersion, subject: "server.tls.min-version", problem: "the minimum version is above the maximum", fix: "set min-version to at most max-version")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: identity.chain.map { .certificate($0) },
            privateKey: .privateKey(identity.privateKey)
        )
        configuration.minimumTLSVersion = minimumVersion
        configuration.maximumTLSVersion = maximumVersion
        configuration.trustRoots = .certificates(roots)
        switch clientAuthentication {
        case .required: configuration.certificateVerification = .noHostnameVerification
        case .optional: configuration.certificateVerification = .optionalVerification
        case .none: configuration.certificateVerification = .none
        }
        configuration.sendCANameList = sendCANames && clientAuthentication != .none
        var warnings: [String] = []
        if minimumVersion.rank < TLSVersion.tlsv12.rank {
            warnings.append("server.tls.min-version is \(TLSVersionSetting.name(minimumVersion)): TLS 1.0/1.1 are deprecated (RFC 8996); old clients may negotiate weak ciphers")
        }
        if clientAuthentication != .required {
            warnings.append("server.tls.client-auth is \(clientAuthentication.rawValue): connections without a client certificate have no partner identity and are refused by the file routes")
        }
        if !sendCANames && clientAuthentication != .none {
            warnings.append("server.tls.send-ca-names is off: the CertificateRequest carries no CA names, which strict clients (IBM System SSL under SSLv3/TLS 1.0) reject and which makes other clients guess their certificate")
        }
        return ResolvedServerTLS(configuration: configuration, identity: identity, warnings: warnings)
    }
}

/// A server profile after loading: what NIOSSL needs and what the operator should know.
public struct ResolvedServerTLS: Sendable {
    public let configuration: TLSConfiguration
    public let identity: TLSIdentity
    public let warnings: [String]
}
