import Foundation

/// What each TLS alert means in practice: usual causes and fixes, for findings and `ferry explain`.
public struct AlertInfo: Sendable {
    public let code: UInt8
    public let name: String
    public let meaning: String
    public let causes: [String]
    public let fixes: [String]

    public static func lookup(_ code: UInt8) -> AlertInfo? { table.first { $0.code == code } }
    public static func lookup(name: String) -> AlertInfo? {
        let key = name.lowercased().replacingOccurrences(of: " ", with: "_")
        return table.first { $0.name == key }
    }

    static let confirm =
        "Confirm with: ferry diagnose HOST:PORT --cert CERT --key KEY --ca CA (prints both sides' handshake and which side objected)."

    public static let table: [AlertInfo] = [
        AlertInfo(
            code: 0,
            name: "close_notify",
            meaning: "orderly close",
            causes: ["the peer finished the connection normally"],
            fixes: []
        ),
        AlertInfo(
            code: 10,
            name: "unexpected_message",
            meaning: "a message arrived that the protocol state does not allow",
            causes: ["a buggy or mismatched implementation", "a middlebox altering the stream"],
            fixes: ["Capture the handshake (ferry ... --pcapng FILE) and compare both sides' messages."]
        ),
        AlertInfo(
            code: 20,
            name: "bad_record_mac",
            meaning: "a record failed authentication",
            causes: ["corruption in transit", "keys that differ between the sides (implementation bug)"],
            fixes: ["Retry; if it persists, capture the connection and check for middleboxes."]
        ),
        AlertInfo(
            code: 40,
            name: "handshake_failure",
            meaning: "the sender could not agree on security parameters",
            causes: [
                "no cipher suite in common", "a client certificate was required but none was sent (TLS 1.2)",
                "no signature algorithm in common",
            ],
            fixes: [
                "Run ferry diagnose to see which versions and suites the server accepts.",
                "If the server requires a client certificate, pass --cert and --key.",
            ]
        ),
        AlertInfo(
            code: 41,
            name: "no_certificate",
            meaning: "SSLv3 only: the client has no suitable certificate",
            causes: ["the client has no certificate from a CA the server named"],
            fixes: ["Give the client a certificate from a CA the server accepts."]
        ),
        AlertInfo(
            code: 42,
            name: "bad_certificate",
            meaning: "a certificate was corrupt or failed verification",
            causes: [
                "a signature that does not verify", "a wrong key usage or EKU (some stacks send 42 instead of 43)",
                "the certificate does not match its private key",
            ],
            fixes: [
                "Check the certificate with ferry config check; issue it again with the right EKU (serverAuth/clientAuth)."
            ]
        ),
        AlertInfo(
            code: 43,
            name: "unsupported_certificate",
            meaning: "a certificate of an unsupported type or purpose",
            causes: ["missing EKU clientAuth/serverAuth", "a key type the peer does not accept"],
            fixes: [
                "Issue the certificate with the right EKU and a key type the peer supports (P-256 ECDSA or RSA 2048+)."
            ]
        ),
        AlertInfo(
            code: 44,
            name: "certificate_revoked",
            meaning: "the certificate was revoked by its signer",
            causes: [
                "the CA that issued it put its serial number on its certificate revocation list (CRL), which the side that sent the alert checks",
                "a new certificate was issued and the old one revoked, but this side still presents the old one",
            ],
            fixes: [
                "Present the current certificate (check the serial number against the CA's CRL: `openssl crl -in ca.crl -noout -text`).",
                "If the certificate was revoked by mistake, the CA must issue a new one: a revocation cannot be undone.",
                "Never answer it by turning verification or CRL checking off on the other side.",
            ]
        ),
        AlertInfo(
            code: 45,
            name: "certificate_expired",
            meaning: "a certificate has expired or is not yet valid",
            causes: ["an expired certificate", "a wrong clock on one side"],
            fixes: ["Renew the certificate; check both clocks (NTP)."]
        ),
        AlertInfo(
            code: 46,
            name: "certificate_unknown",
            meaning: "some other problem with the certificate",
            causes: ["verification failed for a reason without its own alert"],
            fixes: ["Run ferry diagnose; check the chain, names and EKU."]
        ),
        AlertInfo(
            code: 47,
            name: "illegal_parameter",
            meaning: "a field was out of range or inconsistent with others",
            causes: [
                "a CertificateRequest with an empty CA list under SSLv3 or TLS 1.0 (IBM System SSL: RC 410)",
                "a version or extension value the peer considers invalid",
            ],
            fixes: [
                "If SSLv3/TLS 1.0 was negotiated with client authentication: disable SSLv3/TLS 1.0 on the server, or have it send its CA names."
            ]
        ),
        AlertInfo(
            code: 48,
            name: "unknown_ca",
            meaning: "the peer's chain does not lead to a CA the sender trusts",
            causes: [
                "the server does not trust the client certificate's CA (mutual TLS)",
                "the client does not trust the server certificate's CA", "a missing intermediate certificate",
            ],
            fixes: [
                "Use a certificate from a CA the other side trusts, or have it add your CA.",
                "Send the full chain (leaf and intermediates).",
            ]
        ),
        AlertInfo(
            code: 49,
            name: "access_denied",
            meaning:
                "access is refused (RFC 8446 §6.2: a valid certificate without access; GnuTLS also sends it for a client certificate it could not verify)",
            causes: [
                "the identity is not authorised",
                "GnuTLS: the client certificate does not chain to a CA the server trusts",
            ],
            fixes: [
                "Check that your certificate is issued by a CA the partner trusts (ferry diagnose shows the CA names it sends), then ask the partner to authorise your certificate's subject."
            ]
        ),
        AlertInfo(
            code: 50,
            name: "decode_error",
            meaning: "a message could not be decoded",
            causes: [
                "a malformed message, e.g. an empty TLS 1.3 certificate_authorities extension (Java, Go, GnuTLS)",
                "a length field out of range",
            ],
            fixes: ["Capture the handshake and check the message named in the trace; see ferry diagnose's findings."]
        ),
        AlertInfo(
            code: 51,
            name: "decrypt_error",
            meaning: "a signature or Finished did not verify",
            causes: ["a certificate whose key does not match its private key", "a handshake tampered with"],
            fixes: ["Check that the certificate and key belong together (ferry config check)."]
        ),
        AlertInfo(
            code: 70,
            name: "protocol_version",
            meaning: "the protocol version is not supported",
            causes: ["no common version (e.g. a server limited to SSLv3 and a client to TLS 1.2+)"],
            fixes: ["Run ferry diagnose to list the versions the server accepts; enable TLS 1.2 or 1.3 on both sides."]
        ),
        AlertInfo(
            code: 71,
            name: "insufficient_security",
            meaning: "the offered suites are weaker than the sender requires",
            causes: ["the client offers only weak suites"],
            fixes: ["Enable modern suites (AES-GCM, ChaCha20-Poly1305)."]
        ),
        AlertInfo(
            code: 80,
            name: "internal_error",
            meaning: "the sender failed for a reason of its own",
            causes: [
                "a bug or resource problem on the sender",
                "a Ferry peer refused your certificate by a check BoringSSL has no alert for in swift-nio-ssl: it is on the CA's revocation list (CRL), or its chain is deeper than the peer's verify-depth",
            ],
            fixes: [
                "Check the sender's logs: a Ferry server logs and records the reason (finding certificate-revoked, or the verify-depth refusal).",
                "If your certificate was revoked, use your current one.",
            ]
        ),
        AlertInfo(
            code: 86,
            name: "inappropriate_fallback",
            meaning: "a version fallback was detected",
            causes: ["a client retried with a lower version although both support more"],
            fixes: ["Fix the network problem that caused the first attempt to fail."]
        ),
        AlertInfo(
            code: 90,
            name: "user_canceled",
            meaning: "the handshake was cancelled",
            causes: ["the application gave up"],
            fixes: []
        ),
        AlertInfo(
            code: 100,
            name: "no_renegotiation",
            meaning: "renegotiation refused",
            causes: ["the peer does not allow renegotiation"],
            fixes: []
        ),
        AlertInfo(
            code: 109,
            name: "missing_extension",
            meaning: "a required extension is missing",
            causes: ["a TLS 1.3 message without a mandatory extension"],
            fixes: ["Capture the handshake; update the peer's TLS library."]
        ),
        AlertInfo(
            code: 110,
            name: "unsupported_extension",
            meaning: "an extension appeared where it is not allowed",
            causes: ["a peer answering with an extension the client did not offer"],
            fixes: ["Update the peer's TLS library."]
        ),
        AlertInfo(
            code: 112,
            name: "unrecognized_name",
            meaning: "the server does not know the name in SNI",
            causes: ["a wrong host name or --sni"],
            fixes: ["Connect with the host name the server is configured for (--sni NAME)."]
        ),
        AlertInfo(
            code: 116,
            name: "certificate_required",
            meaning: "TLS 1.3: the server requires a client certificate and none was sent",
            causes: ["no client certificate configured", "no certificate from a CA the server named"],
            fixes: [
                "Pass --cert and --key (or set client.tls / the partner's tls), with a certificate from a CA the server names."
            ]
        ),
        AlertInfo(
            code: 120,
            name: "no_application_protocol",
            meaning: "no ALPN protocol in common",
            causes: ["client and server offer different ALPN protocols"],
            fixes: ["Align the ALPN protocols (Ferry speaks h2 and http/1.1)."]
        ),
    ]
}
