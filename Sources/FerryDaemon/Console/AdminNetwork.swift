public import FerryConfig
import FerryTLS
import Foundation
import NIOConcurrencyHelpers
import NIOCore
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

/// At most `maximum` connections to the admin TCP listener at once, each closed after 30 s without a request (one
/// that never finishes its TLS handshake too): strangers who can reach the address cannot take the process's file
/// descriptors, which the partner port needs.
final class AdminConnectionCap: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = NIOAny

    static let maximum = 64
    static let idleTimeout: TimeAmount = .seconds(30)

    private let open: NIOLockedValueBox<Int>
    private let counted = NIOLockedValueBox(false)

    init(open: NIOLockedValueBox<Int>) {
        self.open = open
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let admitted = open.withLockedValue { count in
            guard count < Self.maximum else { return false }
            count += 1
            return true
        }
        counted.withLockedValue { $0 = admitted }
        if !admitted { context.close(promise: nil) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        let wasCounted = counted.withLockedValue { value in
            defer { value = false }
            return value
        }
        if wasCounted { open.withLockedValue { $0 -= 1 } }
    }
}
