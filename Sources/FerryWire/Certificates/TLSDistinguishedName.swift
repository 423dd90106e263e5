import NIOCore
import SwiftASN1
import X509

/// A `DistinguishedName` as carried in a CertificateRequest or the certificate_authorities extension: the
/// DER bytes and, when they parse, the RFC 4514 string.
public struct TLSDistinguishedName: Sendable, Equatable {
    public let der: [UInt8]
    /// `CN=Ferry Test CA,O=Example`, or `nil` when the bytes are not an X.501 Name.
    public let rfc4514: String?

    public init(der: [UInt8]) {
        self.der = der
        self.rfc4514 = (try? DistinguishedName(derEncoded: DER.parse(der))).map(String.init(describing:))
    }

    /// Decodes `DistinguishedName list<..>` (each `opaque<1..2^16-1>`).
    static func decodeList(_ block: ByteBuffer, _ what: String) throws(TLSWireError) -> [TLSDistinguishedName] {
        var reader = WireReader(block, what)
        var names: [TLSDistinguishedName] = []
        while !reader.isEmpty {
            var name = try reader.vector16("DistinguishedName")
            guard name.readableBytes > 0 else {
                throw TLSWireError(description: "\(what) holds an empty DistinguishedName")
            }
            names.append(TLSDistinguishedName(der: name.readBytes(length: name.readableBytes)!))
        }
        return names
    }

    var field: TLSField {
        TLSField("Distinguished Name", (rfc4514 ?? "(not an X.501 Name)") + " (\(der.count) bytes)")
    }
}
