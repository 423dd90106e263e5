public import FerryConfig
import FerryTLS
import Foundation
public import NIOSSL
import X509

/// The admin plane's TCP listener (`admin.*`) made ready: its address, the operators' token and, with
/// `admin.tls`, the TLS it speaks. Prepared before the daemon starts, so a missing or open token file, or a
/// certificate that does not load, stops `ferry serve` with the reason.
public struct AdminNetwork: Sendable {
    public let host: String
    public let port: Int
    /// The bearer token; nil when only the operators' client certificates are asked for.
    public let token: AdminToken?
    public let tls: TLSConfiguration?
    /// Whether TLS requires a client certificate from the operators' CA (`admin.tls.client-ca`).
    public let clientCertificates: Bool

    /// - Parameter partnerCAs: the CA files trusted for partners; the operators' CA may not be one of them, or
    ///   every partner would be an operator.
    public static func prepare(
        _ listener: FerryConfiguration.AdminListener,
        partnerCAs: [String] = []
    ) throws -> AdminNetwork {
        let (host, port) = try ListenAddress.parse(listener.listen)
        let token = try listener.tokenFile.map(AdminToken.load)
        var tls: TLSConfiguration?
        if let certificate = listener.certificate, let key = listener.privateKey {
            do {
                let chain = try NIOSSLCertificate.fromPEMFile(certificate).map {
                    NIOSSLCertificateSource.certificate($0)
                }
                var configuration = TLSConfiguration.makeServerConfiguration(
                    certificateChain: chain,
                    privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
                )
                configuration.minimumTLSVersion = .tlsv12
                if let clientCA = listener.clientCA {
                    configuration.trustRoots = .file(clientCA)
                    configuration.certificateVerification = .noHostnameVerification
                }
                tls = configuration
            } catch {
                throw ConfigError(
                    "admin.tls: cannot load \(certificate) and \(key) as a PEM certificate chain and its key: \(error)"
                )
            }
        }
        if let clientCA = listener.clientCA {
            try checkOwnCA(clientCA, partnerCAs: partnerCAs)
        }
        return AdminNetwork(
            host: host,
            port: port,
            token: token,
            tls: tls,
            clientCertificates: listener.clientCA != nil
        )
    }

    /// The operators' CA holds CA certificates, none of which the server trusts for partners.
    static func checkOwnCA(_ file: String, partnerCAs: [String]) throws {
        let operators = try CertificateFiles.loadCertificates(file, what: "admin.tls.client-ca")
        guard !operators.isEmpty, operators.allSatisfy(CertificateFiles.isCA) else {
            throw ConfigError("admin.tls.client-ca: \(file) must hold the operators' CA certificate(s), and only CAs")
        }
        for partnerFile in partnerCAs {
            let partners = (try? CertificateFiles.loadCertificates(partnerFile, what: "CA file")) ?? []
            if let shared = operators.first(where: { candidate in partners.contains { $0 == candidate } }) {
                throw ConfigError(
                    "admin.tls.client-ca: '\(shared.subject)' in \(file) is also trusted for partners (\(partnerFile)), so every partner's certificate would open the admin plane: give operators a CA of their own"
                )
            }
        }
    }

    /// Where a browser opens the console.
    public var consoleURL: String {
        let shown = host.contains(":") ? "[\(host)]" : host
        return "\(tls == nil ? "http" : "https")://\(shown):\(port)/console"
    }
}
