public import Foundation
import SwiftASN1
public import X509

/// A certificate revocation list (RFC 5280 §5), read with swift-asn1: who issued it, when it was made and is
/// next due, and the serial numbers it revokes. Its signature is checked against the issuing CA before use.
///
/// ```
/// CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm AlgorithmIdentifier, signatureValue BIT STRING }
/// TBSCertList ::= SEQUENCE { version INTEGER OPTIONAL, signature AlgorithmIdentifier, issuer Name,
///     thisUpdate Time, nextUpdate Time OPTIONAL,
///     revokedCertificates SEQUENCE OF SEQUENCE { userCertificate INTEGER, revocationDate Time, ... } OPTIONAL,
///     crlExtensions [0] EXPLICIT Extensions OPTIONAL }
/// ```
public struct CertificateRevocationList: Sendable, Equatable {
    /// The file it was read from.
    public let file: String
    public let issuer: DistinguishedName
    public let thisUpdate: Date
    public let nextUpdate: Date?
    /// Revoked serial numbers and when each was revoked.
    public let revoked: [Certificate.SerialNumber: Date]
    private let signedBytes: [UInt8]
    private let signatureOID: ASN1ObjectIdentifier
    private let signature: [UInt8]

    /// Parses one DER-encoded CRL.
    public init(derEncoded der: [UInt8], file: String) throws(TLSSetupError) {
        do {
            let root = try DER.parse(der)
            var parsed:
                (
                    DistinguishedName, Date, Date?, [Certificate.SerialNumber: Date], [UInt8], ASN1ObjectIdentifier,
                    [UInt8]
                )?
            try DER.sequence(root, identifier: .sequence) { nodes in
                guard let tbsNode = nodes.next() else { throw CRLFormatError("no tbsCertList") }
                let signed = Array(tbsNode.encodedBytes)
                var tbs: (DistinguishedName, Date, Date?, [Certificate.SerialNumber: Date])?
                try DER.sequence(tbsNode, identifier: .sequence) { fields in
                    var next = fields.next()
                    if let node = next, node.identifier == .integer { next = fields.next() }  // version
                    // The inner signature algorithm.
                    guard next != nil else { throw CRLFormatError("no signature algorithm") }
                    guard let issuerNode = fields.next() else { throw CRLFormatError("no issuer") }
                    let issuer = try DistinguishedName(derEncoded: issuerNode)
                    guard let thisNode = fields.next() else { throw CRLFormatError("no thisUpdate") }
                    let thisUpdate = try Self.time(thisNode)
                    var nextUpdate: Date?
                    var revoked: [Certificate.SerialNumber: Date] = [:]
                    var node = fields.next()
                    if let candidate = node,
                        candidate.identifier == .utcTime || candidate.identifier == .generalizedTime
                    {
                        nextUpdate = try Self.time(candidate)
                        node = fields.next()
                    }
                    if let list = node, list.identifier == .sequence {
                        try DER.sequence(list, identifier: .sequence) { entries in
                            while let entry = entries.next() {
                                try DER.sequence(entry, identifier: .sequence) { parts in
                                    guard let serialNode = parts.next(), let dateNode = parts.next() else {
                                        throw CRLFormatError("a revoked entry is incomplete")
                                    }
                                    let serial = Certificate.SerialNumber(
                                        bytes: try ArraySlice<UInt8>(derEncoded: serialNode)
                                    )
                                    revoked[serial] = try Self.time(dateNode)
                                    while parts.next() != nil {}  // entry extensions
                                }
                            }
                        }
                        node = fields.next()
                    }
                    while node != nil { node = fields.next() }  // crlExtensions
                    tbs = (issuer, thisUpdate, nextUpdate, revoked)
                }
                guard let tbs else { throw CRLFormatError("empty tbsCertList") }
                guard let algorithmNode = nodes.next() else { throw CRLFormatError("no signature algorithm") }
                var oid: ASN1ObjectIdentifier?
                try DER.sequence(algorithmNode, identifier: .sequence) { parts in
                    oid = try parts.next().map { try ASN1ObjectIdentifier(derEncoded: $0) }
                    while parts.next() != nil {}
                }
                guard let oid, let signatureNode = nodes.next() else { throw CRLFormatError("no signature") }
                let bits = try ASN1BitString(derEncoded: signatureNode)
                parsed = (tbs.0, tbs.1, tbs.2, tbs.3, signed, oid, Array(bits.bytes))
            }
            guard let parsed else { throw CRLFormatError("empty") }
            (issuer, thisUpdate, nextUpdate, revoked, signedBytes, signatureOID, signature) = parsed
            self.file = file
        } catch let error as TLSSetupError {
            throw error
        } catch {
            throw TLSSetupError(
                .badCRL,
                subject: file,
                problem: "not a certificate revocation list (\(error))",
                fix: "give the CA's CRL as PEM (-----BEGIN X509 CRL-----) or DER, e.g. from `openssl ca -gencrl`"
            )
        }
    }

    /// Reads every CRL in a file: PEM blocks `X509 CRL`, or one DER CRL.
    public static func load(_ path: String) throws(TLSSetupError) -> [CertificateRevocationList] {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            let exists = FileManager.default.fileExists(atPath: path)
            throw TLSSetupError(
                .unreadable,
                subject: path,
                problem: exists ? "the CRL file cannot be read (permissions?)" : "the CRL file does not exist",
                fix: exists ? "make it readable by the user running ferry" : "check the path in the crl setting"
            )
        }
        if let text = String(data: data, encoding: .utf8), text.contains("-----BEGIN") {
            let documents: [PEMDocument]
            do {
                documents = try PEMDocument.parseMultiple(pemString: text)
            } catch {
                throw TLSSetupError(
                    .badCRL,
                    subject: path,
                    problem: "the PEM blocks cannot be read (\(error))",
                    fix: "give the CA's CRL as PEM (-----BEGIN X509 CRL-----) or DER"
                )
            }
            let crls = documents.filter { $0.discriminator == "X509 CRL" }
            guard !crls.isEmpty else {
                throw TLSSetupError(
                    .badCRL,
                    subject: path,
                    problem:
                        "no X509 CRL block (found \(Set(documents.map(\.discriminator)).sorted().joined(separator: ", ")))",
                    fix: "name the CA's CRL file, not a certificate"
                )
            }
            var lists: [CertificateRevocationList] = []
            for document in crls {
                lists.append(try CertificateRevocationList(derEncoded: document.derBytes, file: path))
            }
            return lists
        }
        return [try CertificateRevocationList(derEncoded: Array(data), file: path)]
    }

    /// Whether `ca` (by its name and key) issued and signed this list.
    public func isSigned(by ca: Certificate) -> Bool {
        guard ca.subject == issuer, let algorithm = Self.algorithms[signatureOID] else { return false }
        return ca.publicKey.isValidSignature(signature, for: signedBytes, signatureAlgorithm: algorithm)
    }

    /// Whether the list is past its nextUpdate.
    public func isExpired(at now: Date) -> Bool { nextUpdate.map { $0 < now } ?? false }

    static let algorithms: [ASN1ObjectIdentifier: Certificate.SignatureAlgorithm] = [
        [1, 2, 840, 10045, 4, 3, 2]: .ecdsaWithSHA256, [1, 2, 840, 10045, 4, 3, 3]: .ecdsaWithSHA384,
        [1, 2, 840, 10045, 4, 3, 4]: .ecdsaWithSHA512,
        [1, 2, 840, 113549, 1, 1, 5]: .sha1WithRSAEncryption, [1, 2, 840, 113549, 1, 1, 11]: .sha256WithRSAEncryption,
        [1, 2, 840, 113549, 1, 1, 12]: .sha384WithRSAEncryption,
        [1, 2, 840, 113549, 1, 1, 13]: .sha512WithRSAEncryption,
        [1, 3, 101, 112]: .ed25519,
    ]

    static func time(_ node: ASN1Node) throws -> Date {
        var components = DateComponents()
        components.timeZone = TimeZone(identifier: "UTC")
        if node.identifier == .utcTime {
            let time = try UTCTime(derEncoded: node)
            (components.year, components.month, components.day) = (time.year, time.month, time.day)
            (components.hour, components.minute, components.second) = (time.hours, time.minutes, time.seconds)
        } else {
            let time = try GeneralizedTime(derEncoded: node)
            (components.year, components.month, components.day) = (time.year, time.month, time.day)
            (components.hour, components.minute, components.second) = (time.hours, time.minutes, time.seconds)
        }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        guard let date = calendar.date(from: components) else { throw CRLFormatError("a time is out of range") }
        return date
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.file == rhs.file && lhs.signedBytes == rhs.signedBytes && lhs.signature == rhs.signature
    }
}

struct CRLFormatError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
