import Foundation

/// `ferry explain`: finds every code in a pasted text (alert numbers and names, IBM System SSL return codes
/// in any usual form, OpenSSL/BoringSSL/GnuTLS/Java error strings) and says what each means, the usual
/// causes, how to confirm with a ferry command, and the fixes.
public enum Explainer {
    public struct Explanation: Sendable, Equatable, Codable {
        public let kind: String
        public let code: String
        public let title: String
        public let meaning: String
        public let causes: [String]
        public let confirm: String
        public let fixes: [String]
        /// The wording is not confirmed from the vendor's documentation.
        public let unconfirmed: Bool

        public var text: String {
            var out = "\(title)\(unconfirmed ? " (unconfirmed wording)" : "")\n  meaning: \(meaning)\n"
            for cause in causes { out += "  cause: \(cause)\n" }
            out += "  confirm: \(confirm)\n"
            for (index, fix) in fixes.enumerated() { out += "  fix \(index + 1): \(fix)\n" }
            return out
        }
    }

    static let diagnose = "ferry diagnose HOST:PORT --cert CERT --key KEY --ca CA"

    /// Error strings of OpenSSL, BoringSSL, GnuTLS, Java and curl, by a lower-case fragment.
    static let messages: [(fragment: String, title: String, meaning: String, causes: [String], fixes: [String])] = [
        (
            "certificate_verify_failed", "certificate verify failed",
            "the server's certificate chain did not verify on the client",
            [
                "the issuing CA is not trusted", "an intermediate is missing", "the certificate expired",
                "the host name does not match",
            ],
            [
                "Run ferry diagnose with your --ca: it names which check failed.",
                "Trust the partner's CA (--ca), never switch verification off.",
            ]
        ),
        (
            "certificate verify failed", "certificate verify failed",
            "the server's certificate chain did not verify on the client",
            [
                "the issuing CA is not trusted", "an intermediate is missing", "the certificate expired",
                "the host name does not match",
            ],
            [
                "Run ferry diagnose with your --ca: it names which check failed.",
                "Trust the partner's CA (--ca), never switch verification off.",
            ]
        ),
        (
            "wrong version number", "wrong version number",
            "the bytes received were not a TLS record of an acceptable version",
            ["a plaintext service on this port (HTTP, SSH)", "a peer that only speaks a version this side disabled"],
            ["Run ferry diagnose: it reports plaintext-on-tls-port or the versions the server accepts."]
        ),
        (
            "no shared cipher", "no shared cipher", "the server found no cipher suite it shares with the client",
            ["an old partner limited to weak suites", "an ECDSA certificate with RSA-only suites (or the reverse)"],
            ["Enable modern ECDHE AES-GCM / ChaCha20-Poly1305 suites on both sides."]
        ),
        (
            "pkix path building failed", "PKIX path building failed (Java)",
            "Java found no path from the peer's certificate to a trusted CA",
            ["the partner's CA is not in the Java trust store", "an intermediate is missing"],
            ["Import the partner's CA into the trust store; have the partner send its full chain."]
        ),
        (
            "unable to get local issuer certificate", "unable to get local issuer certificate",
            "the issuer of a certificate in the chain is not known locally",
            ["the CA (or an intermediate) is not trusted or not sent"],
            ["Trust the partner's CA; have the partner send its intermediates."]
        ),
        (
            "certificate has expired", "certificate has expired", "a certificate in the chain is past its notAfter",
            ["an expired certificate", "a wrong clock"], ["Renew the certificate; check the clocks."]
        ),
        (
            "hostname mismatch", "host name mismatch", "the certificate does not name the host connected to",
            ["connecting by a name or IP the certificate lacks"],
            ["Connect with a name from the certificate's SANs (--sni), or add the name to the certificate."]
        ),
        (
            "unsupported protocol", "unsupported protocol", "no protocol version in common",
            ["a partner limited to SSLv3/TLS 1.0 and a client limited to TLS 1.2+"],
            ["Run ferry diagnose to list the versions the server accepts."]
        ),
        (
            "no protocols available", "no protocols available", "no protocol version is enabled in this configuration",
            ["a minimum version above the maximum"], ["Check the min/max version settings."]
        ),
        (
            "peer did not return a certificate", "peer did not return a certificate",
            "the server requires a client certificate and none came",
            ["no client certificate configured", "no certificate from a CA the server named"],
            ["Configure a client certificate from a CA the server trusts."]
        ),
        (
            "non-properly terminated", "the TLS connection was non-properly terminated (GnuTLS)",
            "the peer closed TCP without a close_notify alert",
            ["the peer rejected the handshake and closed", "a network cut"],
            ["Run ferry diagnose to see what the peer sent before closing."]
        ),
        (
            "key_usage_bit_incorrect", "KEY_USAGE_BIT_INCORRECT (BoringSSL)",
            "the peer's certificate does not allow what the handshake uses its key for",
            [
                "an RSA server certificate with keyUsage keyEncipherment only, under an ECDHE_RSA suite or TLS 1.3 (its key must sign: digitalSignature)",
                "an ECDSA certificate without digitalSignature",
            ],
            [
                "Have the partner re-issue the certificate with keyUsage digitalSignature (and keyEncipherment for RSA key exchange); run ferry diagnose: it names the certificate and its key usage."
            ]
        ),
        (
            "no_common_signature_algorithms", "NO_COMMON_SIGNATURE_ALGORITHMS (BoringSSL)",
            "no signature scheme offered by the peer fits this side's certificate key",
            [
                "the client offers only RSA schemes and the server's certificate is ECDSA, or the reverse",
                "a certificate key the peer's TLS library cannot use (P-521, Ed25519, Ed448, RSASSA-PSS)",
            ],
            [
                "Run ferry diagnose: server-cert-signature-not-offered names the key and the scheme it needs.",
                "Use a certificate with a key type both sides support: ECDSA P-256 or RSA (rsaEncryption).",
            ]
        ),
        (
            "no suitable signature algorithm", "no suitable signature algorithm (OpenSSL)",
            "OpenSSL found no signature scheme in the peer's offer that its certificate key can sign with",
            [
                "a server certificate whose key the client offers no scheme for (P-521, Ed25519, Ed448, RSASSA-PSS against Ferry's client)",
                "a client offering only RSA schemes to an ECDSA certificate",
            ],
            [
                "Run ferry diagnose: server-cert-signature-not-offered names the key and the scheme it needs.",
                "Have the server hold a second certificate (ECDSA P-256 or RSA) for such clients.",
            ]
        ),
        (
            "invalid certificate_authorities extension", "Invalid certificate_authorities extension (Java)",
            "Java could not decode the TLS 1.3 certificate_authorities extension",
            ["an empty extension (OpenSSL 3 with -no_ca_names or Options -CANames while it has client CAs)"],
            [
                "Have the partner name its CAs: remove the option that suppresses them.",
                "Confirm with ferry diagnose: it reports tls13-empty-ca-extension.",
            ]
        ),
        (
            "error decoding the received tls packet", "Error decoding the received TLS packet (GnuTLS)",
            "GnuTLS could not decode a handshake message",
            ["an empty TLS 1.3 certificate_authorities extension", "a malformed or truncated message from the peer"],
            ["Run ferry diagnose against the peer: it reads every message and names the malformed one."]
        ),
        (
            "connection reset by peer", "connection reset by peer", "the peer reset the TCP connection",
            ["the peer rejected the client certificate after the TLS 1.3 handshake", "a firewall"],
            ["Run ferry diagnose with --cert/--key."]
        ),
    ]

    public static func explain(_ text: String) -> [Explanation] {
        var found: [Explanation] = []
        func add(_ explanation: Explanation) {
            if !found.contains(where: { $0.kind == explanation.kind && $0.code == explanation.code }) {
                found.append(explanation)
            }
        }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let lower = trimmed.lowercased()
        // A bare number: an alert when it is one, a System SSL code otherwise (or both).
        if let number = Int(trimmed) {
            if number <= 255, let alert = AlertInfo.lookup(UInt8(number)) { add(alertExplanation(alert)) }
            if let code = SystemSSLCode.lookup(number),
                number >= 100 || AlertInfo.lookup(UInt8(clamping: number)) == nil
            {
                add(codeExplanation(code))
            }
            return found
        }
        // System SSL return codes: "RC = 410", "RC=410", "rc 410", "return code 410", and 8-digit hex (0000019A).
        for pattern in [#"(?i)\bRC\s*=?\s*(\d{1,4})\b"#, #"(?i)return code\s*=?\s*(\d{1,4})\b"#] {
            for match in matches(pattern, in: trimmed) {
                if let number = Int(match), let code = SystemSSLCode.lookup(number) { add(codeExplanation(code)) }
            }
        }
        for match in matches(#"\b(0{4}[0-9A-Fa-f]{4})\b"#, in: trimmed) {
            if let number = Int(match, radix: 16), let code = SystemSSLCode.lookup(number) {
                add(codeExplanation(code))
            }
        }
        // Alerts by number: "alert 47", "alert number 48", "alert(47)".
        for match in matches(#"(?i)alert(?:\s+number)?\s*\(?\s*(\d{1,3})\b"#, in: trimmed) {
            if let number = UInt8(match), let alert = AlertInfo.lookup(number) { add(alertExplanation(alert)) }
        }
        // Alerts by name, as OpenSSL ("tlsv1 alert unknown ca"), BoringSSL (TLSV1_ALERT_UNKNOWN_CA), Java
        // ("fatal alert: handshake_failure") and Ferry print them.
        let spaced = lower.replacingOccurrences(of: "_", with: " ")
        let mentionsAlert = spaced.contains("alert")
        for alert in AlertInfo.table where alert.code != 0 {
            let name = alert.name.replacingOccurrences(of: "_", with: " ")
            let named = !matches("\\b(" + NSRegularExpression.escapedPattern(for: name) + ")\\b", in: spaced).isEmpty
            if spaced == name || (alert.name.contains("_") && lower.contains(alert.name)) || (mentionsAlert && named) {
                add(alertExplanation(alert))
            }
        }
        for message in messages where lower.contains(message.fragment) {
            add(
                Explanation(
                    kind: "message",
                    code: message.fragment,
                    title: message.title,
                    meaning: message.meaning,
                    causes: message.causes,
                    confirm: diagnose,
                    fixes: message.fixes,
                    unconfirmed: false
                )
            )
        }
        return found
    }

    static func alertExplanation(_ alert: AlertInfo) -> Explanation {
        Explanation(
            kind: "alert",
            code: "\(alert.code)",
            title: "TLS alert \(alert.code) \(alert.name)",
            meaning: alert.meaning,
            causes: alert.causes,
            confirm: diagnose + " (shows which side sent it and what came just before)",
            fixes: alert.fixes,
            unconfirmed: false
        )
    }

    static func codeExplanation(_ code: SystemSSLCode) -> Explanation {
        let advice = SystemSSLCode.advice[code.code]
        let hex = String(code.code, radix: 16, uppercase: true)
        return Explanation(
            kind: "system-ssl",
            code: "\(code.code)",
            title:
                "IBM System SSL return code \(code.code) (hex \(String(repeating: "0", count: 8 - hex.count) + hex))",
            meaning: code.meaning,
            causes: advice?.causes ?? [],
            confirm: diagnose + " (from a machine that reaches the partner; it shows the partner's handshake)",
            fixes: advice?.fixes ?? [],
            unconfirmed: code.status == .unconfirmed
        )
    }

    static func matches(_ pattern: String, in text: String) -> [String] {
        guard let expression = try? NSRegularExpression(pattern: pattern) else { return [] }
        let range = NSRange(text.startIndex..., in: text)
        return expression.matches(in: text, range: range).compactMap { match in
            Range(match.range(at: 1), in: text).map { String(text[$0]) }
        }
    }
}
