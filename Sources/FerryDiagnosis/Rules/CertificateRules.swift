import FerryWire
import Foundation
import SwiftASN1
@_spi(DisableValidityCheck) import X509

/// Checks of the server's certificate chain as sent: validity, host name, EKU, and whether it leads to a
/// trusted CA (or is missing an intermediate).
enum CertificateRules {
    /// - Parameter signedKeyExchange: the suite chosen signs its key exchange with the certificate's key (TLS 1.3,
    ///   ECDHE or DHE); nil when no suite was seen.
    static func serverChain(
        _ message: CertificateMessage,
        host: String,
        trusted: [TLSCertificateSummary],
        signedKeyExchange: (Bool, String)? = nil,
        now: Date = Date()
    ) async -> [Finding] {
        let chain = message.entries.compactMap(\.summary)
        guard let leaf = chain.first else { return [] }
        var findings: [Finding] = []
        let subject = "server certificate \(leaf.subject) (issuer \(leaf.issuer))"
        if leaf.notAfter < now {
            findings.append(
                Finding(
                    .serverCertExpired,
                    evidence: ["\(subject) expired \(TLSCertificateSummary.formatDate(leaf.notAfter))"]
                )
            )
        } else if leaf.notBefore > now {
            findings.append(
                Finding(
                    .serverCertNotYetValid,
                    evidence: ["\(subject) is valid from \(TLSCertificateSummary.formatDate(leaf.notBefore))"]
                )
            )
        }
        if !matches(host: host, names: leaf.subjectAlternativeNames) {
            findings.append(
                Finding(
                    .hostnameMismatch,
                    evidence: [
                        "connected to \(host)",
                        "the certificate names: \(leaf.subjectAlternativeNames.isEmpty ? "no subjectAltName" : leaf.subjectAlternativeNames.joined(separator: ", "))",
                    ]
                )
            )
        }
        if !leaf.extendedKeyUsage.isEmpty, !leaf.extendedKeyUsage.contains("serverAuth") {
            findings.append(
                Finding(
                    .serverCertMissingServerAuth,
                    evidence: ["\(subject) has EKU: \(leaf.extendedKeyUsage.joined(separator: ", "))"]
                )
            )
        }
        if let (signs, suite) = signedKeyExchange, signs, !leaf.keyUsage.isEmpty,
            !leaf.keyUsage.contains("digitalSignature")
        {
            findings.append(
                Finding(
                    .serverCertKeyUsage,
                    evidence: [
                        "\(subject), \(leaf.publicKey) key, keyUsage: \(leaf.keyUsage.joined(separator: ", "))",
                        "the server chose \(suite), whose key exchange the certificate's key must sign",
                    ]
                )
            )
        }
        if !trusted.isEmpty, await anchored(chain, trusted: trusted) == false {
            findings.append(chainFinding(chain, trusted: trusted))
        }
        return findings
    }

    /// Why a chain that does not verify does not, decided from what was sent and what is trusted: a chain that
    /// ends at a self-signed root is complete and that root is not trusted; a chain whose top names a trusted CA
    /// that did not sign it meets another CA of the same name; otherwise the top's issuer is missing (neither sent
    /// nor trusted), which is an incomplete chain, whether the server sent its leaf alone or some intermediates.
    static func chainFinding(_ chain: [TLSCertificateSummary], trusted: [TLSCertificateSummary]) -> Finding {
        let top = chain.last!
        let yours = "your CAs: \(trusted.map(\.subject).joined(separator: "; "))"
        if top.issuer == top.subject {
            return Finding(
                .untrustedIssuer,
                evidence: [
                    chain.count == 1
                        ? "the server sent one self-signed certificate, \(top.subject)"
                        : "the server sent its whole chain (\(chain.count) certificates), up to the self-signed root \(top.subject)",
                    "that root is not among \(yours)",
                ],
                fixes: [
                    "Add the partner's root CA certificate (\(top.subject)) to your trusted CAs (--ca FILE, or partners.NAME.tls.ca) once you have it from the partner by a channel you trust, and compare its fingerprint."
                ]
            )
        }
        if trusted.contains(where: { $0.subject == top.issuer }) {
            return Finding(
                .untrustedIssuer,
                evidence: [
                    "\(top.subject) names its issuer \(top.issuer)",
                    "you trust a CA of that name, but its key did not sign this certificate: a different CA with the same name (another PKI, or a re-created dev PKI)",
                ],
                fixes: [
                    "Get the partner's current CA certificate for \(top.issuer) and replace the one you trust (--ca FILE, or partners.NAME.tls.ca).",
                    "If the partner re-created its PKI, ask it which CA now issues its server certificate.",
                ]
            )
        }
        var evidence = [
            chain.count == 1
                ? "the server sent only its own certificate, \(top.subject), issued by \(top.issuer)"
                : "the server sent \(chain.count) certificates, ending at the intermediate \(top.subject), issued by \(top.issuer)",
            "\(top.issuer) is neither sent nor among \(yours)",
        ]
        if !top.caIssuers.isEmpty {
            evidence.append(
                "\(top.subject) says its issuer's certificate is at \(top.caIssuers.joined(separator: ", "))"
            )
        }
        return Finding(
            .incompleteChain,
            title: "The server does not send the CA certificate \(top.issuer) its chain needs",
            evidence: evidence,
            fixes: [
                "Have the partner send its full chain: its certificate followed by \(top.issuer) and any intermediate above it (nginx: ssl_certificate with the full chain file; OpenSSL: -cert_chain; Java: the whole chain in the keystore entry).",
                "If \(top.issuer) is the partner's root CA rather than an intermediate, add it to your trusted CAs (--ca FILE) once you have it from the partner by a channel you trust.",
            ]
        )
    }

    /// Whether the chain leads to one of the trusted CAs, signatures and CA constraints checked (swift-certificates'
    /// verifier). Validity periods are left out: expiry is reported on its own, and a CA re-issued since (valid
    /// from a later date than the leaf's) still anchors the chain it signed. Nil when a certificate of the chain
    /// has a key swift-certificates cannot read (RSA-PSS, Ed448, other curves): the real handshake judges it.
    static func anchored(_ chain: [TLSCertificateSummary], trusted: [TLSCertificateSummary]) async -> Bool? {
        let certificates = chain.compactMap { try? Certificate(derEncoded: DER.parse($0.der)) }
        let roots = trusted.compactMap { try? Certificate(derEncoded: DER.parse($0.der)) }
        guard certificates.count == chain.count else { return nil }
        guard let leaf = certificates.first else { return false }
        var verifier = Verifier(rootCertificates: CertificateStore(roots)) {
            RFC5280Policy.withValidityCheckDisabled()
        }
        let result = await verifier.validate(
            leaf: leaf,
            intermediates: CertificateStore(Array(certificates.dropFirst()))
        )
        if case .validCertificate = result { return true }
        return false
    }

    /// RFC 6125 matching: DNS names (one leading wildcard label) and IP addresses.
    static func matches(host: String, names: [String]) -> Bool {
        let host = host.lowercased()
        for name in names {
            if name.hasPrefix("IP:") {
                if normalizeIP(String(name.dropFirst(3))) == normalizeIP(host) { return true }
            } else if name.hasPrefix("DNS:") {
                let pattern = name.dropFirst(4).lowercased()
                if pattern == host { return true }
                if pattern.hasPrefix("*."), let dot = host.firstIndex(of: "."),
                    host[host.index(after: dot)...] == pattern.dropFirst(2)
                {
                    return true
                }
            }
        }
        return false
    }

    static func normalizeIP(_ text: String) -> String {
        text.hasPrefix("[") ? String(text.dropFirst().dropLast()) : text == "0:0:0:0:0:0:0:1" ? "::1" : text
    }
}
