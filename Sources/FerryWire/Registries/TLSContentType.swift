/// A TLS record content type (open-ended: unknown values round-trip and print as numbers).
public struct TLSContentType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let changeCipherSpec = Self(rawValue: 20)
    public static let alert = Self(rawValue: 21)
    public static let handshake = Self(rawValue: 22)
    public static let applicationData = Self(rawValue: 23)
    public static let heartbeat = Self(rawValue: 24)
    public static let tls12CID = Self(rawValue: 25)
    /// Not a TLS content type: marks an SSLv2-compatible ClientHello record.
    public static let sslv2ClientHello = Self(rawValue: 0x80)

    public var description: String {
        switch self {
        case .changeCipherSpec: return "CCS"
        case .alert: return "ALERT"
        case .handshake: return "HSHK"
        case .applicationData: return "APPL"
        case .heartbeat: return "HEARTBEAT"
        case .tls12CID: return "TLS12_CID"
        case .sslv2ClientHello: return "SSLv2"
        default: return "TYPE(\(rawValue))"
        }
    }
}
