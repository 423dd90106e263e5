/// The catalogue of findings: id, severity, title, side, rule and fixes in one table (data, not scattered
/// strings). Evidence, and sometimes a sharper title, come from the case at hand.
struct FindingKind: Sendable {
    let id: String
    let severity: Finding.Severity
    let title: String
    let side: Finding.Side
    let rule: String
    let fixes: [String]

    static let caNamesEmptyIllegal = FindingKind(
        id: "ca-names-empty-illegal",
        severity: .error,
        title: "The server asks for a client certificate with an empty CA list, which this protocol version forbids",
        side: .peer,
        rule:
            "SSLv3 (RFC 6101 §5.6.4) and TLS 1.0 (RFC 2246 §7.4.4) declare certificate_authorities<3..2^16-1>: at least one name. Strict stacks such as IBM System SSL abort with a fatal illegal_parameter (47) alert and report gsk_secure_socket_init RC 410 (\"SSL message format is incorrect\"); SSLv3 has no decode_error, so 47 is the only alert such a client can send.",
        fixes: [
            "Disable SSLv3 and TLS 1.0 on the partner's server (OpenSSL: MinProtocol = TLSv1.2; nginx: ssl_protocols TLSv1.2 TLSv1.3;). From TLS 1.1 on an empty list is legal, and TLS 1.2+ is what both sides should use anyway.",
            "Have the partner send its CA names: OpenSSL SSL_CTX_set_client_CA_list() or s_server -CAfile; nginx ssl_client_certificate ca.pem; (ssl_trusted_certificate alone sends none); a Ferry server always sends them.",
        ]
    )

    static let caNamesEmpty = FindingKind(
        id: "ca-names-empty",
        severity: .note,
        title: "The server asks for a client certificate but names no CA",
        side: .peer,
        rule:
            "TLS 1.1/1.2 (RFC 5246 §7.4.4) allow an empty certificate_authorities list: the client may send any certificate of the right type and must guess which one the server will accept.",
        fixes: [
            "Have the partner send its CA names (OpenSSL -CAfile / SSL_CTX_set_client_CA_list, nginx ssl_client_certificate), so clients with several certificates pick the right one."
        ]
    )

    static let tls13EmptyCAExtension = FindingKind(
        id: "tls13-empty-ca-extension",
        severity: .error,
        title: "The TLS 1.3 CertificateRequest carries an empty certificate_authorities extension",
        side: .peer,
        rule:
            "RFC 8446 §4.2.4: authorities<3..2^16-1>; an empty extension is malformed. Java, Go, GnuTLS and BoringSSL (Ferry's own client) reject it with decode_error. OpenSSL 3 sends it when it has client CAs but is told not to name them (s_server -no_ca_names; Options -CANames).",
        fixes: [
            "Have the partner name its CAs: remove the setting that suppresses them (OpenSSL: SSL_OP_DISABLE_TLSEXT_CA_NAMES, `Options = -CANames` in openssl.cnf or `s_server -no_ca_names`; nginx: `ssl_conf_command Options -CANames`) and list the client CAs (SSL_CTX_set_client_CA_list; nginx ssl_client_certificate)."
        ]
    )

    static let ssl3Negotiated = FindingKind(
        id: "ssl3-negotiated",
        severity: .error,
        title: "The server negotiates SSLv3",
        side: .peer,
        rule: "RFC 7568: SSLv3 MUST NOT be used (POODLE); Ferry never speaks it.",
        fixes: [
            "Enable TLS 1.2 and 1.3 on the partner's server and disable SSLv3 (OpenSSL MinProtocol = TLSv1.2; XCOM [SSL_METHOD] TLSv1.2 or higher)."
        ]
    )

    static let tls10Negotiated = FindingKind(
        id: "tls10-negotiated",
        severity: .warning,
        title: "The server negotiates TLS 1.0",
        side: .peer,
        rule: "RFC 8996: TLS 1.0 and 1.1 are deprecated and MUST NOT be used.",
        fixes: ["Enable TLS 1.2 and 1.3 on the partner's server and disable TLS 1.0 and 1.1."]
    )

    static let tls11Negotiated = FindingKind(
        id: "tls11-negotiated",
        severity: .warning,
        title: "The server negotiates TLS 1.1",
        side: .peer,
        rule: "RFC 8996: TLS 1.0 and 1.1 are deprecated and MUST NOT be used.",
        fixes: ["Enable TLS 1.2 and 1.3 on the partner's server and disable TLS 1.1."]
    )

    static let legacyVersionAccepted = FindingKind(
        id: "legacy-version-accepted",
        severity: .warning,
        title: "The server still accepts an obsolete protocol version",
        side: .peer,
        rule: "RFC 7568 (SSLv3), RFC 8996 (TLS 1.0, 1.1).",
        fixes: ["Disable SSLv3, TLS 1.0 and TLS 1.1 on the partner's server; keep TLS 1.2 and 1.3."]
    )

    static let noCommonVersion = FindingKind(
        id: "no-common-version",
        severity: .error,
        title: "The server accepts none of the protocol versions offered",
        side: .peer,
        rule:
            "RFC 8446 §4.1.3 / RFC 5246 §7.4.1.3: without a common version the handshake fails (protocol_version alert).",
        fixes: [
            "Compare the versions each side allows (ferry diagnose lists what the server accepts) and enable TLS 1.2 or 1.3 on both."
        ]
    )

    static let noCommonCipher = FindingKind(
        id: "no-common-cipher",
        severity: .error,
        title: "The server accepts the version but none of the cipher suites offered",
        side: .peer,
        rule: "RFC 5246 §7.4.1.3: the server must pick one of the client's suites or fail with handshake_failure.",
        fixes: ["Enable modern AEAD suites (ECDHE with AES-GCM or ChaCha20-Poly1305) on the partner's server."]
    )

    static let clientCertNotRequested = FindingKind(
        id: "client-cert-not-requested",
        severity: .warning,
        title: "The server does not ask for a client certificate",
        side: .peer,
        rule:
            "Mutual TLS: without a CertificateRequest (RFC 8446 §4.3.2, RFC 5246 §7.4.4) the server cannot authenticate the client.",
        fixes: [
            "Have the partner require client certificates (OpenSSL -Verify / SSL_VERIFY_PEER|SSL_VERIFY_FAIL_IF_NO_PEER_CERT; nginx ssl_verify_client on; Ferry server.tls.client-auth: required)."
        ]
    )

    static let clientIssuerNotInCANames = FindingKind(
        id: "client-issuer-not-in-ca-names",
        severity: .error,
        title: "Your client certificate's issuer is not among the CAs the server names",
        side: .configuration,
        rule:
            "RFC 5246 §7.4.6 / RFC 8446 §4.2.4: when the server names CAs, the client's chain should be issued by one of them; servers usually reject others with unknown_ca.",
        fixes: [
            "Use a client certificate issued by one of the CAs the server names.",
            "Or have the partner add your CA to its trusted and named CAs.",
        ]
    )

    static let clientKeyTypeNotAccepted = FindingKind(
        id: "client-key-type-not-accepted",
        severity: .error,
        title: "The server does not accept signatures made with your client certificate's key type",
        side: .configuration,
        rule:
            "RFC 5246 §7.4.4 (certificate_types, supported_signature_algorithms) and RFC 8446 §4.3.2 (signature_algorithms): the client's certificate must fit one of the types and signature schemes the CertificateRequest lists; otherwise it cannot sign its CertificateVerify and the server refuses (handshake_failure).",
        fixes: [
            "Use a client certificate with a key type the server accepts (the evidence lists them), issued by a CA the server trusts.",
            "Or have the partner allow your key type's signature schemes in its client-authentication settings (OpenSSL -client_sigalgs / ClientSignatureAlgorithms; Java jdk.tls.client.SignatureSchemes on its side).",
        ]
    )

    static let serverSignatureNotOffered = FindingKind(
        id: "server-cert-signature-not-offered",
        severity: .error,
        title: "The server's certificate needs a signature scheme the client does not offer",
        side: .configuration,
        rule:
            "RFC 8446 §4.2.3 and RFC 5246 §7.4.1.4.1: the server signs its handshake with its certificate's key, using a scheme from the client's signature_algorithms (TLS 1.3 binds ECDSA to the certificate's curve; TLS 1.2 also needs the curve in supported_groups); with none in common it has nothing to sign with and refuses (handshake_failure).",
        fixes: [
            "The partner's server adds a certificate whose key your client accepts: ECDSA P-256 or P-384, or RSA (rsaEncryption, 2048 bits or more). OpenSSL, nginx, Apache and Java servers can hold an RSA and an ECDSA certificate at once and pick per client, so the partner's other clients are not affected.",
            "Ferry's client (BoringSSL) verifies server certificates with ECDSA P-256/P-384 and RSA keys (PKCS#1 and PSS signatures), not P-521, Ed25519, Ed448, brainpool or RSASSA-PSS keys; no Ferry setting adds them.",
        ]
    )

    static let clientCertMissingClientAuth = FindingKind(
        id: "client-cert-missing-clientauth-eku",
        severity: .error,
        title: "Your client certificate lacks the clientAuth extended key usage",
        side: .configuration,
        rule:
            "RFC 5280 §4.2.1.12: with an EKU extension present, the certificate may only be used for the purposes listed; servers reject it (unsupported_certificate or bad_certificate).",
        fixes: ["Issue a client certificate with EKU clientAuth (ferry certs init --client NAME makes one)."]
    )

    static let unrecognizedName = FindingKind(
        id: "sni-unrecognized-name",
        severity: .error,
        title: "The server does not serve the name sent in SNI",
        side: .configuration,
        rule: "RFC 6066 §3: a server that does not recognise the server_name may abort with unrecognized_name (112).",
        fixes: [
            "Connect with a host name the partner's server is configured for (--sni NAME, or that name in the URL); its certificate's subjectAltName lists them.",
            "If this is the right name, the partner must add it to its server (nginx server_name; a virtual host for it).",
        ]
    )

    static let clientCertExpired = FindingKind(
        id: "client-cert-expired",
        severity: .error,
        title: "Your client certificate has expired",
        side: .local,
        rule:
            "RFC 5280 §4.1.2.5: a certificate is valid only between notBefore and notAfter; a server rejects one outside it (certificate_expired).",
        fixes: [
            "Renew this side's client certificate (client.tls.certificate, or partners.NAME.tls.certificate) with the CA the partner trusts, and send the partner nothing new unless its CA changed."
        ]
    )

    static let serverCertExpired = FindingKind(
        id: "server-cert-expired",
        severity: .error,
        title: "The server's certificate has expired",
        side: .peer,
        rule: "RFC 5280 §4.1.2.5: a certificate is valid only between notBefore and notAfter.",
        fixes: ["Have the partner renew and install its server certificate."]
    )

    static let serverCertNotYetValid = FindingKind(
        id: "server-cert-not-yet-valid",
        severity: .error,
        title: "The server's certificate is not valid yet",
        side: .peer,
        rule: "RFC 5280 §4.1.2.5: a certificate is valid only between notBefore and notAfter.",
        fixes: ["Check the clocks on both sides (NTP), or wait until the certificate's notBefore."]
    )

    static let hostnameMismatch = FindingKind(
        id: "hostname-mismatch",
        severity: .error,
        title: "The server's certificate does not name the host you connect to",
        side: .peer,
        rule: "RFC 6125 / RFC 9110 §4.3.4: the host name must match a subjectAltName (DNS or IP).",
        fixes: [
            "Connect with a name the certificate lists (--sni NAME), or have the partner add this name to its certificate's SANs."
        ]
    )

    static let untrustedIssuer = FindingKind(
        id: "untrusted-issuer",
        severity: .error,
        title: "The server's certificate is not issued by a CA you trust",
        side: .configuration,
        rule: "RFC 5280 §6: the chain must end at a trust anchor; a client then aborts with unknown_ca.",
        fixes: [
            "Add the partner's CA certificate to your trusted CAs (--ca FILE, or partners.NAME.tls.ca).",
            "If the partner's CA is the one you trust, the chain may be incomplete: see incomplete-chain.",
        ]
    )

    static let incompleteChain = FindingKind(
        id: "incomplete-chain",
        severity: .error,
        title: "The server does not send the intermediate CA certificates its certificate needs",
        side: .peer,
        rule:
            "RFC 8446 §4.4.2 / RFC 5246 §7.4.2: the server sends its chain up to (not necessarily including) the root.",
        fixes: [
            "Have the partner configure its full chain (leaf followed by intermediates; nginx ssl_certificate fullchain.pem)."
        ]
    )

    static let serverCertKeyUsage = FindingKind(
        id: "server-cert-key-usage",
        severity: .error,
        title: "The server's certificate does not allow digital signatures, which its key exchange needs",
        side: .peer,
        rule:
            "RFC 5280 §4.2.1.3 with RFC 8446 §4.4.3 / RFC 5246 §7.4.3: an ECDHE or DHE key exchange and every TLS 1.3 handshake are signed with the certificate's key, so its keyUsage must include digitalSignature; clients refuse it (BoringSSL: KEY_USAGE_BIT_INCORRECT, then illegal_parameter or no alert).",
        fixes: [
            "Have the partner re-issue its server certificate with keyUsage digitalSignature (plus keyEncipherment for an RSA key, if it must also serve RSA key exchange).",
            "Not a fix: restricting the partner to TLS_RSA_* suites would use the certificate as it is, without forward secrecy and without TLS 1.3.",
        ]
    )

    static let serverCertMissingServerAuth = FindingKind(
        id: "server-cert-missing-serverauth-eku",
        severity: .error,
        title: "The server's certificate lacks the serverAuth extended key usage",
        side: .peer,
        rule: "RFC 5280 §4.2.1.12: with an EKU extension present, only the purposes listed are allowed.",
        fixes: ["Have the partner issue its server certificate with EKU serverAuth."]
    )

    static let peerAlert = FindingKind(
        id: "peer-alert",
        severity: .error,
        title: "The peer aborted the handshake with an alert",
        side: .peer,
        rule: "RFC 8446 §6 / RFC 5246 §7.2: a fatal alert ends the connection; its description says why.",
        fixes: []
    )

    static let plaintextOnTLSPort = FindingKind(
        id: "plaintext-on-tls-port",
        severity: .error,
        title: "The port answers in plaintext, not TLS",
        side: .configuration,
        rule:
            "A TLS client's first bytes are a ClientHello record; a plaintext service answers them with its own protocol (or closes).",
        fixes: [
            "Check the port: this looks like a plaintext service (HTTP, SSH, FTP...). Use the partner's TLS port, or enable TLS on this one."
        ]
    )

    static let tlsOnPlaintextPort = FindingKind(
        id: "tls-on-plaintext-port",
        severity: .error,
        title: "This port speaks plaintext HTTP: it answered the TLS ClientHello with an HTTP error",
        side: .configuration,
        rule:
            "A plaintext HTTP server reads a ClientHello as a malformed request and answers with HTTP (or HTML); no TLS is possible on this port.",
        fixes: [
            "Use the partner's TLS (https) port.",
            "Or enable TLS on this service (a reverse proxy such as nginx with ssl_verify_client on, or ferry serve).",
        ]
    )

    static let connectFailed = FindingKind(
        id: "connect-failed",
        severity: .error,
        title: "The TCP connection failed",
        side: .network,
        rule: "Nothing at TLS level can happen before TCP connects.",
        fixes: ["Check the host name, port, firewalls and that the partner's server is running."]
    )

    static let handshakeIncomplete = FindingKind(
        id: "handshake-incomplete",
        severity: .error,
        title: "The handshake with your client settings did not complete",
        side: .network,
        rule:
            "RFC 8446 §4 / RFC 5246 §7.3: a handshake ends with both sides' Finished, or with a fatal alert that says why. One that stops, or whose connection closes without an alert, was cut by something (a relay, a firewall, a load balancer, a server that hangs or crashes).",
        fixes: [
            "Check what sits between you and the partner's server (proxy, load balancer, firewall, TLS inspection): the evidence shows how far the server's answer got before it stopped.",
            "Ask the partner for its server's log at this time: a crash or a stuck worker shows there.",
        ]
    )

    static let noResponse = FindingKind(
        id: "no-response",
        severity: .error,
        title: "The server accepted the connection but never answered the ClientHello",
        side: .peer,
        rule: "RFC 8446 §4.1.1: the server answers a ClientHello with a ServerHello or an alert.",
        fixes: ["Check that this port speaks TLS and that nothing in between (proxy, firewall) swallows the handshake."]
    )
}

/// Refusals the TLS layer makes by its own checks, after BoringSSL accepted the chain.
extension FindingKind {
    static let certificateRevoked = FindingKind(
        id: "certificate-revoked",
        severity: .error,
        title: "The peer's certificate is on its CA's revocation list",
        side: .peer,
        rule:
            "RFC 5280 §6.3: a certificate whose serial number is on a valid CRL of its issuer is revoked and must not be accepted. This side refused the handshake; the alert on the wire is internal_error (80), not certificate_revoked (44), because swift-nio-ssl gives no way to set the verification error.",
        fixes: [
            "The partner must use its current, unrevoked certificate.",
            "If the revocation was a mistake, the CA must issue a new certificate: a revocation cannot be undone.",
        ]
    )
}

extension Finding {
    /// The finding for a refusal that the TLS layer made by id (`certificate-revoked`), with its reason as evidence.
    public static func refusal(id: String, reason: String) -> Finding? {
        switch id {
        case FindingKind.certificateRevoked.id: Finding(.certificateRevoked, evidence: [reason])
        default: nil
        }
    }
}

extension FindingKind {
    /// Every finding the diagnosis can make, for looking one up by id (a ledger row keeps only ids).
    static let catalogue: [FindingKind] = [
        .caNamesEmptyIllegal,
        .caNamesEmpty,
        .tls13EmptyCAExtension,
        .ssl3Negotiated,
        .tls10Negotiated,
        .tls11Negotiated,
        .legacyVersionAccepted,
        .noCommonVersion,
        .noCommonCipher,
        .clientCertNotRequested,
        .clientIssuerNotInCANames,
        .clientKeyTypeNotAccepted,
        .serverSignatureNotOffered,
        .clientCertMissingClientAuth,
        .unrecognizedName,
        .clientCertExpired,
        .serverCertExpired,
        .serverCertNotYetValid,
        .hostnameMismatch,
        .untrustedIssuer,
        .incompleteChain,
        .serverCertKeyUsage,
        .serverCertMissingServerAuth,
        .peerAlert,
        .plaintextOnTLSPort,
        .tlsOnPlaintextPort,
        .connectFailed,
        .handshakeIncomplete,
        .noResponse,
        .certificateRevoked,
        .configInvalid,
        .xcomDollar,
        .ssl3Enabled,
        .sslMethodAll,
        .zosOnly,
        .xcomUnknown,
        .fileUnreadable,
        .notPEM,
        .keyMismatch,
        .keyPassphrase,
        .certificateExpired,
        .certificateExpiring,
        .certificateNotYetValid,
        .certificateWrongUsage,
        .caFileNotCA,
        .chainTooDeep,
        .legacyVersionEnabled,
        .verificationOff,
        .caNamesOff,
        .cipherSetting,
        .profileIncomplete,
        .partnerBindingAmbiguous,
        .partnerBindingForgeable,
        .crlInvalid,
        .crlExpired,
    ]
}

extension Finding {
    /// The catalogue's finding of this id (title, rule, fixes), without the evidence of a case; nil for an id the
    /// catalogue does not have (a row written by another version).
    public static func catalogued(id: String) -> Finding? {
        FindingKind.catalogue.first { $0.id == id }.map { Finding($0, evidence: []) }
    }

    /// A finding id this version's catalogue does not have (a row written by another version of Ferry).
    public static func unknown(id: String) -> Finding {
        Finding(
            FindingKind(
                id: id,
                severity: .note,
                title: "A finding this version of Ferry does not describe",
                side: .local,
                rule:
                    "The ledger row was written by another version of Ferry; `ferry explain` of that version describes it.",
                fixes: []
            ),
            evidence: []
        )
    }

    /// The ids of every finding in the catalogue.
    public static var catalogueIDs: [String] { FindingKind.catalogue.map(\.id) }
}
