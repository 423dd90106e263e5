import Crypto
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

    /// Decodes DER; throws when the bytes are not a certificate (the trace shows the parse error instead).
    /// A certificate whose key or signature algorithm swift-certificates does not support (RSA-PSS, Ed448, DSA,
    /// other curves) is still read: its fields are decoded around stand-ins, and its key is named from its algorithm.
    public init(der: [UInt8]) throws {
        let certificate: Certificate
        var unsupportedKey: String?
        do {
            certificate = try Certificate(derEncoded: der)
        } catch {
            guard let standIn = try? Self.withStandInKey(der) else { throw error }
            certificate = try Certificate(derEncoded: standIn.der)
            unsupportedKey = standIn.key
        }
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
        self.publicKey = unsupportedKey ?? Self.describeKey(certificate.publicKey)
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

    /// The certificate with its subjectPublicKeyInfo replaced by a P-256 key and its signature by an
    /// ecdsa-with-SHA256 one (that does not verify; a summary verifies nothing), and the name of the key it had.
    static func withStandInKey(_ der: [UInt8]) throws -> (der: [UInt8], key: String) {
        let root = try DER.parse(der)
        guard case .constructed(let parts) = root.content, case let outer = Array(parts), outer.count == 3,
            case .constructed(let fields) = outer[0].content
        else { throw CertificateError.unsupportedPublicKeyAlgorithm(reason: "not a certificate") }
        let list = Array(fields)
        // version [0] is optional; then serial, signature, issuer, validity, subject, subjectPublicKeyInfo.
        let offset = list.first?.identifier.tagClass == .contextSpecific ? 1 : 0
        guard list.count > 5 + offset, case .constructed(let spki) = list[5 + offset].content,
            let algorithm = spki.first(where: { _ in true }),
            case .constructed(let algorithmParts) = algorithm.content
        else { throw CertificateError.unsupportedPublicKeyAlgorithm(reason: "no subjectPublicKeyInfo") }
        let identifiers = Array(algorithmParts)
        // A partner's bytes: an AlgorithmIdentifier without its OID is refused, not read past.
        guard let first = identifiers.first else {
            throw CertificateError.unsupportedPublicKeyAlgorithm(reason: "an empty key algorithm")
        }
        let oid = (try? ASN1ObjectIdentifier(derEncoded: first)).map(String.init(describing:)) ?? "?"
        let parameter =
            identifiers.count > 1
            ? (try? ASN1ObjectIdentifier(derEncoded: identifiers[1])).map(String.init(describing:)) : nil
        let key =
            Self.keyNames[oid].map { name in
                name == "ECDSA"
                    ? "ECDSA " + (parameter.flatMap { Self.curveNames[$0] } ?? "curve \(parameter ?? "?")") : name
            }
            ?? "key algorithm \(oid)"
        var tbs: [UInt8] = []
        for (index, field) in list.enumerated() {
            tbs +=
                index == 1 + offset
                ? Self.standInAlgorithm : index == 5 + offset ? Self.standInKey : Array(field.encodedBytes)
        }
        // The signature too: swift-certificates reads it as the stand-in algorithm's (an ECDSA-Sig-Value of r = s = 1).
        return (
            Self.sequence(
                Self.sequence(tbs) + Self.standInAlgorithm + [
                    0x03, 0x09, 0x00, 0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01,
                ]
            ), key
        )
    }

    /// Public key algorithms by OID, to name the key of a certificate read around a stand-in.
    static let keyNames: [String: String] = [
        "1.2.840.113549.1.1.10": "RSA-PSS", "1.3.101.113": "Ed448", "1.3.101.112": "Ed25519",
        "1.2.840.10040.4.1": "DSA",
        "1.2.840.10045.2.1": "ECDSA", "1.3.101.110": "X25519", "1.3.101.111": "X448", "1.2.840.113549.1.1.1": "RSA",
    ]
    /// Named curves by OID, for the same.
    static let curveNames: [String: String] = [
        "1.2.840.10045.3.1.7": "P-256", "1.3.132.0.34": "P-384", "1.3.132.0.35": "P-521", "1.3.132.0.10": "secp256k1",
        "1.3.36.3.3.2.8.1.1.7": "brainpoolP256r1", "1.3.36.3.3.2.8.1.1.11": "brainpoolP384r1",
        "1.3.36.3.3.2.8.1.1.13": "brainpoolP512r1", "1.2.840.10045.3.1.1": "P-192", "1.3.132.0.33": "P-224",
        "1.2.156.10197.1.301": "SM2",
    ]

    /// A P-256 subjectPublicKeyInfo, standing in for a key swift-certificates cannot read.
    static let standInKey: [UInt8] = Array(P256.Signing.PrivateKey().publicKey.derRepresentation)

    /// The AlgorithmIdentifier ecdsa-with-SHA256, standing in for a signature algorithm it cannot read (RSASSA-PSS).
    static let standInAlgorithm: [UInt8] = [0x30, 0x0A, 0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02]

    /// A DER SEQUENCE holding `content`.
    static func sequence(_ content: [UInt8]) -> [UInt8] {
        var length: [UInt8] = []
        var count = content.count
        if count < 0x80 {
            length = [UInt8(count)]
        } else {
            while count > 0 {
                length.insert(UInt8(count & 0xFF), at: 0)
                count >>= 8
            }
            length.insert(0x80 | UInt8(length.count), at: 0)
        }
        return [0x30] + length + content
    }

    static func ipAddress(_ bytes: [UInt8]) -> String {
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        if bytes.count == 16 {
            return stride(from: 0, to: 16, by: 2).map {
                String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16)
            }.joined(separator: ":")
        }
        return bytes.map { String($0) }.joined(separator: ".")
    }

    var fields: [TLSField] {
        var fields = [
            TLSField("Subject", subject), TLSField("Issuer", issuer), TLSField("Serial", serial),
            TLSField("Not Before", Self.format(notBefore)), TLSField("Not After", Self.format(notAfter)),
            TLSField("Public Key", publicKey),
        ]
        if !subjectAlternativeNames.isEmpty {
            fields.append(TLSField("Subject Alternative Names", subjectAlternativeNames.joined(separator: ", ")))
        }
        if !keyUsage.isEmpty { fields.append(TLSField("Key Usage", keyUsage.joined(separator: ", "))) }
        if !extendedKeyUsage.isEmpty {
            fields.append(TLSField("Extended Key Usage", extendedKeyUsage.joined(separator: ", ")))
        }
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
