public import FerryConfig
public import FerryTLS
import FerryWire
public import Foundation
import NIOSSL

/// What `ferry diagnose` is pointed at: `HOST:PORT`, `[IPv6]:PORT`, `https://HOST[:PORT][/...]`, or the name of a
/// partner with a `url` in the configuration.
public struct DiagnosisTarget: Sendable, Equatable {
    public var host: String
    public var port: Int
    /// The partner's name when the target named one (its TLS profile then applies).
    public var partner: String?

    public init(host: String, port: Int, partner: String? = nil) {
        self.host = host
        self.port = port
        self.partner = partner
    }

    /// Nil when the text is none of the accepted forms.
    public static func parse(_ text: String, configuration: FerryConfiguration) -> DiagnosisTarget? {
        var value = text
        var partner: String?
        if let known = configuration.partners[text], let url = known.url {
            value = url
            partner = text
        }
        if value.hasPrefix("https://") {
            guard let url = URL(string: value), let host = url.host else { return nil }
            return DiagnosisTarget(
                host: host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host,
                port: url.port ?? 443,
                partner: partner
            )
        }
        guard let (host, port) = try? ListenAddress.parse(value) else { return nil }
        return DiagnosisTarget(host: host, port: port, partner: partner)
    }

    /// The server name sent in SNI and checked against the certificate (``ServerName/forHost(_:given:)``).
    public func serverName(sni: String?) -> String? {
        ServerName.forHost(host, given: sni)
    }
}

extension Diagnoser {
    /// A diagnoser that runs the real handshake with the settings a transfer with `profile` would use, and knows
    /// the profile's client certificate, its chain and the CAs it trusts.
    ///
    /// A certificate Ferry would refuse to send (expired, wrong extended key usage) is still offered: the findings
    /// say what is wrong with it and how the server reacts. Files that cannot be read at all throw the profile's
    /// own error, which names the file.
    public init(
        target: DiagnosisTarget,
        sni: String?,
        profile: ClientTLSProfile,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws {
        var tls = TLSConfiguration.makeClientConfiguration()
        let trust = try profile.core.loadTrust()
        let trusted = trust.nio.compactMap { try? TLSCertificateSummary(der: $0.toDERBytes()) }
        do {
            tls = try profile.makeConfiguration(environment: environment).configuration
        } catch let refusal {
            do {
                tls.minimumTLSVersion = profile.minimumVersion
                tls.maximumTLSVersion = profile.maximumVersion
                if !trust.nio.isEmpty { tls.trustRoots = .certificates(trust.nio) }
                if let certificate = profile.certificate, let key = profile.privateKey {
                    tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
                    tls.privateKey = .privateKey(
                        try CertificateFiles.loadPrivateKey(
                            key,
                            passphrase: profile.passphrase,
                            certificate: certificate,
                            environment: environment
                        ).1
                    )
                }
            } catch {
                throw refusal
            }
        }
        var file: [TLSCertificateSummary] = []
        if let path = profile.certificate {
            file = ((try? NIOSSLCertificate.fromPEMFile(path)) ?? []).compactMap {
                try? TLSCertificateSummary(der: $0.toDERBytes())
            }
        }
        self.init(
            host: target.host,
            port: target.port,
            serverName: target.serverName(sni: sni),
            tls: tls,
            clientCertificate: file.first,
            trustedCAs: trusted
        )
        clientChain = Array(file.dropFirst())
    }
}
