/// IBM System SSL (z/OS `gsk_*`) return codes, with how sure the wording is: V exact IBM wording, C code and
/// constant confirmed with paraphrased wording, U unconfirmed (printed as such).
public struct SystemSSLCode: Sendable {
    public enum Status: String, Sendable {
        case verbatim = "V"
        case confirmed = "C"
        case unconfirmed = "U"
    }

    public let code: Int
    public let meaning: String
    public let status: Status

    public static func lookup(_ code: Int) -> SystemSSLCode? { table.first { $0.code == code } }

    static let table: [SystemSSLCode] = [
        (1, "Handle is not valid", "V"), (3, "An internal error has occurred", "V"),
        (4, "Insufficient storage is available", "V"),
        (5, "Handle is in the incorrect state", "V"), (6, "Key label is not found", "V"),
        (7, "No certificates available", "V"),
        (8, "Certificate validation error", "V"), (9, "Cryptographic processing error", "V"),
        (10, "ASN processing error", "V"),
        (11, "LDAP processing error", "V"), (12, "An unexpected error has occurred", "V"),
        (102, "Error detected while reading key database or SAF key ring", "V"),
        (103, "Incorrect key database record format", "V"),
        (106, "Incorrect key database password", "V"), (109, "No certificate authority certificates", "V"),
        (201, "No key database password supplied", "V"), (202, "Error detected while opening the key database", "V"),
        (203, "Unable to generate temporary key pair", "V"), (204, "Key database password is expired", "V"),
        (302, "Connection is active", "V"), (401, "Certificate is expired or is not valid yet", "V"),
        (402, "No SSL cipher specifications (no cipher in common)", "V"),
        (403, "No certificate received from partner", "V"),
        (405, "Certificate format is not supported", "V"), (406, "I/O error while reading or writing data", "C"),
        (407, "Key label does not exist", "V"), (408, "Key database password is not correct", "C"),
        (410, "SSL message format is incorrect", "V"), (411, "Message authentication code is incorrect", "C"),
        (412, "SSL protocol or certificate type is not supported (no protocol in common)", "V"),
        (413, "Certificate signature is incorrect", "V"), (414, "Certificate is not valid", "C"),
        (415, "Certificate is not trusted / bad peer", "U"), (416, "Permission denied", "C"),
        (417, "Self-signed certificate cannot be validated", "C"), (420, "Socket closed by remote partner", "C"),
        (421, "SSL V2 cipher is not valid", "C"), (422, "SSL V3 cipher is not valid", "V"),
        (425, "Handle creation failed", "C"),
        (426, "Initialization failed", "C"), (427, "LDAP is not available", "C"),
        (428, "Key entry does not contain a private key", "V"),
        (429, "SSL V2 header is not valid", "U"), (431, "Certificate is revoked", "U"),
        (432, "Session renegotiation is not allowed", "V"),
        (433, "Key exceeds allowable export size", "U"),
        (434, "Certificate key is not compatible with cipher suite", "U"),
        (435, "Certification authority is unknown (CA missing from the key database / key ring, or not trusted)", "V"),
        (436, "Certificate revocation list cannot be processed", "U"), (437, "Connection closed", "C"),
        (438, "Internal error reported by remote partner", "C"),
        (439, "Unknown alert received from remote partner", "C"),
        (440, "Incorrect key usage", "V"), (445, "TLS extension mismatch", "U"),
        (446, "Required TLS extension rejected (seen with \"Server returned unrequested TLS extension\")", "C"),
        (447, "Requested server name is not recognized", "U"), (448, "Unsupported fragment length", "U"),
        (449, "TLS extension length field is not valid", "U"), (450, "Bad message length", "C"),
        (501, "Buffer size is not valid", "C"),
        (502, "Socket request would block", "C"),
    ].map { SystemSSLCode(code: $0.0, meaning: $0.1, status: Status(rawValue: $0.2)!) }

    /// Causes and fixes Ferry knows beyond the meaning, for the codes partners hit most.
    static let advice: [Int: (causes: [String], fixes: [String])] = [
        410: (
            [
                "The partner's CertificateRequest has an empty CA list while SSLv3 or TLS 1.0 was negotiated: System SSL rejects it with illegal_parameter (47) (Ferry finding ca-names-empty-illegal).",
                "Another malformed handshake message from the partner.",
            ],
            [
                "Disable SSLv3/TLS 1.0 on the partner's server, or have it send its CA names (OpenSSL -CAfile / SSL_CTX_set_client_CA_list; nginx ssl_client_certificate).",
                "Do not switch certificate verification off: that removes partner authentication and hides the real fault.",
            ]
        ),
        402: (
            ["No cipher suite in common (often an old SSLv3/TLS 1.0-only partner)."],
            ["Enable modern suites and TLS 1.2+ on both sides."]
        ),
        403: (
            ["The partner sent no client certificate although one is required."],
            ["Give the partner a client certificate from a CA this side trusts."]
        ),
        412: (["No protocol version in common."], ["Enable TLS 1.2 (and 1.3) on both sides."]),
        435: (
            ["The partner's certificate is issued by a CA missing from the key ring / key database."],
            ["Add the partner's CA certificate to the key ring and connect it to the right label."]
        ),
        401: (
            ["An expired (or not yet valid) certificate on either side; a wrong clock."],
            ["Renew the certificate; check both clocks."]
        ),
    ]
}
