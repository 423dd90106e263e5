public import Crypto
public import Foundation
import SwiftASN1
public import X509

#if canImport(Glibc)
import Glibc
#endif

/// A certificate authority held in memory: its certificate and P-256 signing key.
///
/// Issues server and client certificates for the dev PKI (`ferry certs init`) and for tests, with
/// swift-certificates, so no `openssl` binary is needed.
public struct CertificateAuthority: Sendable {
    public let certificate: Certificate
    public let privateKey: P256.Signing.PrivateKey

    /// Makes a new self-signed root CA.
    public init(commonName: String, organization: String = "Ferry", validFrom: Date = .now, days: Int = 3650) throws {
        self = try Self.make(
            commonName: commonName,
            organization: organization,
            validFrom: validFrom,
            days: days,
            issuer: nil
        )
    }

    /// Issues an intermediate CA signed by this one (for chains: root, intermediates, leaf).
    public func issueSubordinate(
        commonName: String,
        organization: String = "Ferry",
        days: Int = 1825
    ) throws -> CertificateAuthority {
        try Self.make(commonName: commonName, organization: organization, validFrom: .now, days: days, issuer: self)
    }

    /// The same root CA (name and key) re-issued with another validity window, as a CA renews its root: what it
    /// signed before still verifies under the new certificate.
    public func reissued(validFrom: Date, days: Int = 3650) throws -> CertificateAuthority {
        let commonName =
            certificate.subject.compactMap { $0.first(where: { $0.type == .RDNAttributeType.commonName }) }.first.map {
                String(describing: $0.value)
            } ?? ""
        let organization =
            certificate.subject.compactMap { $0.first(where: { $0.type == .RDNAttributeType.organizationName }) }.first
            .map { String(describing: $0.value) } ?? ""
        return try Self.make(
            commonName: commonName,
            organization: organization,
            validFrom: validFrom,
            days: days,
            issuer: nil,
            key: privateKey
        )
    }

    private init(certificate: Certificate, privateKey: P256.Signing.PrivateKey) {
        self.certificate = certificate
        self.privateKey = privateKey
    }

    /// A CA certificate with a fresh P-256 key, self-signed without an issuer.
    private static func make(
        commonName: String,
        organization: String,
        validFrom: Date,
        days: Int,
        issuer: CertificateAuthority?,
        key: P256.Signing.PrivateKey = .init()
    ) throws -> CertificateAuthority {
        let name = try DistinguishedName {
            OrganizationName(organization)
            CommonName(commonName)
        }
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
            Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            SubjectKeyIdentifier(hash: Certificate.PublicKey(key.publicKey))
            if let issuer {
                AuthorityKeyIdentifier(
                    keyIdentifier: try? issuer.certificate.extensions.subjectKeyIdentifier?.keyIdentifier
                )
            }
        }
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: Certificate.PublicKey(key.publicKey),
            notValidBefore: validFrom.addingTimeInterval(-300),
            notValidAfter: validFrom.addingTimeInterval(TimeInterval(days) * 86_400),
            issuer: issuer?.certificate.subject ?? name,
            subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: extensions,
            issuerPrivateKey: Certificate.PrivateKey(issuer?.privateKey ?? key)
        )
        return CertificateAuthority(certificate: certificate, privateKey: key)
    }

    /// Loads a CA from its PEM certificate and PEM private key.
    public init(certificatePEM: String, privateKeyPEM: String) throws {
        self.certificate = try Certificate(pemEncoded: certificatePEM)
        self.privateKey = try P256.Signing.PrivateKey(pemRepresentation: privateKeyPEM)
    }

    /// What a leaf certificate is for.
    public enum Purpose: Sendable {
        case server
        case client
    }

    /// Issues a leaf certificate with a fresh P-256 key.
    ///
    /// - Parameters:
    ///   - commonName: the subject CN; for clients this is the partner name.
    ///   - purpose: sets the EKU (serverAuth or clientAuth) unless `extendedKeyUsage` overrides it.
    ///   - dnsNames: DNS SANs; `ipAddresses`: IP SANs as text (`127.0.0.1`, `::1`).
    ///   - validFrom, days: the validity window (tests make expired certificates with a past `validFrom`).
    ///   - extendedKeyUsage: an explicit EKU list; an empty list leaves the extension out.
    public func issue(
        commonName: String,
        purpose: Purpose,
        organization: String = "Ferry",
        dnsNames: [String] = [],
        ipAddresses: [String] = [],
        validFrom: Date = .now,
        days: Int = 825,
        extendedKeyUsage: [ExtendedKeyUsage.Usage]? = nil
    ) throws -> IssuedIdentity {
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName {
            OrganizationName(organization)
            CommonName(commonName)
        }
        var names: [GeneralName] = dnsNames.map { .dnsName($0) }
        for ip in ipAddresses {
            guard let bytes = IPAddressBytes.parse(ip) else {
                throw PKIError("'\(ip)' is not an IPv4 or IPv6 address")
            }
            names.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice(bytes))))
        }
        let usages = extendedKeyUsage ?? [purpose == .server ? .serverAuth : .clientAuth]
        let sanList = names
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.notCertificateAuthority)
            Critical(KeyUsage(digitalSignature: true))
            if !usages.isEmpty {
                try ExtendedKeyUsage(usages)
            }
            if !sanList.isEmpty {
                SubjectAlternativeNames(sanList)
            }
            SubjectKeyIdentifier(hash: Certificate.PublicKey(key.publicKey))
            AuthorityKeyIdentifier(keyIdentifier: try? self.certificate.extensions.subjectKeyIdentifier?.keyIdentifier)
        }
        let leaf = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: Certificate.PublicKey(key.publicKey),
            notValidBefore: validFrom.addingTimeInterval(-300),
            notValidAfter: validFrom.addingTimeInterval(TimeInterval(days) * 86_400),
            issuer: self.certificate.subject,
            subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: extensions,
            issuerPrivateKey: Certificate.PrivateKey(self.privateKey)
        )
        return IssuedIdentity(certificate: leaf, privateKey: key)
    }

    /// The CA certificate as PEM.
    public var certificatePEM: String { get throws { try certificate.serializeAsPEM().pemString } }
    /// The CA key as PEM (PKCS#8).
    public var privateKeyPEM: String { privateKey.pemRepresentation }
}

/// A leaf certificate and its key.
public struct IssuedIdentity: Sendable {
    public let certificate: Certificate
    public let privateKey: P256.Signing.PrivateKey

    public var certificatePEM: String { get throws { try certificate.serializeAsPEM().pemString } }
    public var privateKeyPEM: String { privateKey.pemRepresentation }
}

extension SubjectKeyIdentifier {
    /// The key identifier of RFC 5280 §4.2.1.2 method 1: SHA-1 of the subject public key bits.
    init(hash publicKey: Certificate.PublicKey) {
        self.init(keyIdentifier: ArraySlice(Insecure.SHA1.hash(data: publicKey.subjectPublicKeyInfoBytes)))
    }
}

extension Certificate.PublicKey {
    var subjectPublicKeyInfoBytes: [UInt8] {
        // The BIT STRING content of the SPKI: for P-256 this is the uncompressed point.
        if let p256 = P256.Signing.PublicKey(self) {
            return Array(p256.x963Representation)
        }
        var serializer = DER.Serializer()
        try? serializer.serialize(self)
        return serializer.serializedBytes
    }
}

/// Parses textual IP addresses to their network bytes.
enum IPAddressBytes {
    static func parse(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }
}

/// A PKI problem with a message that names it.
public struct PKIError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
