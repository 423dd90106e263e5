public import Foundation
public import X509

/// The CRLs a side checks peers' certificates against (`server.tls.crl`, `client.tls.crl`): each certificate of
/// a verified chain is looked up in the lists its issuer signed. A CA without a list is not checked.
public struct RevocationCheck: Sendable, Equatable {
    public let lists: [CertificateRevocationList]

    /// A certificate found in a list.
    public struct Revocation: Sendable {
        public let list: CertificateRevocationList
        public let date: Date
    }

    /// Something about a list the operator should know.
    public struct Warning: Sendable, CustomStringConvertible {
        public enum Kind: Sendable { case expired, issuerNotTrusted }
        public let kind: Kind
        public let description: String
    }

    public init(lists: [CertificateRevocationList]) {
        self.lists = lists
    }

    /// Loads the files and checks each list against the trusted CA of the same name: a list that such a CA
    /// did not sign is refused. Returns the check and warnings (expired lists, issuers not among the trusted CAs).
    public static func load(
        files: [String],
        trusted: [Certificate],
        side: String,
        now: Date = .now
    ) throws(TLSSetupError) -> (RevocationCheck, [Warning]) {
        var lists: [CertificateRevocationList] = []
        var warnings: [Warning] = []
        for file in files {
            for list in try CertificateRevocationList.load(file) {
                let named = trusted.filter { $0.subject == list.issuer }
                if named.isEmpty {
                    warnings.append(
                        Warning(
                            kind: .issuerNotTrusted,
                            description:
                                "\(side).crl: \(file) is issued by \(list.issuer), which is not among the trusted CAs; it is checked when a chain through that CA (an intermediate) arrives"
                        )
                    )
                } else if !named.contains(where: list.isSigned(by:)) {
                    throw TLSSetupError(
                        .badCRL,
                        subject: file,
                        problem: "the CRL names \(list.issuer) as its issuer but that CA's key did not sign it",
                        fix: "get the current CRL from the CA that issued your partners' certificates"
                    )
                }
                if list.isExpired(at: now) {
                    warnings.append(
                        Warning(
                            kind: .expired,
                            description:
                                "\(side).crl: \(file) (issuer \(list.issuer)) was due for renewal on \(list.nextUpdate!): certificates revoked since then are not known; fetch the CA's current CRL"
                        )
                    )
                }
                lists.append(list)
            }
        }
        return (RevocationCheck(lists: lists), warnings)
    }

    /// Whether `issuer` revoked `certificate`, by a list that `issuer` signed.
    public func revocation(of certificate: Certificate, issuer: Certificate) -> Revocation? {
        for list in lists where list.issuer == issuer.subject && certificate.issuer == issuer.subject {
            guard let date = list.revoked[certificate.serialNumber], list.isSigned(by: issuer) else { continue }
            return Revocation(list: list, date: date)
        }
        return nil
    }
}
