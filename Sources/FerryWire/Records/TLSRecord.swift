public import NIOCore

/// One TLS record: header fields and the fragment (a slice of the bytes received, not a copy).
public struct TLSRecord: Sendable, Equatable {
    public let contentType: TLSContentType
    /// The record-layer version as sent on the wire (never inferred from the negotiated version).
    public let version: TLSProtocolVersion
    public let fragment: ByteBuffer

    public init(contentType: TLSContentType, version: TLSProtocolVersion, fragment: ByteBuffer) {
        self.contentType = contentType
        self.version = version
        self.fragment = fragment
    }

    /// Whether this is an SSLv2-compatible ClientHello (2-byte header; the fragment starts at its msg_type).
    public var isSSLv2ClientHello: Bool { contentType == .sslv2ClientHello }

    /// The bytes the record took on the wire, header included.
    public var wireLength: Int { (isSSLv2ClientHello ? 2 : 5) + fragment.readableBytes }
}

/// Splits a byte stream into TLS records, whatever the reads' boundaries (split or coalesced records).
public struct TLSRecordParser: Sendable {
    private var buffer: ByteBuffer?

    /// The largest fragment allowed: 2^14 + 2048 (TLS 1.2 ciphertext, RFC 5246 §6.2.3).
    public static let maximumFragment = (1 << 14) + 2048

    public init() {}

    /// Adds bytes received from the peer.
    public mutating func append(_ bytes: ByteBuffer) {
        if buffer == nil {
            buffer = bytes
        } else {
            var incoming = bytes
            buffer!.writeBuffer(&incoming)
        }
    }

    /// Bytes held but not yet returned as a record.
    public var pendingBytes: Int { buffer?.readableBytes ?? 0 }

    /// The next complete record, or `nil` when more bytes are needed.
    ///
    /// - Throws: ``TLSWireError`` when the bytes cannot be TLS (no recognised version, or an oversized record).
    public mutating func next() throws(TLSWireError) -> TLSRecord? {
        guard var view = buffer, view.readableBytes >= 5 else { return nil }
        // An SSLv2-compatible ClientHello (RFC 5246 appendix E.2): 2-byte length with the high bit set, then
        // msg_type 1 and the client's version.
        if let first = view.getInteger(at: view.readerIndex, as: UInt8.self), first & 0x80 != 0,
            view.getInteger(at: view.readerIndex + 2, as: UInt8.self) == 1,
            view.getInteger(at: view.readerIndex + 3, as: UInt8.self).map({ $0 <= 3 }) == true,
            let header = view.readInteger(as: UInt16.self)
        {
            let length = Int(header & 0x7FFF)
            guard length >= 3, let version = view.getInteger(at: view.readerIndex + 1, as: UInt16.self) else {
                throw TLSWireError(description: "SSLv2 ClientHello of \(length) bytes is too short")
            }
            guard let fragment = view.readSlice(length: length) else { return nil }
            buffer = view.readableBytes == 0 ? nil : view
            return TLSRecord(
                contentType: .sslv2ClientHello,
                version: TLSProtocolVersion(rawValue: version),
                fragment: fragment
            )
        }
        guard let (type, version, length) = view.readMultipleIntegers(as: (UInt8, UInt16, UInt16).self) else {
            return nil
        }
        guard version >> 8 == 3 else {
            throw TLSWireError.notTLS(firstBytes: buffer!.getBytes(at: buffer!.readerIndex, length: 5) ?? [])
        }
        guard Int(length) <= Self.maximumFragment else {
            throw TLSWireError.recordOverflow(length: Int(length))
        }
        guard let fragment = view.readSlice(length: Int(length)) else { return nil }
        buffer = view.readableBytes == 0 ? nil : view
        return TLSRecord(
            contentType: TLSContentType(rawValue: type),
            version: TLSProtocolVersion(rawValue: version),
            fragment: fragment
        )
    }
}

/// Why bytes could not be decoded as TLS.
public struct TLSWireError: Error, Hashable, Sendable, CustomStringConvertible {
    public let description: String

    public init(description: String) {
        self.description = description
    }

    static func notTLS(firstBytes: [UInt8]) -> TLSWireError {
        let printable = firstBytes.allSatisfy { $0 >= 0x20 && $0 < 0x7F }
        let shown =
            printable
            ? "'" + String(decoding: firstBytes, as: UTF8.self) + "'"
            : firstBytes.map { String($0, radix: 16) }.joined(separator: " ")
        return TLSWireError(description: "not a TLS record (starts with \(shown))")
    }

    static func recordOverflow(length: Int) -> TLSWireError {
        TLSWireError(
            description: "record of \(length) bytes exceeds the TLS maximum of \(TLSRecordParser.maximumFragment)"
        )
    }

    static func truncated(_ what: String) -> TLSWireError {
        TLSWireError(description: "\(what) is truncated")
    }
}
