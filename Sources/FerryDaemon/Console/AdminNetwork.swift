public import FerryConfig
import Foundation
public import NIOSSL

/// The admin plane's TCP listener (`admin.*`) made ready: its address, the operators' token and, with
/// `admin.tls`, the TLS it speaks. Prepared before the daemon starts, so a missing or open token file, or a
/// certificate that does not load, stops `ferry serve` with the reason.
public struct AdminNetwork: Sendable {
    public let host: String
    public let port: Int
    public let token: AdminToken
    public let tls: TLSConfiguration?

    public static func prepare(_ listener: FerryConfiguration.AdminListener) throws -> AdminNetwork {
        let (host, port) = try ListenAddress.parse(listener.listen)
        let token = try AdminToken.load(listener.tokenFile)
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
                tls = configuration
            } catch {
                throw ConfigError(
                    "admin.tls: cannot load \(certificate) and \(key) as a PEM certificate chain and its key: \(error)"
                )
            }
        }
        return AdminNetwork(host: host, port: port, token: token, tls: tls)
    }

    /// Where a browser opens the console.
    public var consoleURL: String {
        let shown = host.contains(":") ? "[\(host)]" : host
        return "\(tls == nil ? "http" : "https")://\(shown):\(port)/console"
    }
}
