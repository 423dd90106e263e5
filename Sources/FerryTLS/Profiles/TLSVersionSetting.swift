import Foundation
public import NIOSSL

/// Protocol versions as written in configuration (`"1.2"`, `"TLSv1.3"`, ...).
public enum TLSVersionSetting {
    /// Parses a version name. SSLv3 is refused with the reason.
    public static func parse(_ text: String, setting: String) throws(TLSSetupError) -> TLSVersion {
        switch text.lowercased().replacingOccurrences(of: "tlsv", with: "").replacingOccurrences(of: "tls", with: "")
            .trimmingCharacters(in: .whitespaces)
        {
        case "1.0", "1": return .tlsv1
        case "1.1": return .tlsv11
        case "1.2": return .tlsv12
        case "1.3": return .tlsv13
        case "sslv3", "ssl3", "3.0":
            throw TLSSetupError(
                .badVersion,
                subject: setting,
                problem:
                    "SSLv3 is not supported: it is broken (POODLE, RFC 7568 forbids it) and strict peers such as IBM System SSL reject its empty CA lists",
                fix: "use 1.2 (the default) or at least 1.0 for old partners"
            )
        default:
            throw TLSSetupError(
                .badVersion,
                subject: setting,
                problem: "'\(text)' is not a TLS version",
                fix: "use one of 1.0, 1.1, 1.2, 1.3"
            )
        }
    }

    /// The number as written in Ferry's configuration ("1.2").
    public static func number(_ version: TLSVersion) -> String {
        String(name(version).dropFirst(3))
    }

    /// The name Ferry prints for a version.
    public static func name(_ version: TLSVersion) -> String {
        switch version {
        case .tlsv1: return "TLS1.0"
        case .tlsv11: return "TLS1.1"
        case .tlsv12: return "TLS1.2"
        case .tlsv13: return "TLS1.3"
        }
    }
}

extension TLSVersion {
    /// An ordering for comparisons (NIOSSL's `TLSVersion` is not `Comparable`).
    var rank: Int {
        switch self {
        case .tlsv1: return 10
        case .tlsv11: return 11
        case .tlsv12: return 12
        case .tlsv13: return 13
        }
    }
}
