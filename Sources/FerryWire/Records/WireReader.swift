public import NIOCore

/// Reads the fields of a TLS structure from a `ByteBuffer` slice, throwing a `TLSWireError` that names the
/// structure when a field runs past its end. Vectors come back as slices, never copies.
public struct WireReader: Sendable {
    public var buffer: ByteBuffer
    /// The structure being read, for error messages ("ClientHello", "key_share", ...).
    public let what: String

    public init(_ buffer: ByteBuffer, _ what: String) {
        self.buffer = buffer
        self.what = what
    }

    public var remaining: Int { buffer.readableBytes }
    public var isEmpty: Bool { buffer.readableBytes == 0 }

    public mutating func u8(_ field: String) throws(TLSWireError) -> UInt8 {
        guard let value = buffer.readInteger(as: UInt8.self) else { throw .truncated("\(what) \(field)") }
        return value
    }

    public mutating func u16(_ field: String) throws(TLSWireError) -> UInt16 {
        guard let value = buffer.readInteger(as: UInt16.self) else { throw .truncated("\(what) \(field)") }
        return value
    }

    public mutating func u24(_ field: String) throws(TLSWireError) -> Int {
        guard let high = buffer.readInteger(as: UInt8.self), let low = buffer.readInteger(as: UInt16.self) else {
            throw .truncated("\(what) \(field)")
        }
        return Int(high) << 16 | Int(low)
    }

    public mutating func u32(_ field: String) throws(TLSWireError) -> UInt32 {
        guard let value = buffer.readInteger(as: UInt32.self) else { throw .truncated("\(what) \(field)") }
        return value
    }

    public mutating func bytes(_ count: Int, _ field: String) throws(TLSWireError) -> [UInt8] {
        guard let value = buffer.readBytes(length: count) else { throw .truncated("\(what) \(field)") }
        return value
    }

    public mutating func slice(_ count: Int, _ field: String) throws(TLSWireError) -> ByteBuffer {
        guard count >= 0, let value = buffer.readSlice(length: count) else { throw .truncated("\(what) \(field)") }
        return value
    }

    /// A vector with a 1-byte length.
    public mutating func vector8(_ field: String) throws(TLSWireError) -> ByteBuffer {
        try slice(Int(u8(field + " length")), field)
    }

    /// A vector with a 2-byte length.
    public mutating func vector16(_ field: String) throws(TLSWireError) -> ByteBuffer {
        try slice(Int(u16(field + " length")), field)
    }

    /// A vector with a 3-byte length.
    public mutating func vector24(_ field: String) throws(TLSWireError) -> ByteBuffer {
        try slice(u24(field + " length"), field)
    }

    /// A hello's `session_id<0..32>`.
    public mutating func sessionID() throws(TLSWireError) -> [UInt8] {
        var session = try vector8("session_id")
        guard session.readableBytes <= 32 else {
            throw TLSWireError(description: "\(what) session_id is longer than 32 bytes")
        }
        return session.readBytes(length: session.readableBytes)!
    }

    /// Whether a 16-bit code point is a GREASE value (RFC 8701: 0x0A0A, 0x1A1A, ... 0xFAFA).
    public static func isGREASE(_ value: UInt16) -> Bool {
        value & 0x0F0F == 0x0A0A && value >> 8 == value & 0xFF
    }

    /// Reads a list of 16-bit values filling `vector`.
    public static func list16(_ vector: ByteBuffer, _ what: String) throws(TLSWireError) -> [UInt16] {
        guard vector.readableBytes % 2 == 0 else {
            throw TLSWireError(description: "\(what) has an odd length (\(vector.readableBytes))")
        }
        var vector = vector
        var values: [UInt16] = []
        values.reserveCapacity(vector.readableBytes / 2)
        while let value = vector.readInteger(as: UInt16.self) { values.append(value) }
        return values
    }

    /// Fails when bytes are left over after a structure.
    public func expectEnd() throws(TLSWireError) {
        guard buffer.readableBytes == 0 else {
            throw TLSWireError(description: "\(what) has \(buffer.readableBytes) unexpected trailing bytes")
        }
    }
}
