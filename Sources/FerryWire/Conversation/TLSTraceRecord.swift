import NIOCore

/// Which way bytes travelled.
public enum TLSDirection: String, Sendable, Codable, Hashable {
    case clientToServer = "c2s"
    case serverToClient = "s2c"
}

/// One record of a conversation, decoded as far as the keys allow.
public struct TLSTraceRecord: Sendable, Equatable {
    /// When the bytes that completed the record arrived (seconds, the caller's clock).
    public let time: Double
    public let direction: TLSDirection
    /// The number of the read or TCP segment the record completed in (records of one flight share it).
    public let segment: Int
    public let wireLength: Int
    /// The record-layer version as sent (never the negotiated version).
    public let version: TLSProtocolVersion
    /// The content type on the wire (23 for every TLS 1.3 encrypted record).
    public let outerType: TLSContentType
    public let protection: Protection
    public let content: Content

    public enum Protection: Sendable, Equatable {
        case plaintext
        case decrypted
        /// Encrypted and not decrypted; the reason says why (no keys, wrong keys, unsupported suite).
        case encrypted(String)
    }

    public enum Content: Sendable, Equatable {
        /// Handshake messages completed by this record (empty when it carried only part of one).
        case handshake([TLSDecodedHandshake])
        case alert([TLSAlert])
        case changeCipherSpec
        case applicationData(length: Int)
        case opaque(type: TLSContentType, length: Int)
        /// The record could not be decoded.
        case malformed(String)
    }

    /// The content type after decryption (the inner type for TLS 1.3).
    public var contentType: TLSContentType {
        switch content {
        case .handshake: return .handshake
        case .alert: return .alert
        case .changeCipherSpec: return .changeCipherSpec
        case .applicationData: return .applicationData
        case .opaque(let type, _): return type
        case .malformed: return outerType
        }
    }
}
