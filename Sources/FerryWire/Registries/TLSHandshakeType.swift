/// A handshake message type (RFC 8446 §4 and the IANA registry).
public struct TLSHandshakeType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let helloRequest = Self(rawValue: 0)
    public static let clientHello = Self(rawValue: 1)
    public static let serverHello = Self(rawValue: 2)
    public static let newSessionTicket = Self(rawValue: 4)
    public static let endOfEarlyData = Self(rawValue: 5)
    public static let encryptedExtensions = Self(rawValue: 8)
    public static let certificate = Self(rawValue: 11)
    public static let serverKeyExchange = Self(rawValue: 12)
    public static let certificateRequest = Self(rawValue: 13)
    public static let serverHelloDone = Self(rawValue: 14)
    public static let certificateVerify = Self(rawValue: 15)
    public static let clientKeyExchange = Self(rawValue: 16)
    public static let finished = Self(rawValue: 20)
    public static let certificateStatus = Self(rawValue: 22)
    public static let keyUpdate = Self(rawValue: 24)
    public static let compressedCertificate = Self(rawValue: 25)
    public static let messageHash = Self(rawValue: 254)

    public var description: String {
        switch self {
        case .helloRequest: return "HELLO_REQUEST"
        case .clientHello: return "CLIENT_HELLO"
        case .serverHello: return "SERVER_HELLO"
        case .newSessionTicket: return "NEW_SESSION_TICKET"
        case .endOfEarlyData: return "END_OF_EARLY_DATA"
        case .encryptedExtensions: return "ENCRYPTED_EXTENSIONS"
        case .certificate: return "CERTIFICATE"
        case .serverKeyExchange: return "SERVER_KEY_EXCHANGE"
        case .certificateRequest: return "CERTIFICATE_REQUEST"
        case .serverHelloDone: return "SERVER_HELLO_DONE"
        case .certificateVerify: return "CERTIFICATE_VERIFY"
        case .clientKeyExchange: return "CLIENT_KEY_EXCHANGE"
        case .finished: return "FINISHED"
        case .certificateStatus: return "CERTIFICATE_STATUS"
        case .keyUpdate: return "KEY_UPDATE"
        case .compressedCertificate: return "COMPRESSED_CERTIFICATE"
        case .messageHash: return "MESSAGE_HASH"
        default: return "HANDSHAKE(\(rawValue))"
        }
    }
}
