import FerryWire
import Foundation
import SwiftASN1
import X509

/// Checks of the server's certificate chain as sent: validity, host name, EKU, and whether it leads to a
/// trusted CA (or is missing an intermediate).
enum CertificateRules {
    static func serverChain(_ message: CertificateMessage, host: String, trusted: [TLSCertificateSummary], now: Date = Date()) async -> [Finding] {
        let chain = message.entries.compactMap(\.summary)
        guard let leaf = chain.first else { return [] }
        var findings: [Finding] = []
        let subject = "server certificate \(leaf.subject) (issuer \(leaf.issuer))"
        if leaf.notAfter < now {
            findings.append(Finding(.serverCertExpired, evidence: ["\(subject) expired \(TLSCertificateSummary.formatDate(leaf.notAfter))"]))
        } else if leaf.notBefore > now {
            findings.append(Finding(.serverCertNotYetValid, evidence: ["\(subject) is valid from \(TLSCertificateSummary.formatDate(leaf.notBefore))"]))
        }
        if !matches(host: host, names: leaf.subjectAlternativeNames) {
            findings.append(Finding(.hostnameMismatch, evidence: ["connected to \(host)", "the certificate names: \(leaf.subjectAlternativeNames.isEmpty ? "no subjectAltName" : leaf.subjectAlternativeNames.joined(separator: ", "))"]))
        }
        if !leaf.extendedKeyUsage.isEmpty, !leaf.extendedKeyUsage.contains("serverAuth") {
            findings.append(Finding(.serverCertMissingServerAuth, evidence: ["\(subject) has EKU: \(leaf.extendedKeyUsage.joined(separator: ", "))"]))
        }
        if !trusted.isEmpty {
            let top = chain.last!
            if !(await anchored(chain, trusted: trusted)) {
                if top.issuer != top.subject, trusted.contains(where: { $0.subject == top.issuer }) {
                    findings.append(Finding(.untrustedIssuer, evidence: ["\(top.subject) names its issuer \(top.issuer)", "you trust a CA of that name, but its key did not sign this certificate: a different CA with the same name (another PKI, or a re-created dev PKI)"]))
                } else if top.issuer != top.subject, top.isCA, chain.count > 1 {
                    // The server sent intermediates, but not the one above the last.
                    findings.append(Finding(.incompleteChain, evidence: ["the server sent \(chain.count) certificates, ending at the intermediate \(top.subject), issued by \(top.issuer)", "\(top.issuer) is neither sent nor among your CAs (\(trusted.map(\.subject).joined(separator: "; ")))"]))
                } else {
                    findings.append(Finding(.untrustedIssuer, evidence: [
                        top.issuer == top.subject ? "the chain ends at the self-signed \(top.subject)" : "\(top.subject) is issued by \(top.issuer)",
                        "your CAs: \(trusted.map(\.subject).joined(separator: "; "))",
                    ], fixes: FindingKind.untrustedIssuer.fixes.prefix(1) + ["If \(top.issuer) is an intermediate CA of the partner, the server must send it too (see incomplete-chain)."]))
                }
            }
        }
        return findings
    }

    /// Whether the chain leads to one of the trusted CAs, signatures checked (swift-certificates' verifier),
    /// judged at a moment inside the leaf's validity so that expiry is reported on its own.
    static func anchored(_ chain: [TLSCertificateSummary], trusted: [TLSCertificateSummary]) async -> Bool {
        let certificates = chain.compactMap { try? Certificate(derEncoded: DER.parse($0.der)) }
        let roots = trusted.compactMap { try? Certificate(derEncoded: DER.parse($0.der)) }
        guard let leaf = certificates.first else { return false }
        let middle = leaf.notValidBefore.addingTimeInterval(leaf.notValidAfter.timeIntervalSince(leaf.notValidBefore) / 2)
        var verifier = Verifier(rootCertificates: CertificateStore(roots)) {
            RFC5280Policy(validationTime: middle)
        }
        let result = await verifier.validate(leaf: leaf, intermediates: CertificateStore(Array(certificates.dropFirst())))
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
                if pattern.hasPrefix("*."), let dot = host.firstIndex(of: "."), host[host.index(after: dot)...] == pattern.dropFirst(2) { return true }
            }
        }
        return false
    }

    static func normalizeIP(_ text: String) -> String {
        text.hasPrefix("[") ? String(text.dropFirst().dropLast()) : text == "0:0:0:0:0:0:0:1" ? "::1" : text
    }
}
