import SwiftASN1
import X509

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// What a trace shows of one certificate, decoded with swift-certificates.
public struct TLSCertificateSummary: Sendable, Equatable {
    public let der: [UInt8]
    public let subject: String
    public let issuer: String
    public let serial: String
    public let notBefore: Date
    public let notAfter: Date
    public let subjectAlternativeNames: [String]
    public let keyUsage: [String]
    public let extendedKeyUsage: [String]
    public let publicKey: String
    public let isCA: Bool
    /// Where the issuer's certificate can be fetched (the Authority Information Access caIssuers URIs).
    public let caIssuers: [String]

    /// Decodes DER; `nil` when the bytes are not a certificate (the trace shows the parse error instead).
    public init(der: [UInt8]) throws {
        let certificate = try Certificate(derEncoded: der)
        self.der = der
        self.subject = String(describing: certificate.subject)
        self.issuer = String(describing: certificate.issuer)
        self.serial = certificate.serialNumber.bytes.map { String($0, radix: 16).leftPadded(2) }.joined(separator: ":")
        self.notBefore = certificate.notValidBefore
        self.notAfter = certificate.notValidAfter
        var names: [String] = []
        if let san = try? certificate.extensions.subjectAlternativeNames {
            for name in san {
                switch name {
                case .dnsName(let dns): names.append("DNS:" + dns)
                case .ipAddress(let bytes): names.append("IP:" + Self.ipAddress(Array(bytes.bytes)))
                case .rfc822Name(let mail): names.append("email:" + mail)
                case .uniformResourceIdentifier(let uri): names.append("URI:" + uri)
                default: names.append(String(describing: name))
                }
            }
        }
        self.subjectAlternativeNames = names
        var usage: [String] = []
        if let keyUsage = try? certificate.extensions.keyUsage {
            if keyUsage.digitalSignature { usage.append("digitalSignature") }
            if keyUsage.nonRepudiation { usage.append("nonRepudiation") }
            if keyUsage.keyEncipherment { usage.append("keyEncipherment") }
            if keyUsage.dataEncipherment { usage.append("dataEncipherment") }
            if keyUsage.keyAgreement { usage.append("keyAgreement") }
            if keyUsage.keyCertSign { usage.append("keyCertSign") }
            if keyUsage.cRLSign { usage.append("cRLSign") }
        }
        self.keyUsage = usage
        var purposes: [String] = []
        if let eku = try? certificate.extensions.extendedKeyUsage {
            for purpose in eku {
                switch purpose {
                case .serverAuth: purposes.append("serverAuth")
                case .clientAuth: purposes.append("clientAuth")
                case .codeSigning: purposes.append("codeSigning")
                case .emailProtection: purposes.append("emailProtection")
                case .timeStamping: purposes.append("timeStamping")
                case .ocspSigning: purposes.append("OCSPSigning")
                default: purposes.append(String(describing: purpose))
                }
            }
        }
        self.extendedKeyUsage = purposes
        self.publicKey = Self.describeKey(certificate.publicKey)
        if case .isCertificateAuthority = try? certificate.extensions.basicConstraints {
            self.isCA = true
        } else {
            self.isCA = false
        }
        var issuers: [String] = []
        if let access = try? certificate.extensions.authorityInformationAccess {
            for description in access where description.method == .issuingCA {
                if case .uniformResourceIdentifier(let uri) = description.location { issuers.append(uri) }
            }
        }
        self.caIssuers = issuers
    }

    static func describeKey(_ key: Certificate.PublicKey) -> String {
        let text = String(describing: key)
        if text.contains("P256") { return "ECDSA P-256" }
        if text.contains("P384") { return "ECDSA P-384" }
        if text.contains("P521") { return "ECDSA P-521" }
        if text.contains("Ed25519") { return "Ed25519" }
        if text.contains("RSA") { return "RSA" }
        return text
    }

    static func ipAddress(_ bytes: [UInt8]) -> String {
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        if bytes.count == 16 {
            return stride(from: 0, to: 16, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }.joined(separator: ":")
        }
        return bytes.map { String($0) }.joined(separator: ".")
    }

    var fields: [TLSField] {
        var fields = [
            TLSField("Subject", subject), TLSField("Issuer", issuer), TLSField("Serial", serial),
            TLSField("Not Before", Self.format(notBefore)), TLSField("Not After", Self.format(notAfter)),
            TLSField("Public Key", publicKey),
        ]
        if !subjectAlternativeNames.isEmpty { fields.append(TLSField("Subject Alternative Names", subjectAlternativeNames.joined(separator: ", "))) }
        if !keyUsage.isEmpty { fields.append(TLSField("Key Usage", keyUsage.joined(separator: ", "))) }
        if !extendedKeyUsage.isEmpty { fields.append(TLSField("Extended Key Usage", extendedKeyUsage.joined(separator: ", "))) }
        if isCA { fields.append(TLSField("Basic Constraints", "CA")) }
        if !caIssuers.isEmpty { fields.append(TLSField("CA Issuers", caIssuers.joined(separator: ", "))) }
        return fields
    }

    static func format(_ date: Date) -> String {
        date.formatted(.iso8601)
    }

    /// A date as traces print it (ISO 8601, UTC).
    public static func formatDate(_ date: Date) -> String { format(date) }
}
