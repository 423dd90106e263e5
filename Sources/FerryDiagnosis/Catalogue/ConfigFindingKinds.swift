/// The findings of `ferry config check`: problems in a Ferry configuration or an XCOM configssl.cnf, found
/// before any partner connects.
extension FindingKind {
    static let configInvalid = FindingKind(
        id: "config-invalid",
        severity: .error,
        title: "The configuration file cannot be used",
        side: .configuration,
        rule: "Ferry refuses to start on an unknown key, a bad value or a malformed file (docs/configuration.md).",
        fixes: ["Correct the line named in the evidence."]
    )

    static let xcomDollar = FindingKind(
        id: "xcom-dollar",
        severity: .error,
        title: "A '$' in the XCOM file starts a variable that does not exist",
        side: .configuration,
        rule:
            "OpenSSL CONF syntax (which XCOM's configssl.cnf uses): '$name', '${name}' and '$(name)' expand variables; an undefined one stops the file from loading (\"variable has no value\"). A literal '$' must be written '\\$'.",
        fixes: [
            "Escape each literal '$' as '\\$' (a pass phrase pa$$word is written pa\\$\\$word).",
            "Or move the pass phrase out of the file: key-passphrase-env or key-passphrase-file in Ferry's YAML.",
        ]
    )

    static let ssl3Enabled = FindingKind(
        id: "ssl3-enabled",
        severity: .error,
        title: "SSLv3 is configured",
        side: .configuration,
        rule:
            "RFC 7568: SSLv3 MUST NOT be used (POODLE). Its CertificateRequest may not carry an empty CA list, which is what IBM System SSL rejects with alert 47 / RC 410.",
        fixes: [
            "Set [SSL_METHOD] to TLS (TLS 1.2 and 1.3), or ALL for partners stuck on TLS 1.0.",
            "Ask the partner to enable TLS 1.2.",
        ]
    )

    static let sslMethodAll = FindingKind(
        id: "xcom-ssl-method-all",
        severity: .warning,
        title: "[SSL_METHOD] ALL enables TLS 1.0 and 1.1 (and SSLv3 in XCOM)",
        side: .configuration,
        rule:
            "In XCOM, ALL includes SSLv3; Ferry maps it to TLS 1.0 to 1.3, since it does not speak SSLv3 (RFC 7568). TLS 1.0/1.1 are deprecated (RFC 8996).",
        fixes: ["Set [SSL_METHOD] to TLS (TLS 1.2 and 1.3) once every partner supports TLS 1.2."]
    )

    static let zosOnly = FindingKind(
        id: "xcom-zos-only",
        severity: .note,
        title: "A z/OS key ring setting has no effect outside z/OS",
        side: .configuration,
        rule:
            "[KEYRING], [KEYRING_FILE] and [LABLCERT] name RACF/SAF key rings and System SSL key databases, which only z/OS System SSL reads.",
        fixes: [
            "Export the certificate and key from the key ring (RACDCERT EXPORT ... FORMAT(PKCS12DER), then `openssl pkcs12 -in FILE -nodes`) and set [CERTIFICATE] and [PRIVATEKEY]."
        ]
    )

    static let xcomUnknown = FindingKind(
        id: "xcom-unknown-setting",
        severity: .warning,
        title: "A section or key of the XCOM file is not one XCOM reads",
        side: .configuration,
        rule:
            "XCOM's configssl.cnf sections each hold INITIATE_SIDE and RECEIVE_SIDE; anything else is ignored, usually a typo.",
        fixes: ["Check the spelling against the sections XCOM documents."]
    )

    static let fileUnreadable = FindingKind(
        id: "file-unreadable",
        severity: .error,
        title: "A file the profile names is missing or unreadable",
        side: .configuration,
        rule: "Every certificate, key and CA file is read at startup; a missing one stops the side from working.",
        fixes: [
            "Check the path (relative paths are relative to the configuration file's folder) and the file's permissions."
        ]
    )

    static let notPEM = FindingKind(
        id: "file-not-pem",
        severity: .error,
        title: "A file is not in the PEM format expected",
        side: .configuration,
        rule: "Ferry reads certificates and keys as PEM ('-----BEGIN ...-----' blocks).",
        fixes: [
            "Convert it: `openssl x509 -inform der -in FILE -out FILE.pem` (certificates), `openssl pkey -inform der ...` (keys)."
        ]
    )

    static let keyMismatch = FindingKind(
        id: "key-certificate-mismatch",
        severity: .error,
        title: "The private key does not belong to the certificate",
        side: .configuration,
        rule:
            "The handshake signs with the key and the peer checks against the certificate's public key; XCOM reports this at load time (Txpi 308), OpenSSL as 'key values mismatch'.",
        fixes: [
            "Point the key setting at the key generated with this certificate, or reissue the certificate for this key."
        ]
    )

    static let keyPassphrase = FindingKind(
        id: "key-passphrase",
        severity: .error,
        title: "The encrypted private key cannot be decrypted",
        side: .configuration,
        rule:
            "An encrypted PEM key needs its pass phrase: key-passphrase, key-passphrase-env or key-passphrase-file ([PASSWORD] in a configssl.cnf).",
        fixes: [
            "Set the right pass phrase for this profile.",
            "A '$' in a configssl.cnf pass phrase must be written '\\$'.",
        ]
    )

    static let certificateExpired = FindingKind(
        id: "certificate-expired",
        severity: .error,
        title: "A certificate in use has expired",
        side: .configuration,
        rule: "RFC 5280 §4.1.2.5: an expired certificate is not valid; peers abort with certificate_expired (45).",
        fixes: ["Renew the certificate and replace the file; a running Ferry server reloads it on change or SIGHUP."]
    )

    static let certificateExpiring = FindingKind(
        id: "certificate-expiring",
        severity: .warning,
        title: "A certificate in use expires soon",
        side: .configuration,
        rule: "Peers refuse expired certificates (RFC 5280 §4.1.2.5); renewal takes partners time when they pin CAs.",
        fixes: ["Renew it now; a running Ferry server reloads the new file without a restart."]
    )

    static let certificateNotYetValid = FindingKind(
        id: "certificate-not-yet-valid",
        severity: .error,
        title: "A certificate in use is not valid yet",
        side: .configuration,
        rule: "RFC 5280 §4.1.2.5: before notBefore a certificate is not valid.",
        fixes: ["Check this machine's clock, or wait for the certificate's start date."]
    )

    static let certificateWrongUsage = FindingKind(
        id: "certificate-wrong-eku",
        severity: .error,
        title: "A certificate lacks the key usage its side needs",
        side: .configuration,
        rule:
            "RFC 5280 §4.2.1.12: with an extended key usage extension, the receive side's certificate needs serverAuth and the initiate side's clientAuth; strict peers refuse it otherwise (unsupported_certificate, 43).",
        fixes: ["Issue a certificate with the right EKU for this side (`ferry certs init` makes both kinds)."]
    )

    static let caFileNotCA = FindingKind(
        id: "ca-file-not-ca",
        severity: .warning,
        title: "The CA file holds a certificate that is not a CA",
        side: .configuration,
        rule:
            "RFC 5280 §4.2.1.9: only certificates with basicConstraints cA=TRUE may issue others; a leaf in the trust file trusts exactly that certificate and its name is sent as a CA name.",
        fixes: ["Keep only CA certificates (roots and intermediates) in the CA file."]
    )

    static let chainTooDeep = FindingKind(
        id: "chain-deeper-than-verify-depth",
        severity: .error,
        title: "The certificate chain is deeper than the verify depth",
        side: .configuration,
        rule:
            "OpenSSL's verify depth (XCOM [VERIFY_DEPTH], shipped as 4) counts the CA certificates allowed between a certificate and its trust anchor; a longer chain is refused (X509_V_ERR_CERT_CHAIN_TOO_LONG).",
        fixes: [
            "Raise verify-depth ([VERIFY_DEPTH]) to at least the number of intermediate CAs.",
            "Or use a certificate issued closer to the root.",
        ]
    )

    static let legacyVersionEnabled = FindingKind(
        id: "legacy-version-enabled",
        severity: .warning,
        title: "TLS 1.0 or 1.1 is enabled",
        side: .configuration,
        rule:
            "RFC 8996: TLS 1.0 and 1.1 are deprecated and MUST NOT be used; they allow CBC suites and SHA-1 handshakes.",
        fixes: ["Set min-version to 1.2 once every partner supports it."]
    )

    static let verificationOff = FindingKind(
        id: "verification-off",
        severity: .warning,
        title: "Certificate verification is off",
        side: .configuration,
        rule: "Without verification anyone on the path can pose as the partner (RFC 5246 §7.4.6, RFC 8446 §4.4.2.4).",
        fixes: [
            "Turn verification back on (client.tls.verify: true; server.tls.client-auth: required; [VERIFY_CERTIFICATE] YES) and fix the underlying certificate problem instead, e.g. with `ferry diagnose`."
        ]
    )

    static let caNamesOff = FindingKind(
        id: "ca-names-off",
        severity: .warning,
        title: "Client certificates are requested without CA names",
        side: .configuration,
        rule:
            "SSLv3/TLS 1.0 (RFC 2246 §7.4.4) forbid an empty certificate_authorities list; IBM System SSL rejects it with alert 47 / RC 410 — the incident Ferry is built around. Later versions allow it, but clients must then guess.",
        fixes: ["Set server.tls.send-ca-names: true (the default)."]
    )

    static let cipherSetting = FindingKind(
        id: "cipher-setting",
        severity: .error,
        title: "The cipher setting cannot be used",
        side: .configuration,
        rule: "ciphers takes an OpenSSL cipher string for TLS 1.2 and below; cipher-suites the TLS 1.3 suite names.",
        fixes: ["Use Ferry's default (remove the setting) or a valid string such as ECDHE+AESGCM:ECDHE+CHACHA20."]
    )

    static let profileIncomplete = FindingKind(
        id: "profile-incomplete",
        severity: .error,
        title: "The TLS profile is incomplete",
        side: .configuration,
        rule:
            "The receive side needs a certificate, its key and (with client certificates) a CA file; a certificate needs its key.",
        fixes: ["Add the missing setting named in the evidence."]
    )

    static let partnerBindingAmbiguous = FindingKind(
        id: "partner-binding-ambiguous",
        severity: .error,
        title: "Two partners can be named by one certificate",
        side: .configuration,
        rule:
            "A client certificate must name exactly one partner; Ferry refuses to start when two partners' subject, SAN or CN bindings can match the same certificate under CAs that can meet in one chain.",
        fixes: ["Give each partner its own CA with partners.NAME.ca.", "Or bind them by different subjects or SANs."]
    )

    static let partnerBindingForgeable = FindingKind(
        id: "partner-binding-forgeable",
        severity: .warning,
        title: "A partner's identity can be claimed through another CA",
        side: .configuration,
        rule:
            "Any CA the server trusts can issue a certificate with any subject, SAN or CN. With several partner CAs trusted, a binding without 'ca' (or CN naming from several CAs) lets one partner's CA name another partner.",
        fixes: [
            "Set partners.NAME.ca to the CA that issues that partner's certificates.",
            "Leave server.cn-ca unset (CN naming only with a single trusted CA), or list one organisation's CAs only.",
        ]
    )

    static let crlInvalid = FindingKind(
        id: "crl-invalid",
        severity: .error,
        title: "A revocation list cannot be used",
        side: .configuration,
        rule:
            "RFC 5280 §5: a CRL is a CertificateList signed by the CA it names as issuer; Ferry checks the signature against that CA before using it.",
        fixes: [
            "Give the CA's current CRL as PEM (-----BEGIN X509 CRL-----) or DER (`openssl ca -gencrl`, or the CA's CRL distribution point)."
        ]
    )

    static let crlExpired = FindingKind(
        id: "crl-expired",
        severity: .warning,
        title: "A revocation list is past its next update",
        side: .configuration,
        rule:
            "RFC 5280 §5.1.2.5: after nextUpdate a newer CRL exists; certificates revoked since are not on this one. Ferry keeps using it (its revocations still hold) and warns.",
        fixes: ["Fetch the CA's current CRL and replace the file; a running server reloads it on change or SIGHUP."]
    )
}
