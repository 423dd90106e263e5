/// A cipher suite code point, named from the IANA TLS Cipher Suites registry.
public struct TLSCipherSuite: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// The IANA name, or `nil` for a code point not in Ferry's table.
    public var name: String? { Self.names[rawValue] }

    public var description: String { name ?? "0x" + String(rawValue, radix: 16, uppercase: true) }

    static let names: [UInt16: String] = [
        0x0000: "TLS_NULL_WITH_NULL_NULL",
        0x0001: "TLS_RSA_WITH_NULL_MD5",
        0x0002: "TLS_RSA_WITH_NULL_SHA",
        0x0004: "TLS_RSA_WITH_RC4_128_MD5",
        0x0005: "TLS_RSA_WITH_RC4_128_SHA",
        0x0009: "TLS_RSA_WITH_DES_CBC_SHA",
        0x000A: "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
        0x0013: "TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA",
        0x0016: "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA",
        0x002F: "TLS_RSA_WITH_AES_128_CBC_SHA",
        0x0032: "TLS_DHE_DSS_WITH_AES_128_CBC_SHA",
        0x0033: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA",
        0x0035: "TLS_RSA_WITH_AES_256_CBC_SHA",
        0x0038: "TLS_DHE_DSS_WITH_AES_256_CBC_SHA",
        0x0039: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA",
        0x003B: "TLS_RSA_WITH_NULL_SHA256",
        0x003C: "TLS_RSA_WITH_AES_128_CBC_SHA256",
        0x003D: "TLS_RSA_WITH_AES_256_CBC_SHA256",
        0x0040: "TLS_DHE_DSS_WITH_AES_128_CBC_SHA256",
        0x0041: "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA",
        0x0067: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256",
        0x006A: "TLS_DHE_DSS_WITH_AES_256_CBC_SHA256",
        0x006B: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256",
        0x0084: "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA",
        0x0096: "TLS_RSA_WITH_SEED_CBC_SHA",
        0x009C: "TLS_RSA_WITH_AES_128_GCM_SHA256",
        0x009D: "TLS_RSA_WITH_AES_256_GCM_SHA384",
        0x009E: "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
        0x009F: "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
        0x00A2: "TLS_DHE_DSS_WITH_AES_128_GCM_SHA256",
        0x00A3: "TLS_DHE_DSS_WITH_AES_256_GCM_SHA384",
        0x00FF: "TLS_EMPTY_RENEGOTIATION_INFO_SCSV",
        0x1301: "TLS_AES_128_GCM_SHA256",
        0x1302: "TLS_AES_256_GCM_SHA384",
        0x1303: "TLS_CHACHA20_POLY1305_SHA256",
        0x1304: "TLS_AES_128_CCM_SHA256",
        0x1305: "TLS_AES_128_CCM_8_SHA256",
        0x5600: "TLS_FALLBACK_SCSV",
        0xC003: "TLS_ECDH_ECDSA_WITH_3DES_EDE_CBC_SHA",
        0xC004: "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA",
        0xC005: "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA",
        0xC007: "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
        0xC008: "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA",
        0xC009: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
        0xC00A: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
        0xC00D: "TLS_ECDH_RSA_WITH_3DES_EDE_CBC_SHA",
        0xC00E: "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA",
        0xC00F: "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA",
        0xC011: "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
        0xC012: "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
        0xC013: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
        0xC014: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
        0xC023: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
        0xC024: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
        0xC025: "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA256",
        0xC026: "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA384",
        0xC027: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
        0xC028: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
        0xC029: "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA256",
        0xC02A: "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA384",
        0xC02B: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        0xC02C: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        0xC02D: "TLS_ECDH_ECDSA_WITH_AES_128_GCM_SHA256",
        0xC02E: "TLS_ECDH_ECDSA_WITH_AES_256_GCM_SHA384",
        0xC02F: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        0xC030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        0xC031: "TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256",
        0xC032: "TLS_ECDH_RSA_WITH_AES_256_GCM_SHA384",
        0xC09C: "TLS_RSA_WITH_AES_128_CCM",
        0xC09D: "TLS_RSA_WITH_AES_256_CCM",
        0xC0AC: "TLS_ECDHE_ECDSA_WITH_AES_128_CCM",
        0xC0AD: "TLS_ECDHE_ECDSA_WITH_AES_256_CCM",
        0xCCA8: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        0xCCA9: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        0xCCAA: "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    ]
}

extension TLSCipherSuite {
    /// How a TLS <= 1.2 suite exchanges keys (decides how ServerKeyExchange and ClientKeyExchange read).
    public enum KeyExchange: Sendable {
        case ecdhe, dhe, rsa, tls13, other
    }

    public var keyExchange: KeyExchange {
        if rawValue >> 8 == 0x13 { return .tls13 }
        guard let name else { return .other }
        if name.hasPrefix("TLS_ECDHE_") { return .ecdhe }
        if name.hasPrefix("TLS_DHE_") { return .dhe }
        if name.hasPrefix("TLS_RSA_") { return .rsa }
        return .other
    }

    /// The AEAD a suite protects records with, when Ferry can decrypt it.
    public enum AEAD: Sendable {
        case aes128GCM, aes256GCM, chacha20Poly1305

        public var keyLength: Int { self == .aes128GCM ? 16 : 32 }
    }

    /// The record protection, or `nil` for suites Ferry shows as encrypted (CBC, CCM, ...).
    public var aead: AEAD? {
        guard let name else { return nil }
        if name.contains("AES_128_GCM") { return .aes128GCM }
        if name.contains("AES_256_GCM") { return .aes256GCM }
        if name.contains("CHACHA20_POLY1305") { return .chacha20Poly1305 }
        return nil
    }

    /// A CBC suite Ferry can decrypt: AES-128, AES-256 or Triple DES with HMAC-SHA1, SHA-256 or SHA-384 (SSLv3: its SHA-1 MAC).
    public struct CBC: Sendable, Equatable {
        public enum MAC: Sendable, Equatable { case sha1, sha256, sha384 }
        public enum Cipher: Sendable, Equatable { case aes, tripleDES }
        public let cipher: Cipher
        public let keyLength: Int
        public let mac: MAC
        public var macLength: Int { mac == .sha1 ? 20 : mac == .sha256 ? 32 : 48 }
        /// The block (and IV) length: 16 for AES, 8 for Triple DES.
        public var blockLength: Int { cipher == .aes ? 16 : 8 }
    }

    /// The CBC protection, or `nil` (AEAD suites, RC4, single DES, ...).
    public var cbc: CBC? {
        guard let name else { return nil }
        let cipher: CBC.Cipher
        let keyLength: Int
        if name.contains("_WITH_AES_128_CBC_") {
            (cipher, keyLength) = (.aes, 16)
        } else if name.contains("_WITH_AES_256_CBC_") {
            (cipher, keyLength) = (.aes, 32)
        } else if name.contains("_WITH_3DES_EDE_CBC_") {
            (cipher, keyLength) = (.tripleDES, 24)
        } else {
            return nil
        }
        if name.hasSuffix("_SHA384") { return CBC(cipher: cipher, keyLength: keyLength, mac: .sha384) }
        if name.hasSuffix("_SHA256") { return CBC(cipher: cipher, keyLength: keyLength, mac: .sha256) }
        if name.hasSuffix("_SHA") { return CBC(cipher: cipher, keyLength: keyLength, mac: .sha1) }
        return nil
    }

    /// Whether this is a signalling value rather than a suite (renegotiation and fallback SCSVs, GREASE).
    public var isSignalling: Bool { rawValue == 0x00FF || rawValue == 0x5600 || WireReader.isGREASE(rawValue) }

    /// Whether the PRF / HKDF hash is SHA-384 (otherwise SHA-256).
    public var usesSHA384: Bool { name?.hasSuffix("SHA384") ?? false }
}
