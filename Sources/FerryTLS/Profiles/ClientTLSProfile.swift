public import Foundation
public import NIOSSL

/// The initiate side: Ferry as the TLS client.
public struct ClientTLSProfile: Sendable {
    /// The client certificate chain; required by Ferry servers.
    public var certificate: String?
    public var privateKey: String?
    /// CA files trusted for the server's certificate. Empty means the system's trust store.
    public var trustedCAs: [String]
    public var minimumVersion: TLSVersion = .tlsv12
    public var maximumVersion: TLSVersion = .tlsv13

    public init(certificate: String?, privateKey: String?, trustedCAs: [String]) {
        self.certificate = certificate
        self.privateKey = privateKey
        self.trustedCAs = trustedCAs
    }

    /// A dev PKI client profile.
    public static func dev(_ pki: DevPKI, client: String) -> ClientTLSProfile {
        ClientTLSProfile(certificate: pki.clientCertificate(client), privateKey: pki.clientKey(client), trustedCAs: [pki.caCertificate])
    }

    /// Loads and checks every file and builds the NIOSSL configuration (full server verification, host name
    /// included).
    public func makeConfiguration(now: Date = .now) throws(TLSSetupError) -> ResolvedClientTLS {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = minimumVersion
        configuration.maximumTLSVersion = maximumVersion
        configuration.certificateVerification = .fullVerification
        configuration.applicationProtocols = ["http/1.1"]
        if !trustedCAs.isEmpty {
            configuration.trustRoots = .certificates(try CertificateFiles.loadTrustRoots(trustedCAs))
        }
        var identity: TLSIdentity?
        switch (certificate, privateKey) {
        case (let cert?, let key?):
            let loaded = try CertificateFiles.loadIdentity(certificate: cert, key: key, role: .client, now: now)
            configuration.certificateChain = loaded.chain.map { .certificate($0) }
            configuration.privateKey = .privateKey(loaded.privateKey)
            identity = loaded
        case (nil, nil):
            break
        case (.some, nil):
            throw TLSSetupError(.incomplete, subject: "--key", problem: "a client certificate was given without its private key", fix: "pass --key KEY.pem as well")
        case (nil, .some):
            throw TLSSetupError(.incomplete, subject: "--cert", problem: "a private key was given without its certificate", fix: "pass --cert CERT.pem as well")
        }
        return ResolvedClientTLS(configuration: configuration, identity: identity)
    }
}

/// A client profile after loading.
public struct ResolvedClientTLS: Sendable {
    public let configuration: TLSConfiguration
    public let identity: TLSIdentity?
}
