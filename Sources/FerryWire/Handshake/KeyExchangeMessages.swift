public import NIOCore

/// A ServerKeyExchange (RFC 8422 §5.4 for ECDHE, RFC 5246 §7.4.3 for DHE).
public struct ServerKeyExchange: Sendable, Equatable {
    public enum Parameters: Sendable, Equatable {
        case ecdhe(group: TLSNamedGroup, publicKeyLength: Int)
        case dhe(primeBits: Int, publicKeyLength: Int)
        case opaque(length: Int)
    }

    public let parameters: Parameters
    /// TLS 1.2 only: the signature scheme of the signed parameters.
    public let signatureScheme: TLSSignatureScheme?
    public let signatureLength: Int?

    public init(body: ByteBuffer, version: TLSProtocolVersion, cipherSuite: TLSCipherSuite?) throws(TLSWireError) {
        var reader = WireReader(body, "ServerKeyExchange")
        switch cipherSuite?.keyExchange {
        case .ecdhe:
            let curveType = try reader.u8("curve_type")
            guard curveType == 3 else {
                throw TLSWireError(description: "ServerKeyExchange curve_type \(curveType) is not named_curve(3)")
            }
            let group = TLSNamedGroup(rawValue: try reader.u16("named_curve"))
            parameters = .ecdhe(group: group, publicKeyLength: try reader.vector8("public").readableBytes)
        case .dhe:
            let prime = try reader.vector16("dh_p")
            _ = try reader.vector16("dh_g")
            parameters = .dhe(
                primeBits: prime.readableBytes * 8,
                publicKeyLength: try reader.vector16("dh_Ys").readableBytes
            )
        default:
            parameters = .opaque(length: body.readableBytes)
            signatureScheme = nil
            signatureLength = nil
            return
        }
        signatureScheme = version >= .tls12 ? TLSSignatureScheme(rawValue: try reader.u16("signature algorithm")) : nil
        signatureLength = try reader.vector16("signature").readableBytes
        try reader.expectEnd()
    }
}

extension ServerKeyExchange: TLSFieldDescribing {
    public var fields: [TLSField] {
        var fields: [TLSField]
        switch parameters {
        case .ecdhe(let group, let length):
            fields = [
                TLSField("Curve Type", "named_curve(3)"), TLSField("Named Curve", group.description),
                TLSField("Pubkey Length", "\(length)"),
            ]
        case .dhe(let bits, let length):
            fields = [TLSField("p Length", "\(bits) bits"), TLSField("Pubkey Length", "\(length)")]
        case .opaque(let length): fields = [TLSField("Parameters length", "\(length)")]
        }
        if let signatureScheme { fields.append(TLSField("Signature Algorithm", signatureScheme.description)) }
        if let signatureLength { fields.append(TLSField("Signature Length", "\(signatureLength)")) }
        return fields
    }
}

/// A ClientKeyExchange: the client's ECDHE/DHE public value or the RSA-encrypted premaster secret.
public struct ClientKeyExchange: Sendable, Equatable {
    public let kind: String
    public let length: Int

    public init(body: ByteBuffer, version: TLSProtocolVersion, cipherSuite: TLSCipherSuite?) throws(TLSWireError) {
        var reader = WireReader(body, "ClientKeyExchange")
        switch cipherSuite?.keyExchange {
        case .ecdhe:
            kind = "ECDH public"
            length = try reader.vector8("ecdh_Yc").readableBytes
        case .dhe:
            kind = "DH public"
            length = try reader.vector16("dh_Yc").readableBytes
        case .rsa where version > .ssl3:
            kind = "Encrypted PreMaster"
            length = try reader.vector16("EncryptedPreMasterSecret").readableBytes
        default:
            kind = "Exchange Keys"
            length = body.readableBytes
            return
        }
        try reader.expectEnd()
    }
}

extension ClientKeyExchange: TLSFieldDescribing {
    public var fields: [TLSField] { [TLSField(kind + " Length", "\(length)")] }
}

/// A CertificateVerify: the signature over the handshake (with its scheme from TLS 1.2 on).
public struct CertificateVerify: Sendable, Equatable {
    public let signatureScheme: TLSSignatureScheme?
    public let signatureLength: Int

    public init(body: ByteBuffer, version: TLSProtocolVersion) throws(TLSWireError) {
        var reader = WireReader(body, "CertificateVerify")
        signatureScheme = version >= .tls12 ? TLSSignatureScheme(rawValue: try reader.u16("algorithm")) : nil
        if version == .ssl3 {
            signatureLength = reader.remaining
            return
        }
        signatureLength = try reader.vector16("signature").readableBytes
        try reader.expectEnd()
    }
}

extension CertificateVerify: TLSFieldDescribing {
    public var fields: [TLSField] {
        (signatureScheme.map { [TLSField("Signature Algorithm", $0.description)] } ?? []) + [
            TLSField("Signature Length", "\(signatureLength)")
        ]
    }
}
