public import NIOCore

/// The fields of a ServerHello that say what was negotiated (RFC 8446 §4.1.3, RFC 5246 §7.4.1.3).
public struct ServerHello: Sendable, Equatable {
    /// `legacy_version` (SSLv3..TLS 1.2 negotiate here; TLS 1.3 puts 0x0303 here).
    public let legacyVersion: TLSProtocolVersion
    public let random: [UInt8]
    public let sessionID: [UInt8]
    public let cipherSuite: TLSCipherSuite
    public let compressionMethod: UInt8
    /// The `supported_versions` extension's selected version, when present (TLS 1.3).
    public let selectedVersion: TLSProtocolVersion?
    /// The extension types in the order sent.
    public let extensionTypes: [UInt16]

    /// The fixed random that marks a HelloRetryRequest (RFC 8446 §4.1.3).
    public static let helloRetryRequestRandom: [UInt8] = [
        0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
        0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
    ]

    /// The version this ServerHello negotiates.
    public var negotiatedVersion: TLSProtocolVersion { selectedVersion ?? legacyVersion }

    /// Whether this is a HelloRetryRequest rather than a ServerHello.
    public var isHelloRetryRequest: Bool { random == Self.helloRetryRequestRandom }

    public init(body: ByteBuffer) throws(TLSWireError) {
        var body = body
        guard let version = body.readInteger(as: UInt16.self), let random = body.readBytes(length: 32),
            let sessionLength = body.readInteger(as: UInt8.self), sessionLength <= 32,
            let session = body.readBytes(length: Int(sessionLength)),
            let (suite, compression) = body.readMultipleIntegers(as: (UInt16, UInt8).self)
        else { throw TLSWireError.truncated("ServerHello") }
        self.legacyVersion = TLSProtocolVersion(rawValue: version)
        self.random = random
        self.sessionID = session
        self.cipherSuite = TLSCipherSuite(rawValue: suite)
        self.compressionMethod = compression
        var selected: TLSProtocolVersion?
        var types: [UInt16] = []
        if body.readableBytes > 0 {
            guard let total = body.readInteger(as: UInt16.self), var extensions = body.readSlice(length: Int(total)) else {
                throw TLSWireError.truncated("ServerHello extensions")
            }
            while extensions.readableBytes > 0 {
                guard let (type, length) = extensions.readMultipleIntegers(as: (UInt16, UInt16).self),
                    var data = extensions.readSlice(length: Int(length))
                else { throw TLSWireError.truncated("ServerHello extension") }
                types.append(type)
                if type == 43 {
                    guard let value = data.readInteger(as: UInt16.self) else {
                        throw TLSWireError.truncated("supported_versions")
                    }
                    selected = TLSProtocolVersion(rawValue: value)
                }
            }
        }
        self.selectedVersion = selected
        self.extensionTypes = types
    }
}
