import Foundation
public import NIOCore
import NIOSSL

#if canImport(Glibc)
import Glibc
#endif

/// A TLS or socket library's error in words for a person: BoringSSL's reason codes without its error numbers
/// and build paths, errno as the C library words it, nested handshake errors unwrapped.
public enum TLSErrorText {
    public static func plain(_ error: any Error) -> String {
        if let error = error as? NIOSSLError {
            switch error {
            case .handshakeFailed(let inner), .shutdownFailed(let inner): return plain(inner)
            case .uncleanShutdown: return "the connection closed without a TLS close_notify"
            default: break
            }
        }
        if let error = error as? IOError {
            return "\(String(cString: strerror(error.errnoCode))) (errno \(error.errnoCode))"
        }
        return plain(String(describing: error))
    }

    /// The same for an error already turned into text.
    public static func plain(_ text: String) -> String {
        // swift-nio-ssl: "NIOSSLExtraError.failedToValidateHostname: Couldn't find <none> in certificate from peer"
        if text.contains("failedToValidateHostname"),
            let match = text.firstMatch(of: /Couldn't find (.+) in certificate/)
        {
            let name = String(match.output.1)
            return name == "<none>"
                ? "the server's certificate does not name the IP address connected to (no server name was sent: pass --sni NAME with a name it lists)"
                : "the server's certificate does not name \(name)"
        }
        // BoringSSL: "Error: 268435605 error:10000095:SSL routines:OPENSSL_internal:ERROR_PARSING_EXTENSION at /…/tls13_client.cc:791"
        let reasons = text.matches(of: /OPENSSL_internal:([A-Za-z0-9_]+)/).map { String($0.output.1) }
        if !reasons.isEmpty {
            var unique: [String] = []
            for reason in reasons where !unique.contains(reason) { unique.append(reason) }
            return "BoringSSL: " + unique.joined(separator: ", ")
        }
        return text.replacing(/\s*(at\s+)?\S+\.(swift|cc|c|h):\d+/, with: "")
    }
}
