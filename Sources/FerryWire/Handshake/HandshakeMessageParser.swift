public import NIOCore

/// One handshake message: type and body.
public struct TLSHandshakeMessage: Sendable, Equatable {
    public let type: TLSHandshakeType
    public let body: ByteBuffer
}

/// Reassembles handshake messages from the fragments of handshake records (several per record, or one split
/// over several records).
public struct HandshakeMessageParser: Sendable {
    private var buffer: ByteBuffer?

    /// The largest handshake message accepted (certificate chains can be large, but not this large).
    public static let maximumMessage = 1 << 18

    public init() {}

    public mutating func append(_ fragment: ByteBuffer) {
        if buffer == nil {
            buffer = fragment
        } else {
            var incoming = fragment
            buffer!.writeBuffer(&incoming)
        }
    }

    /// The next complete message, or `nil` when more fragments are needed.
    public mutating func next() throws(TLSWireError) -> TLSHandshakeMessage? {
        guard var view = buffer, view.readableBytes >= 4, let type = view.readInteger(as: UInt8.self),
            let high = view.readInteger(as: UInt8.self), let low = view.readInteger(as: UInt16.self)
        else { return nil }
        let length = Int(high) << 16 | Int(low)
        guard length <= Self.maximumMessage else {
            throw TLSWireError(
                description: "handshake message of \(length) bytes is larger than \(Self.maximumMessage)"
            )
        }
        guard let body = view.readSlice(length: length) else { return nil }
        buffer = view.readableBytes == 0 ? nil : view
        return TLSHandshakeMessage(type: TLSHandshakeType(rawValue: type), body: body)
    }
}
