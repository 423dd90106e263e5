public import NIOCore

/// One TLS record: header fields and the fragment (a slice of the bytes received, not a copy).
public struct TLSRecord: Sendable, Equatable {
    public let contentType: TLSContentType
    /// The record-layer version as sent on the wire (never inferred from the negotiated version).
    public let version: TLSProtocolVersion
    public let fragment: ByteBuffer

    /// The bytes the record took on the wire, header included.
    public var wireLength: Int { 5 + fragment.readableBytes }
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
        guard var view = buffer, view.readableBytes >= 5,
            let (type, version, length) = view.readMultipleIntegers(as: (UInt8, UInt16, UInt16).self)
        else { return nil }
        guard version >> 8 == 3 else {
            throw TLSWireError.notTLS(firstBytes: buffer!.getBytes(at: buffer!.readerIndex, length: 5) ?? [])
        }
        guard Int(length) <= Self.maximumFragment else {
            throw TLSWireError.recordOverflow(length: Int(length))
        }
        guard let fragment = view.readSlice(length: Int(length)) else { return nil }
        buffer = view.readableBytes == 0 ? nil : view
        return TLSRecord(contentType: TLSContentType(rawValue: type), version: TLSProtocolVersion(rawValue: version), fragment: fragment)
    }
}

/// Why bytes could not be decoded as TLS.
public struct TLSWireError: Error, Hashable, Sendable, CustomStringConvertible {
    public let description: String

    static func notTLS(firstBytes: [UInt8]) -> TLSWireError {
        let printable = firstBytes.allSatisfy { $0 >= 0x20 && $0 < 0x7F }
        let shown = printable ? "'" + String(decoding: firstBytes, as: UTF8.self) + "'" : firstBytes.map { String($0, radix: 16) }.joined(separator: " ")
        return TLSWireError(description: "not a TLS record (starts with \(shown))")
    }

    static func recordOverflow(length: Int) -> TLSWireError {
        TLSWireError(description: "record of \(length) bytes exceeds the TLS maximum of \(TLSRecordParser.maximumFragment)")
    }

    static func truncated(_ what: String) -> TLSWireError {
        TLSWireError(description: "\(what) is truncated")
    }
}
