public import NIOCore

/// A CertificateRequest: SSLv3..TLS 1.1 (types, CA names), TLS 1.2 (adds signature algorithms), or TLS 1.3
/// (context and extensions; CA names in the certificate_authorities extension).
public struct CertificateRequest: Sendable, Equatable {
    /// TLS <= 1.2: the `certificate_types` list.
    public let certificateTypes: [TLSClientCertificateType]
    /// TLS 1.2: `supported_signature_algorithms`; TLS 1.3: the signature_algorithms extension.
    public let signatureAlgorithms: [TLSSignatureScheme]
    /// TLS <= 1.2: the value of the `certificate_authorities` length field, as sent (0 = empty list).
    public let distinguishedNamesLength: Int?
    /// The CA names (TLS <= 1.2 list, or the TLS 1.3 certificate_authorities extension).
    public let distinguishedNames: [TLSDistinguishedName]
    /// TLS 1.3 `certificate_request_context`.
    public let requestContext: [UInt8]?
    /// TLS 1.3 extensions.
    public let extensions: [TLSExtension]

    /// Decodes for the negotiated version (the layout differs at TLS 1.2 and TLS 1.3).
    public init(body: ByteBuffer, version: TLSProtocolVersion) throws(TLSWireError) {
        var reader = WireReader(body, "CertificateRequest")
        if version >= .tls13 {
            var context = try reader.vector8("certificate_request_context")
            requestContext = context.readBytes(length: context.readableBytes)
            extensions = try TLSExtension.decodeList(try reader.vector16("extensions"), in: .certificateRequest)
            certificateTypes = []
            distinguishedNamesLength = nil
            var schemes: [TLSSignatureScheme] = []
            var names: [TLSDistinguishedName] = []
            for item in extensions {
                if item.type == .signatureAlgorithms, case .signatureSchemes(let list) = item.value { schemes = list }
                if case .authorities(let list) = item.value { names = list }
            }
            signatureAlgorithms = schemes
            distinguishedNames = names
        } else {
            var types = try reader.vector8("certificate_types")
            certificateTypes = (types.readBytes(length: types.readableBytes) ?? []).map(
                TLSClientCertificateType.init(rawValue:)
            )
            signatureAlgorithms =
                version >= .tls12
                ? try WireReader.list16(
                    try reader.vector16("supported_signature_algorithms"),
                    "supported_signature_algorithms"
                ).map(TLSSignatureScheme.init(rawValue:))
                : []
            let names = try reader.vector16("certificate_authorities")
            distinguishedNamesLength = names.readableBytes
            distinguishedNames = try TLSDistinguishedName.decodeList(names, "certificate_authorities")
            requestContext = nil
            extensions = []
        }
        try reader.expectEnd()
    }

    /// Whether the TLS 1.3 form carries a certificate_authorities extension (possibly empty).
    public var hasAuthoritiesExtension: Bool { extensions.contains { $0.type == .certificateAuthorities } }
}

extension CertificateRequest: TLSFieldDescribing {
    public var fields: [TLSField] {
        if let requestContext {
            return [
                TLSField("Certificate Request Context Length", "\(requestContext.count)"),
                TLSField("Extensions (\(extensions.count))", "", extensions.flatMap(\.fields)),
            ]
        }
        var fields = [TLSField("Certificate Types (\(certificateTypes.count))", certificateTypes.listed())]
        if !signatureAlgorithms.isEmpty {
            fields.append(TLSField("Signature Algorithms (\(signatureAlgorithms.count))", signatureAlgorithms.listed()))
        }
        fields.append(
            TLSField("Distinguished Names Length", "\(distinguishedNamesLength ?? 0)", distinguishedNames.map(\.field))
        )
        return fields
    }
}
