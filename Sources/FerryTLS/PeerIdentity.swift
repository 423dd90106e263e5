import NIOConcurrencyHelpers
public import NIOSSL
import SwiftASN1
public import X509

/// What Ferry records about the certificate a peer presented.
public struct PeerIdentity: Sendable, Hashable, Codable {
    /// Subject as an RFC 4514 string, e.g. `CN=acme,O=Ferry`.
    public var subject: String
    public var issuer: String
    /// Serial number in hexadecimal.
    public var serial: String
    /// The subject common name, if any.
    public var commonName: String?
    /// DNS and URI subject alternative names, as `dns:NAME` and `uri:URI`.
    public var alternativeNames: [String]

    public init(certificate: Certificate) {
        self.subject = certificate.subject.description
        self.issuer = certificate.issuer.description
        self.serial = certificate.serialNumber.bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        self.commonName = certificate.subject.commonName
        var names: [String] = []
        if let sans = try? certificate.extensions.subjectAlternativeNames {
            for name in sans {
                switch name {
                case .dnsName(let dns): names.append("dns:\(dns)")
                case .uniformResourceIdentifier(let uri): names.append("uri:\(uri)")
                default: break
                }
            }
        }
        self.alternativeNames = names
    }

    /// Reads a certificate that NIOSSL handed over.
    public init?(_ certificate: NIOSSLCertificate) {
        guard let der = try? certificate.toDERBytes(), let parsed = try? Certificate(derEncoded: der) else {
            return nil
        }
        self.init(certificate: parsed)
    }
}

extension DistinguishedName {
    /// The first common name, if the name has one.
    var commonName: String? {
        for rdn in self {
            for attribute in rdn where attribute.type == .RDNAttributeType.commonName {
                return String(describing: attribute.value)
            }
        }
        return nil
    }
}

extension PeerIdentity {
    /// Reads a DER certificate.
    public init?(derEncoded der: [UInt8]) {
        guard let parsed = try? Certificate(derEncoded: der) else { return nil }
        self.init(certificate: parsed)
    }
}

extension PeerIdentity {
    /// Parsed certificates by their DER bytes: a peer sending many files over one or many connections presents
    /// the same certificate each time, and parsing it cost 9–10 % of the CPU per small file on either side.
    private static let parsed = NIOLockedValueBox([[UInt8]: PeerIdentity]())
    private static let cacheCapacity = 256

    /// The identity of a DER certificate, parsed once; `nil` when it does not parse.
    public static func cached(derEncoded der: [UInt8]) -> PeerIdentity? {
        if let known = parsed.withLockedValue({ $0[der] }) { return known }
        guard let identity = PeerIdentity(derEncoded: der) else { return nil }
        parsed.withLockedValue { entries in
            if entries.count >= cacheCapacity { entries.removeAll(keepingCapacity: true) }
            entries[der] = identity
        }
        return identity
    }
}
