public import NIOCore

/// A Certificate message: TLS <= 1.2 (`certificate_list`) or TLS 1.3 (context + entries with extensions).
public struct CertificateMessage: Sendable, Equatable {
    /// TLS 1.3 `certificate_request_context` (nil before TLS 1.3).
    public let requestContext: [UInt8]?
    public let entries: [Entry]

    public struct Entry: Sendable, Equatable {
        public let der: [UInt8]
        /// The decoded certificate, or `nil` with `parseError` set.
        public let summary: TLSCertificateSummary?
        public let parseError: String?
        public let extensions: [TLSExtension]
    }

    public init(body: ByteBuffer, tls13: Bool) throws(TLSWireError) {
        var reader = WireReader(body, "Certificate")
        requestContext = tls13 ? try reader.vector8("certificate_request_context").readableBytesView.map { $0 } : nil
        var list = WireReader(try reader.vector24("certificate_list"), "certificate_list")
        var entries: [Entry] = []
        while !list.isEmpty {
            var data = try list.vector24("cert_data")
            guard data.readableBytes > 0 else {
                throw TLSWireError(description: "Certificate holds an empty certificate")
            }
            let der = data.readBytes(length: data.readableBytes)!
            let extensions = tls13 ? try TLSExtension.decodeList(try list.vector16("extensions"), in: .certificate) : []
            do {
                entries.append(
                    Entry(
                        der: der,
                        summary: try TLSCertificateSummary(der: der),
                        parseError: nil,
                        extensions: extensions
                    )
                )
            } catch {
                entries.append(
                    Entry(der: der, summary: nil, parseError: String(describing: error), extensions: extensions)
                )
            }
        }
        self.entries = entries
        try reader.expectEnd()
    }
}

extension CertificateMessage: TLSFieldDescribing {
    public var fields: [TLSField] {
        var fields: [TLSField] = []
        if let requestContext {
            fields.append(TLSField("Certificate Request Context Length", "\(requestContext.count)"))
        }
        fields.append(
            TLSField(
                "Certificates (\(entries.count))",
                entries.isEmpty ? "none (no certificate sent)" : "",
                entries.enumerated().map { index, entry in
                    var children = entry.summary?.fields ?? [TLSField("Error", entry.parseError ?? "")]
                    children += entry.extensions.flatMap(\.fields)
                    return TLSField("Certificate [\(index)]", "\(entry.der.count) bytes", children)
                }
            )
        )
        return fields
    }
}
