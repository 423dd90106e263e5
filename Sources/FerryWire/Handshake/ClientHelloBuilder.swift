public import NIOCore

/// Builds ClientHello records byte by byte, for probing servers at versions a TLS library will not offer
/// (BoringSSL has no SSLv3) and with exactly the extensions a probe wants.
public struct ClientHelloBuilder: Sendable {
    /// The version offered: SSLv3..TLS 1.2 go in `client_version`; TLS 1.3 uses supported_versions.
    public var version: TLSProtocolVersion
    public var random: [UInt8]
    public var cipherSuites: [TLSCipherSuite]
    public var serverName: String?
    /// TLS 1.3: the public key to offer in key_share, for `keyShareGroup`.
    public var keySharePublicKey: [UInt8]?
    /// The named group of `keySharePublicKey` (29, X25519, by default). Another group (a retry after a
    /// HelloRetryRequest asked for it) is then the only group offered.
    public var keyShareGroup: UInt16 = 29
    /// The schemes offered in signature_algorithms (TLS 1.2 and 1.3).
    public var signatureSchemes: [UInt16] = Self.broadSchemes

    /// Every signature scheme a server certificate might need: ECDSA on each curve, RSA PKCS#1 and PSS (for
    /// rsaEncryption and RSASSA-PSS keys), EdDSA, SHA-1 last.
    public static let broadSchemes: [UInt16] = [
        0x0403, 0x0503, 0x0603, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601, 0x0807, 0x0808, 0x0809, 0x080A, 0x080B,
        0x081A, 0x081B, 0x081C, 0x0201, 0x0203,
    ]

    /// Every suite a legacy or modern server might pick, strongest first, plus the renegotiation SCSV.
    public static let broadSuites: [TLSCipherSuite] = [
        0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8, 0x009E, 0x009F, 0xC023, 0xC027,
        0xC009, 0xC013, 0xC00A, 0xC014, 0x009C, 0x009D, 0x003C, 0x002F, 0x0035, 0x0033, 0x0039, 0x000A, 0x0016,
        0x0005, 0x0004, 0x00FF,
    ].map(TLSCipherSuite.init(rawValue:))

    public init(
        version: TLSProtocolVersion,
        random: [UInt8],
        cipherSuites: [TLSCipherSuite] = Self.broadSuites,
        serverName: String? = nil,
        keySharePublicKey: [UInt8]? = nil,
        keyShareGroup: UInt16 = 29
    ) {
        self.version = version
        self.random = random
        self.cipherSuites = cipherSuites
        self.serverName = serverName
        self.keySharePublicKey = keySharePublicKey
        self.keyShareGroup = keyShareGroup
    }

    /// The record (header included) carrying the ClientHello.
    public func record() -> ByteBuffer {
        let tls13 = version >= .tls13
        var body = ByteBuffer()
        body.writeInteger(tls13 ? TLSProtocolVersion.tls12.rawValue : version.rawValue)
        body.writeBytes(random)
        body.writeInteger(UInt8(0))  // session_id
        let suites =
            tls13 ? cipherSuites.filter { $0.rawValue >> 8 == 0x13 } : cipherSuites.filter { $0.rawValue >> 8 != 0x13 }
        body.writeInteger(UInt16(suites.count * 2))
        for suite in suites { body.writeInteger(suite.rawValue) }
        body.writeBytes([1, 0])  // compression: null
        if version > .ssl3 {
            var extensions = ByteBuffer()
            if let serverName {
                let name = Array(serverName.utf8)
                Self.extensionHeader(&extensions, 0, length: name.count + 5)
                extensions.writeInteger(UInt16(name.count + 3))
                extensions.writeInteger(UInt8(0))
                extensions.writeInteger(UInt16(name.count))
                extensions.writeBytes(name)
            }
            // supported_groups and ec_point_formats, so ECDHE suites can be chosen.
            let groups: [UInt16] = tls13 && keyShareGroup != 29 ? [keyShareGroup] : [29, 23, 24, 25, 256, 26, 27, 28]
            Self.extensionHeader(&extensions, 10, length: 2 + groups.count * 2)
            extensions.writeInteger(UInt16(groups.count * 2))
            for group in groups { extensions.writeInteger(group) }
            Self.extensionHeader(&extensions, 11, length: 2)
            extensions.writeBytes([1, 0])
            if version >= .tls12 {
                let schemes = signatureSchemes
                Self.extensionHeader(&extensions, 13, length: 2 + schemes.count * 2)
                extensions.writeInteger(UInt16(schemes.count * 2))
                for scheme in schemes { extensions.writeInteger(scheme) }
            }
            Self.extensionHeader(&extensions, 0xFF01, length: 1)
            extensions.writeInteger(UInt8(0))
            if tls13, let key = keySharePublicKey {
                Self.extensionHeader(&extensions, 43, length: 3)
                extensions.writeBytes([2, 0x03, 0x04])
                Self.extensionHeader(&extensions, 51, length: 2 + 4 + key.count)
                extensions.writeInteger(UInt16(4 + key.count))
                extensions.writeInteger(keyShareGroup)
                extensions.writeInteger(UInt16(key.count))
                extensions.writeBytes(key)
                Self.extensionHeader(&extensions, 45, length: 2)
                extensions.writeBytes([1, 1])
            }
            body.writeInteger(UInt16(extensions.readableBytes))
            body.writeBuffer(&extensions)
        }
        var record = ByteBuffer()
        // Record version: SSLv3 for an SSLv3 probe, else TLS 1.0 (what most clients send first).
        record.writeMultipleIntegers(
            TLSContentType.handshake.rawValue,
            version == .ssl3 ? TLSProtocolVersion.ssl3.rawValue : TLSProtocolVersion.tls10.rawValue,
            UInt16(body.readableBytes + 4)
        )
        record.writeInteger(TLSHandshakeType.clientHello.rawValue)
        record.writeInteger(UInt8(body.readableBytes >> 16))
        record.writeInteger(UInt16(body.readableBytes & 0xFFFF))
        record.writeBuffer(&body)
        return record
    }

    static func extensionHeader(_ buffer: inout ByteBuffer, _ type: UInt16, length: Int) {
        buffer.writeInteger(type)
        buffer.writeInteger(UInt16(length))
    }
}
