public import NIOSSL
import SwiftASN1
import X509

/// Why this side refused a peer after BoringSSL accepted its chain: the reason, and the finding id that explains
/// it (`certificate-revoked`), if any.
public struct PeerRefusal: Sendable {
    public let reason: String
    public let finding: String?
}

/// What Ferry checks about a peer beyond BoringSSL's own verification: the verify depth (BoringSSL's limit is
/// not exposed by swift-nio-ssl), revocation by the configured CRLs (swift-nio-ssl loads none), and the allowed
/// TLS 1.3 suites (BoringSSL enables all three).
///
/// Depth and revocation are checked in BoringSSL's per-certificate verify callback, which runs after BoringSSL
/// has built and checked the chain, once per certificate from the trust anchor down to the peer's own.
/// BoringSSL's own verdicts (and the alerts it sends, such as unknown_ca) stay as they are; the callback only
/// adds a refusal. BoringSSL then sends internal_error (80): swift-nio-ssl gives the callback no way to set the
/// verification error that would make it certificate_revoked (44) or certificate_unknown (46), so the reason goes
/// to the log, the ledger and the finding instead.
public struct PeerPolicy: Sendable, Equatable {
    /// Intermediate CA certificates allowed between the peer's certificate and the trust anchor (OpenSSL's
    /// meaning of verify depth); `nil` for no limit.
    public var verifyDepth: Int?
    /// TLS 1.3 suites (code points) allowed; `nil` for all.
    public var tls13Suites: Set<UInt16>?
    /// The CRLs the peer's chain is checked against; `nil` for none.
    public var revocation: RevocationCheck?

    public init(verifyDepth: Int? = nil, tls13Suites: Set<UInt16>? = nil, revocation: RevocationCheck? = nil) {
        self.verifyDepth = verifyDepth
        self.tls13Suites = tls13Suites
        self.revocation = revocation
    }

    /// A server-side TLS handler enforcing depth and revocation and reporting the verified chain.
    ///
    /// - Parameter onVerified: receives each certificate of the chain BoringSSL verified, DER, from the trust
    ///   anchor down to the client's own certificate. The partner binding compares CAs by this chain, not by the
    ///   issuer names the client wrote into its certificates.
    public func makeServerHandler(
        context: NIOSSLContext,
        onReject: @escaping @Sendable (PeerRefusal) -> Void,
        onVerified: @escaping @Sendable ([UInt8]) -> Void
    ) throws -> NIOSSLServerHandler {
        try DepthLimitedHandlers.maker.server(
            context: context,
            callback: verifyCallback(onReject: onReject, onVerified: onVerified)
        )
    }

    /// A client-side TLS handler enforcing depth and revocation.
    public func makeClientHandler(
        context: NIOSSLContext,
        serverHostname: String?,
        onReject: @escaping @Sendable (PeerRefusal) -> Void
    ) throws -> NIOSSLClientHandler {
        guard verifyDepth != nil || revocation != nil else {
            return try NIOSSLClientHandler(context: context, serverHostname: serverHostname)
        }
        return try DepthLimitedHandlers.maker.client(
            context: context,
            serverHostname: serverHostname,
            callback: verifyCallback(onReject: onReject, onVerified: { _ in })
        )
    }

    /// Whether a negotiated TLS 1.3 suite is allowed; the reason when not.
    public func refusal(suite: UInt16, name: String) -> String? {
        guard let tls13Suites, (0x1301...0x1305).contains(suite), !tls13Suites.contains(suite) else { return nil }
        return
            "the TLS 1.3 cipher suite \(name) was negotiated but cipher-suites does not allow it; the connection is closed"
    }

    private func verifyCallback(
        onReject: @escaping @Sendable (PeerRefusal) -> Void,
        onVerified: @escaping @Sendable ([UInt8]) -> Void
    ) -> NIOSSLVerificationCallback {
        var seen = 0
        var issuer: Certificate?
        let verifyDepth = self.verifyDepth
        let revocation = self.revocation
        // Called on the connection's event loop only, once per certificate of the verified chain, anchor first.
        return { result, certificate in
            guard case .certificateVerified = result else { return result }
            seen += 1
            if let verifyDepth, seen > verifyDepth + 2 {
                onReject(
                    PeerRefusal(
                        reason:
                            "the peer's certificate chain has more than \(verifyDepth) intermediate CA certificate(s) below the trust anchor, deeper than verify-depth \(verifyDepth)",
                        finding: nil
                    )
                )
                return .failed
            }
            guard let der = try? certificate.toDERBytes() else { return .failed }
            if let revocation {
                guard let parsed = try? Certificate(derEncoded: der) else { return .failed }
                if let signer = issuer, let revoked = revocation.revocation(of: parsed, issuer: signer) {
                    onReject(
                        PeerRefusal(
                            reason:
                                "the peer's certificate \(parsed.subject) (serial \(parsed.serialNumber)) was revoked on \(revoked.date) by \(signer.subject) (CRL \(revoked.list.file))",
                            finding: "certificate-revoked"
                        )
                    )
                    return .failed
                }
                issuer = parsed
            }
            onVerified(der)
            return .certificateVerified
        }
    }
}

/// BoringSSL's per-certificate verify callback is reachable only through swift-nio-ssl's deprecated handler
/// initialisers; the newer custom callback replaces BoringSSL's verification (and its alerts) altogether. It is
/// the only place where the chain BoringSSL actually verified can be seen. The protocol keeps the deprecation
/// notice to this one place.
private protocol DepthLimitedHandlerMaking {
    static func server(
        context: NIOSSLContext,
        callback: @escaping NIOSSLVerificationCallback
    ) throws -> NIOSSLServerHandler
    static func client(
        context: NIOSSLContext,
        serverHostname: String?,
        callback: @escaping NIOSSLVerificationCallback
    ) throws -> NIOSSLClientHandler
}

private enum DepthLimitedHandlers {
    static var maker: any DepthLimitedHandlerMaking.Type { DepthLimitedHandlers.self }
}

@available(*, deprecated, message: "uses the per-certificate verify callback on purpose")
extension DepthLimitedHandlers: DepthLimitedHandlerMaking {
    static func server(
        context: NIOSSLContext,
        callback: @escaping NIOSSLVerificationCallback
    ) throws -> NIOSSLServerHandler {
        try NIOSSLServerHandler(context: context, verificationCallback: callback)
    }

    static func client(
        context: NIOSSLContext,
        serverHostname: String?,
        callback: @escaping NIOSSLVerificationCallback
    ) throws -> NIOSSLClientHandler {
        try NIOSSLClientHandler(context: context, serverHostname: serverHostname, verificationCallback: callback)
    }
}
