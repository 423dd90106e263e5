public import NIOSSL

/// What Ferry checks about a peer beyond BoringSSL's own verification: the verify depth (BoringSSL's limit is
/// not exposed by swift-nio-ssl) and the allowed TLS 1.3 suites (BoringSSL enables all three).
///
/// The depth is checked in BoringSSL's per-certificate verify callback, which runs after BoringSSL has built
/// and checked the chain, once per certificate from the trust anchor down to the peer's own. BoringSSL's own
/// verdicts (and the alerts it sends, such as unknown_ca) stay as they are; the callback only adds a refusal
/// when the chain is longer than allowed.
public struct PeerPolicy: Sendable, Equatable {
    /// Intermediate CA certificates allowed between the peer's certificate and the trust anchor (OpenSSL's
    /// meaning of verify depth); `nil` for no limit.
    public var verifyDepth: Int?
    /// TLS 1.3 suites (code points) allowed; `nil` for all.
    public var tls13Suites: Set<UInt16>?

    public init(verifyDepth: Int? = nil, tls13Suites: Set<UInt16>? = nil) {
        self.verifyDepth = verifyDepth
        self.tls13Suites = tls13Suites
    }

    /// A server-side TLS handler enforcing the depth and reporting the verified chain.
    ///
    /// - Parameter onVerified: receives each certificate of the chain BoringSSL verified, DER, from the trust
    ///   anchor down to the client's own certificate. The partner binding compares CAs by this chain, not by the
    ///   issuer names the client wrote into its certificates.
    public func makeServerHandler(
        context: NIOSSLContext, onReject: @escaping @Sendable (String) -> Void, onVerified: @escaping @Sendable ([UInt8]) -> Void
    ) throws -> NIOSSLServerHandler {
        let depth = depthCallback(onReject: onReject)
        return try DepthLimitedHandlers.maker.server(context: context) { result, certificate in
            let result = depth?(result, certificate) ?? result
            if case .certificateVerified = result, let der = try? certificate.toDERBytes() {
                onVerified(der)
            }
            return result
        }
    }

    /// A client-side TLS handler enforcing the depth.
    public func makeClientHandler(context: NIOSSLContext, serverHostname: String?, onReject: @escaping @Sendable (String) -> Void) throws -> NIOSSLClientHandler {
        guard let callback = depthCallback(onReject: onReject) else { return try NIOSSLClientHandler(context: context, serverHostname: serverHostname) }
        return try DepthLimitedHandlers.maker.client(context: context, serverHostname: serverHostname, callback: callback)
    }

    /// Whether a negotiated TLS 1.3 suite is allowed; the reason when not.
    public func refusal(suite: UInt16, name: String) -> String? {
        guard let tls13Suites, (0x1301...0x1305).contains(suite), !tls13Suites.contains(suite) else { return nil }
        return "the TLS 1.3 cipher suite \(name) was negotiated but cipher-suites does not allow it; the connection is closed"
    }

    private func depthCallback(onReject: @escaping @Sendable (String) -> Void) -> NIOSSLVerificationCallback? {
        guard let verifyDepth else { return nil }
        var seen = 0
        // Called on the connection's event loop only, once per certificate of the verified chain.
        return { result, certificate in
            guard case .certificateVerified = result else { return result }
            seen += 1
            if seen > verifyDepth + 2 {
                onReject("the peer's certificate chain has more than \(verifyDepth) intermediate CA certificate(s) below the trust anchor, deeper than verify-depth \(verifyDepth)")
                return .failed
            }
            return .certificateVerified
        }
    }
}

/// BoringSSL's per-certificate verify callback is reachable only through swift-nio-ssl's deprecated handler
/// initialisers; the newer custom callback replaces BoringSSL's verification (and its alerts) altogether. It is
/// the only place where the chain BoringSSL actually verified can be seen. The protocol keeps the deprecation
/// notice to this one place.
private protocol DepthLimitedHandlerMaking {
    static func server(context: NIOSSLContext, callback: @escaping NIOSSLVerificationCallback) throws -> NIOSSLServerHandler
    static func client(context: NIOSSLContext, serverHostname: String?, callback: @escaping NIOSSLVerificationCallback) throws -> NIOSSLClientHandler
}

private enum DepthLimitedHandlers {
    static var maker: any DepthLimitedHandlerMaking.Type { DepthLimitedHandlers.self }
}

@available(*, deprecated, message: "uses the per-certificate verify callback on purpose")
extension DepthLimitedHandlers: DepthLimitedHandlerMaking {
    static func server(context: NIOSSLContext, callback: @escaping NIOSSLVerificationCallback) throws -> NIOSSLServerHandler {
        try NIOSSLServerHandler(context: context, verificationCallback: callback)
    }

    static func client(context: NIOSSLContext, serverHostname: String?, callback: @escaping NIOSSLVerificationCallback) throws -> NIOSSLClientHandler {
        try NIOSSLClientHandler(context: context, serverHostname: serverHostname, verificationCallback: callback)
    }
}
