public import NIOCore

/// A ServerHello or HelloRetryRequest (RFC 8446 §4.1.3, RFC 5246 §7.4.1.3).
public struct ServerHello: Sendable, Equatable {
    /// `legacy_version` (SSLv3..TLS 1.2 negotiate here; TLS 1.3 puts 0x0303 here).
    public let legacyVersion: TLSProtocolVersion
    public let random: [UInt8]
    public let sessionID: [UInt8]
    public let cipherSuite: TLSCipherSuite
    public let compressionMethod: UInt8
    public let extensions: [TLSExtension]

    /// The fixed random that marks a HelloRetryRequest (RFC 8446 §4.1.3).
    public static let helloRetryRequestRandom: [UInt8] = [
        0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
        0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
    ]

    /// The `supported_versions` extension's selected version, when present (TLS 1.3).
    public var selectedVersion: TLSProtocolVersion? {
        for item in extensions { if case .selectedVersion(let version) = item.value { return version } }
        return nil
    }

    /// The extension types in the order sent.
    public var extensionTypes: [UInt16] { extensions.map(\.type.rawValue) }

    /// The version this ServerHello negotiates.
    public var negotiatedVersion: TLSProtocolVersion { selectedVersion ?? legacyVersion }

    /// Whether this is a HelloRetryRequest rather than a ServerHello.
    public var isHelloRetryRequest: Bool { random == Self.helloRetryRequestRandom }

    public init(body: ByteBuffer) throws(TLSWireError) {
        var reader = WireReader(body, "ServerHello")
        legacyVersion = TLSProtocolVersion(rawValue: try reader.u16("server_version"))
        random = try reader.bytes(32, "random")
        sessionID = try reader.sessionID()
        cipherSuite = TLSCipherSuite(rawValue: try reader.u16("cipher_suite"))
        compressionMethod = try reader.u8("compression_method")
        let context: TLSExtensionContext = random == Self.helloRetryRequestRandom ? .helloRetryRequest : .serverHello
        extensions = reader.isEmpty ? [] : try TLSExtension.decodeList(try reader.vector16("extensions"), in: context)
        try reader.expectEnd()
    }
}

extension ServerHello: TLSFieldDescribing {
    public var fields: [TLSField] {
        var fields = [
            TLSField("Version", legacyVersion.description + " (\(hex4(legacyVersion.rawValue)))"),
            TLSField("Random", hex(random) + (isHelloRetryRequest ? " (HelloRetryRequest)" : "")),
            TLSField("Session ID Length", "\(sessionID.count)"),
            TLSField("Cipher Suite", "\(cipherSuite) (\(hex4(cipherSuite.rawValue)))"),
            TLSField("Compression Method", compressionMethod == 0 ? "null(0)" : "\(compressionMethod)"),
        ]
        if !extensions.isEmpty {
            fields.append(TLSField("Extensions (\(extensions.count))", "", extensions.flatMap(\.fields)))
        }
        return fields
    }
}
