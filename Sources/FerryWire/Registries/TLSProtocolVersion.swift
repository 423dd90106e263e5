/// A protocol version as carried on the wire (`{3,0}` SSLv3 .. `{3,4}` TLS 1.3).
public struct TLSProtocolVersion: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let ssl3 = Self(rawValue: 0x0300)
    public static let tls10 = Self(rawValue: 0x0301)
    public static let tls11 = Self(rawValue: 0x0302)
    public static let tls12 = Self(rawValue: 0x0303)
    public static let tls13 = Self(rawValue: 0x0304)

    /// Whether this is a GREASE value (RFC 8701).
    public var isGREASE: Bool { WireReader.isGREASE(rawValue) }

    public var description: String {
        switch self {
        case .ssl3: return "SSL3"
        case .tls10: return "TLS1.0"
        case .tls11: return "TLS1.1"
        case .tls12: return "TLS1.2"
        case .tls13: return "TLS1.3"
        default:
            return isGREASE
                ? "GREASE(0x\(String(rawValue, radix: 16)))" : "0x" + String(rawValue, radix: 16, uppercase: true)
        }
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}
