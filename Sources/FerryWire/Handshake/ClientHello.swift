public import NIOCore

/// A ClientHello (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2), or the SSLv2-compatible form (RFC 5246 appendix E.2).
public struct ClientHello: Sendable, Equatable {
    public let legacyVersion: TLSProtocolVersion
    public let random: [UInt8]
    public let sessionID: [UInt8]
    public let cipherSuites: [TLSCipherSuite]
    public let compressionMethods: [UInt8]
    public let extensions: [TLSExtension]
    /// Whether it came in an SSLv2-compatible record (3-byte cipher specs, a challenge instead of a random).
    public let isSSLv2Compatible: Bool

    public init(body: ByteBuffer) throws(TLSWireError) {
        var reader = WireReader(body, "ClientHello")
        legacyVersion = TLSProtocolVersion(rawValue: try reader.u16("client_version"))
        random = try reader.bytes(32, "random")
        sessionID = try reader.sessionID()
        cipherSuites = try WireReader.list16(try reader.vector16("cipher_suites"), "ClientHello cipher_suites").map(
            TLSCipherSuite.init(rawValue:)
        )
        var compression = try reader.vector8("compression_methods")
        compressionMethods = compression.readBytes(length: compression.readableBytes)!
        extensions =
            reader.isEmpty ? [] : try TLSExtension.decodeList(try reader.vector16("extensions"), in: .clientHello)
        try reader.expectEnd()
        isSSLv2Compatible = false
    }

    /// Decodes the body of an SSLv2-compatible ClientHello record (starting at msg_type).
    public init(sslv2 record: ByteBuffer) throws(TLSWireError) {
        var reader = WireReader(record, "SSLv2 ClientHello")
        _ = try reader.u8("msg_type")
        legacyVersion = TLSProtocolVersion(rawValue: try reader.u16("version"))
        let specLength = Int(try reader.u16("cipher_spec_length"))
        let sessionLength = Int(try reader.u16("session_id_length"))
        let challengeLength = Int(try reader.u16("challenge_length"))
        guard specLength % 3 == 0 else {
            throw TLSWireError(description: "SSLv2 ClientHello cipher_spec_length \(specLength) is not a multiple of 3")
        }
        var specs = try reader.slice(specLength, "cipher_specs")
        var suites: [TLSCipherSuite] = []
        while let (high, low) = specs.readMultipleIntegers(as: (UInt8, UInt16).self) {
            // SSLv2 kinds (first byte non-zero) have no TLS code point; shown with the marker bit.
            suites.append(TLSCipherSuite(rawValue: high == 0 ? low : 0xFFFF))
        }
        cipherSuites = suites
        sessionID = try reader.bytes(sessionLength, "session_id")
        random = try reader.bytes(challengeLength, "challenge")
        compressionMethods = [0]
        extensions = []
        try reader.expectEnd()
        isSSLv2Compatible = true
    }

    /// The versions offered: `supported_versions` when present, otherwise `legacy_version`.
    public var offeredVersions: [TLSProtocolVersion] {
        for item in extensions { if case .versions(let list) = item.value { return list.filter { !$0.isGREASE } } }
        return [legacyVersion]
    }

    /// The highest version offered.
    public var highestVersion: TLSProtocolVersion { offeredVersions.max() ?? legacyVersion }

    /// The schemes of `signature_algorithms`; nil when the extension is absent (before TLS 1.2, or a client
    /// that leaves it to the defaults of RFC 5246 §7.4.1.4.1).
    public var signatureSchemes: [TLSSignatureScheme]? {
        for item in extensions where item.type == .signatureAlgorithms {
            if case .signatureSchemes(let list) = item.value { return list }
        }
        return nil
    }

    /// The server name indication, if any.
    public var serverName: String? {
        for item in extensions { if case .serverNames(let names) = item.value { return names.first } }
        return nil
    }
}

extension ClientHello: TLSFieldDescribing {
    public var fields: [TLSField] {
        var fields = [
            TLSField("Version", legacyVersion.description + " (\(hex4(legacyVersion.rawValue)))"),
            TLSField(isSSLv2Compatible ? "Challenge" : "Random", hex(random)),
            TLSField("Session ID Length", "\(sessionID.count)"),
            TLSField(
                "Cipher Suites (\(cipherSuites.count))",
                "",
                cipherSuites.map { TLSField("Cipher Suite", "\($0) (\(hex4($0.rawValue)))") }
            ),
            TLSField(
                "Compression Methods (\(compressionMethods.count))",
                compressionMethods.map { $0 == 0 ? "null(0)" : "\($0)" }.joined(separator: " ")
            ),
        ]
        if isSSLv2Compatible { fields.insert(TLSField("Format", "SSLv2-compatible ClientHello"), at: 0) }
        if !extensions.isEmpty {
            fields.append(TLSField("Extensions (\(extensions.count))", "", extensions.flatMap(\.fields)))
        }
        return fields
    }
}
