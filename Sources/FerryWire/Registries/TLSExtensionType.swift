/// An extension type code point (IANA TLS ExtensionType Values).
public struct TLSExtensionType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let serverName = Self(rawValue: 0)
    public static let statusRequest = Self(rawValue: 5)
    public static let supportedGroups = Self(rawValue: 10)
    public static let ecPointFormats = Self(rawValue: 11)
    public static let signatureAlgorithms = Self(rawValue: 13)
    public static let alpn = Self(rawValue: 16)
    public static let signedCertificateTimestamp = Self(rawValue: 18)
    public static let padding = Self(rawValue: 21)
    public static let encryptThenMAC = Self(rawValue: 22)
    public static let extendedMasterSecret = Self(rawValue: 23)
    public static let compressCertificate = Self(rawValue: 27)
    public static let recordSizeLimit = Self(rawValue: 28)
    public static let sessionTicket = Self(rawValue: 35)
    public static let preSharedKey = Self(rawValue: 41)
    public static let earlyData = Self(rawValue: 42)
    public static let supportedVersions = Self(rawValue: 43)
    public static let cookie = Self(rawValue: 44)
    public static let pskKeyExchangeModes = Self(rawValue: 45)
    public static let certificateAuthorities = Self(rawValue: 47)
    public static let oidFilters = Self(rawValue: 48)
    public static let postHandshakeAuth = Self(rawValue: 49)
    public static let signatureAlgorithmsCert = Self(rawValue: 50)
    public static let keyShare = Self(rawValue: 51)
    public static let renegotiationInfo = Self(rawValue: 0xFF01)

    /// Whether this is a GREASE value (RFC 8701).
    public var isGREASE: Bool { WireReader.isGREASE(rawValue) }

    /// The registry name (lower case, as in the RFCs and Wireshark), or `nil` when unknown.
    public var name: String? {
        if isGREASE { return "GREASE" }
        return Self.names[rawValue]
    }

    public var description: String { (name ?? "unknown") + "(\(rawValue))" }

    static let names: [UInt16: String] = [
        0: "server_name", 1: "max_fragment_length", 5: "status_request", 10: "supported_groups",
        11: "ec_point_formats", 13: "signature_algorithms", 14: "use_srtp", 15: "heartbeat",
        16: "application_layer_protocol_negotiation", 17: "status_request_v2", 18: "signed_certificate_timestamp",
        21: "padding", 22: "encrypt_then_mac", 23: "extended_master_secret", 27: "compress_certificate",
        28: "record_size_limit", 34: "delegated_credentials", 35: "session_ticket", 41: "pre_shared_key",
        42: "early_data", 43: "supported_versions", 44: "cookie", 45: "psk_key_exchange_modes",
        47: "certificate_authorities", 48: "oid_filters", 49: "post_handshake_auth",
        50: "signature_algorithms_cert", 51: "key_share", 57: "quic_transport_parameters",
        0x4469: "application_settings", 0xFE0D: "encrypted_client_hello", 0xFF01: "renegotiation_info",
    ]
}

/// A named group for key exchange (IANA TLS Supported Groups).
public struct TLSNamedGroup: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public var isGREASE: Bool { WireReader.isGREASE(rawValue) }

    public var name: String? { isGREASE ? "GREASE" : Self.names[rawValue] }

    public var description: String {
        (name ?? "unknown") + "(0x" + String(rawValue, radix: 16, uppercase: false).leftPadded(4) + ")"
    }

    static let names: [UInt16: String] = [
        19: "secp192r1", 21: "secp224r1", 23: "secp256r1", 24: "secp384r1", 25: "secp521r1", 29: "x25519",
        30: "x448", 256: "ffdhe2048", 257: "ffdhe3072", 258: "ffdhe4096", 259: "ffdhe6144", 260: "ffdhe8192",
        0x11EB: "SecP256r1MLKEM768", 0x11EC: "X25519MLKEM768", 0x11ED: "SecP384r1MLKEM1024",
        0x6399: "X25519Kyber768Draft00",
    ]
}

/// A signature scheme (IANA TLS SignatureScheme; TLS 1.2 hash/signature pairs share the code space).
public struct TLSSignatureScheme: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public var isGREASE: Bool { WireReader.isGREASE(rawValue) }

    public var name: String? {
        if isGREASE { return "GREASE" }
        if let name = Self.names[rawValue] { return name }
        // TLS 1.2 pairs (RFC 5246 §7.4.1.4.1) not named by TLS 1.3.
        let hashes = [1: "md5", 2: "sha1", 3: "sha224", 4: "sha256", 5: "sha384", 6: "sha512"]
        let signatures = [1: "rsa", 2: "dsa", 3: "ecdsa"]
        if let hash = hashes[Int(rawValue >> 8)], let signature = signatures[Int(rawValue & 0xFF)] {
            return signature + "_" + hash
        }
        return nil
    }

    public var description: String { (name ?? "unknown") + "(0x" + String(rawValue, radix: 16).leftPadded(4) + ")" }

    static let names: [UInt16: String] = [
        0x0201: "rsa_pkcs1_sha1", 0x0203: "ecdsa_sha1", 0x0401: "rsa_pkcs1_sha256", 0x0501: "rsa_pkcs1_sha384",
        0x0601: "rsa_pkcs1_sha512", 0x0403: "ecdsa_secp256r1_sha256", 0x0503: "ecdsa_secp384r1_sha384",
        0x0603: "ecdsa_secp521r1_sha512", 0x0804: "rsa_pss_rsae_sha256", 0x0805: "rsa_pss_rsae_sha384",
        0x0806: "rsa_pss_rsae_sha512", 0x0807: "ed25519", 0x0808: "ed448", 0x0809: "rsa_pss_pss_sha256",
        0x080A: "rsa_pss_pss_sha384", 0x080B: "rsa_pss_pss_sha512", 0x081A: "ecdsa_brainpoolP256r1tls13_sha256",
        0x081B: "ecdsa_brainpoolP384r1tls13_sha384", 0x081C: "ecdsa_brainpoolP512r1tls13_sha512",
        0x0904: "mldsa44", 0x0905: "mldsa65", 0x0906: "mldsa87",
    ]
}

/// A ClientCertificateType in a TLS <= 1.2 CertificateRequest.
public struct TLSClientCertificateType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let rsaSign = Self(rawValue: 1)
    public static let dssSign = Self(rawValue: 2)
    public static let ecdsaSign = Self(rawValue: 64)

    public var name: String? { Self.names[rawValue] }

    public var description: String { (name ?? "unknown") + "(\(rawValue))" }

    static let names: [UInt8: String] = [
        1: "rsa_sign", 2: "dss_sign", 3: "rsa_fixed_dh", 4: "dss_fixed_dh", 5: "rsa_ephemeral_dh",
        6: "dss_ephemeral_dh", 20: "fortezza_dms", 64: "ecdsa_sign", 65: "rsa_fixed_ecdh", 66: "ecdsa_fixed_ecdh",
    ]
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
