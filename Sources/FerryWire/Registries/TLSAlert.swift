/// An alert description code (RFC 8446 §6 and the IANA registry).
public struct TLSAlertDescription: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let closeNotify = Self(rawValue: 0)
    public static let handshakeFailure = Self(rawValue: 40)
    public static let badCertificate = Self(rawValue: 42)
    public static let certificateExpired = Self(rawValue: 45)
    public static let certificateUnknown = Self(rawValue: 46)
    public static let illegalParameter = Self(rawValue: 47)
    public static let unknownCA = Self(rawValue: 48)
    public static let decodeError = Self(rawValue: 50)
    public static let protocolVersion = Self(rawValue: 70)
    public static let certificateRequired = Self(rawValue: 116)

    /// The registry name in upper case, as Ferry's traces print it.
    public var name: String? { Self.names[rawValue] }

    public var description: String { name ?? "ALERT(\(rawValue))" }

    static let names: [UInt8: String] = [
        0: "CLOSE_NOTIFY", 10: "UNEXPECTED_MESSAGE", 20: "BAD_RECORD_MAC", 21: "DECRYPTION_FAILED",
        22: "RECORD_OVERFLOW", 30: "DECOMPRESSION_FAILURE", 40: "HANDSHAKE_FAILURE", 41: "NO_CERTIFICATE",
        42: "BAD_CERTIFICATE", 43: "UNSUPPORTED_CERTIFICATE", 44: "CERTIFICATE_REVOKED", 45: "CERTIFICATE_EXPIRED",
        46: "CERTIFICATE_UNKNOWN", 47: "ILLEGAL_PARAMETER", 48: "UNKNOWN_CA", 49: "ACCESS_DENIED", 50: "DECODE_ERROR",
        51: "DECRYPT_ERROR", 60: "EXPORT_RESTRICTION", 70: "PROTOCOL_VERSION", 71: "INSUFFICIENT_SECURITY",
        80: "INTERNAL_ERROR", 86: "INAPPROPRIATE_FALLBACK", 90: "USER_CANCELED", 100: "NO_RENEGOTIATION",
        109: "MISSING_EXTENSION", 110: "UNSUPPORTED_EXTENSION", 111: "CERTIFICATE_UNOBTAINABLE",
        112: "UNRECOGNIZED_NAME", 113: "BAD_CERTIFICATE_STATUS_RESPONSE", 114: "BAD_CERTIFICATE_HASH_VALUE",
        115: "UNKNOWN_PSK_IDENTITY", 116: "CERTIFICATE_REQUIRED", 120: "NO_APPLICATION_PROTOCOL", 121: "ECH_REQUIRED",
    ]
}

/// A decoded alert message: level (1 warning, 2 fatal) and description.
public struct TLSAlert: Hashable, Sendable, CustomStringConvertible {
    public let level: UInt8
    public let alertDescription: TLSAlertDescription

    public init(level: UInt8, description: TLSAlertDescription) {
        self.level = level
        self.alertDescription = description
    }

    public var isFatal: Bool { level == 2 }

    public var description: String {
        let levelName = level == 1 ? "WARNING" : level == 2 ? "FATAL" : "LEVEL(\(level))"
        return "\(levelName): \(alertDescription)"
    }
}
