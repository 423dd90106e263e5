public import NIOCore

/// A NewSessionTicket (RFC 5077 §3.3 for TLS 1.2, RFC 8446 §4.6.1 for TLS 1.3).
public struct NewSessionTicket: Sendable, Equatable {
    public let lifetime: UInt32
    public let ageAdd: UInt32?
    public let nonceLength: Int?
    public let ticketLength: Int
    public let extensions: [TLSExtension]

    public init(body: ByteBuffer, tls13: Bool) throws(TLSWireError) {
        var reader = WireReader(body, "NewSessionTicket")
        lifetime = try reader.u32("ticket_lifetime")
        if tls13 {
            ageAdd = try reader.u32("ticket_age_add")
            nonceLength = try reader.vector8("ticket_nonce").readableBytes
            ticketLength = try reader.vector16("ticket").readableBytes
            extensions = try TLSExtension.decodeList(try reader.vector16("extensions"), in: .newSessionTicket)
        } else {
            ageAdd = nil
            nonceLength = nil
            ticketLength = try reader.vector16("ticket").readableBytes
            extensions = []
        }
        try reader.expectEnd()
    }
}

extension NewSessionTicket: TLSFieldDescribing {
    public var fields: [TLSField] {
        var fields = [TLSField("Session Ticket Lifetime Hint", "\(lifetime) seconds")]
        if let ageAdd { fields.append(TLSField("Session Ticket Age Add", "\(ageAdd)")) }
        if let nonceLength { fields.append(TLSField("Session Ticket Nonce Length", "\(nonceLength)")) }
        fields.append(TLSField("Session Ticket Length", "\(ticketLength)"))
        if !extensions.isEmpty {
            fields.append(TLSField("Extensions (\(extensions.count))", "", extensions.flatMap(\.fields)))
        }
        return fields
    }
}

/// TLS 1.3 EncryptedExtensions.
public struct EncryptedExtensions: Sendable, Equatable {
    public let extensions: [TLSExtension]

    public init(body: ByteBuffer) throws(TLSWireError) {
        var reader = WireReader(body, "EncryptedExtensions")
        extensions = try TLSExtension.decodeList(try reader.vector16("extensions"), in: .encryptedExtensions)
        try reader.expectEnd()
    }
}

extension EncryptedExtensions: TLSFieldDescribing {
    public var fields: [TLSField] { [TLSField("Extensions (\(extensions.count))", "", extensions.flatMap(\.fields))] }
}
