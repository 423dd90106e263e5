public import FerryTLS
import Foundation
public import X509

/// A CA as a binding compares it: its name and its key. A re-issued CA certificate with the same name and key is
/// the same CA; a different CA that copies the name is not.
public struct AuthorityKey: Hashable, Sendable {
    let subject: DistinguishedName
    let publicKey: Certificate.PublicKey

    public init(_ certificate: Certificate) {
        subject = certificate.subject
        publicKey = certificate.publicKey
    }
}

/// How the server turns a verified client certificate into a partner name.
///
/// - A configured partner (`partners.NAME` with `subject`, `san` or `ca`) is reached only through that binding:
///   every part that is set must match, `ca` compared against the chain the server verified (name and key of each
///   CA in it), and a binding with `ca` alone needs the certificate's CN to be NAME.
/// - A certificate that matches no binding may still name a partner by its subject CN, but only when the chain
///   holds one of the CAs allowed to name partners (`server.cn-ca`; by default the trusted CA when the server
///   trusts exactly one), and only a name that no configured partner and no shared area's folder uses.
public struct PartnerBindings: Sendable {
    struct Binding: Sendable {
        let name: String
        let subject: String?
        let alternativeName: String?
        /// Empty: any CA the server trusts.
        let authorities: Set<AuthorityKey>
        /// The CA certificates themselves, to tell when one CA is issued by another.
        let authorityCertificates: [Certificate]

        var commonNameOnly: Bool { subject == nil && alternativeName == nil }

        func matches(_ identity: PeerIdentity, chain: Set<AuthorityKey>) -> Bool {
            if !authorities.isEmpty, authorities.isDisjoint(with: chain) { return false }
            if let subject, subject != identity.subject { return false }
            if let alternativeName, !identity.alternativeNames.contains(alternativeName) { return false }
            if commonNameOnly { return identity.commonName?.lowercased() == name.lowercased() }
            return true
        }

        /// How the binding is written in the configuration, for messages.
        var summary: String {
            var parts: [String] = []
            if let subject { parts.append("subject \(subject)") }
            if let alternativeName { parts.append("san \(alternativeName)") }
            if authorities.isEmpty {
                parts.append("any trusted CA")
            } else {
                parts.append("ca \(authorityCertificates.map { $0.subject.description }.joined(separator: " or "))")
            }
            if commonNameOnly { parts.append("CN \(name)") }
            return parts.joined(separator: ", ")
        }
    }

    let bindings: [Binding]
    /// CAs whose certificates may name an unconfigured partner by CN.
    let commonNameAuthorities: Set<AuthorityKey>
    /// Lower-cased names a CN may not take: configured partners and the first folder of every shared area.
    let reservedNames: Set<String>
    /// Bindings that any trusted CA can satisfy while several are trusted, and other weak spots: for the log.
    public let warnings: [String]

    /// Loads the partner CA files and checks that no two partners can be named by one certificate.
    ///
    /// - Parameter trusted: the CA certificates the server trusts for client certificates.
    public static func load(configuration: FerryConfiguration, trusted: [Certificate]) throws -> PartnerBindings {
        var bindings: [Binding] = []
        var warnings: [String] = []
        for partner in configuration.partners.values.sorted(by: { $0.name < $1.name }) where partner.hasBinding {
            var certificates: [Certificate] = []
            for file in partner.certificateAuthorities {
                let loaded = try CertificateFiles.loadCertificates(file, what: "CA file of partners.\(partner.name).ca")
                for certificate in loaded where !CertificateFiles.isCA(certificate) {
                    throw ConfigError(
                        "partners.\(partner.name).ca: \(file) holds '\(certificate.subject)', which is not a CA certificate; name the CA that issues the partner's certificates"
                    )
                }
                certificates += loaded
            }
            let binding = Binding(
                name: partner.name,
                subject: partner.subject,
                alternativeName: partner.alternativeName,
                authorities: Set(certificates.map(AuthorityKey.init)),
                authorityCertificates: certificates
            )
            if binding.authorities.isEmpty, trusted.count > 1 {
                warnings.append(
                    "partners.\(partner.name) is bound by \(binding.summary) while the server trusts \(trusted.count) CAs: any of them can issue such a certificate; set partners.\(partner.name).ca to the partner's CA"
                )
            }
            bindings.append(binding)
        }
        for (index, first) in bindings.enumerated() {
            for second in bindings[(index + 1)...] where canMatchSameCertificate(first, second) {
                throw ConfigError(
                    "partners.\(first.name) (\(first.summary)) and partners.\(second.name) (\(second.summary)) can both match one certificate, so the server could not tell the two apart; give them different subjects or SANs, or a 'ca' each",
                    id: "partner-binding-ambiguous"
                )
            }
        }
        let commonNameCertificates: [Certificate]
        if let files = configuration.commonNameCAs {
            var loaded: [Certificate] = []
            for file in files {
                loaded += try CertificateFiles.loadCertificates(file, what: "CA file of server.cn-ca")
            }
            commonNameCertificates = loaded
            if Set(loaded.map(AuthorityKey.init)).count > 1 {
                warnings.append(
                    "server.cn-ca lets \(loaded.count) CAs name partners by CN: unless they are one organisation's old and new root (a CA rotation), a certificate from one can take a name that a partner of another uses; prefer a partners.NAME entry with 'ca' for each partner"
                )
            }
        } else {
            commonNameCertificates = trusted.count == 1 ? trusted : []
        }
        var reserved = Set(configuration.partners.keys.map { $0.lowercased() })
        for rule in configuration.accessRules where rule.area != "." {
            if let first = rule.area.split(separator: "/").first { reserved.insert(first.lowercased()) }
        }
        return PartnerBindings(
            bindings: bindings,
            commonNameAuthorities: Set(commonNameCertificates.map(AuthorityKey.init)),
            reservedNames: reserved,
            warnings: warnings
        )
    }

    /// Whether one certificate could satisfy both bindings through a single subject, SAN or CN, under CAs that
    /// can both be in its chain. (A certificate carrying two partners' SANs at once is refused when it arrives.)
    static func canMatchSameCertificate(_ a: Binding, _ b: Binding) -> Bool {
        guard authoritiesOverlap(a, b) else { return false }
        if let subjectA = a.subject, let subjectB = b.subject { return subjectA == subjectB }
        if let sanA = a.alternativeName, let sanB = b.alternativeName, sanA == sanB { return true }
        if a.commonNameOnly, b.commonNameOnly { return a.name.lowercased() == b.name.lowercased() }
        if a.commonNameOnly, let subject = b.subject {
            return commonName(of: subject)?.lowercased() == a.name.lowercased()
        }
        if b.commonNameOnly, let subject = a.subject {
            return commonName(of: subject)?.lowercased() == b.name.lowercased()
        }
        return false
    }

    /// Two CA sets can meet in one chain when they share a CA, when either is "any trusted CA", or when a CA of one
    /// is issued by a CA of the other.
    static func authoritiesOverlap(_ a: Binding, _ b: Binding) -> Bool {
        if a.authorities.isEmpty || b.authorities.isEmpty || !a.authorities.isDisjoint(with: b.authorities) {
            return true
        }
        func issues(_ parents: [Certificate], _ children: [Certificate]) -> Bool {
            children.contains { child in parents.contains { $0.subject == child.issuer } }
        }
        return issues(a.authorityCertificates, b.authorityCertificates)
            || issues(b.authorityCertificates, a.authorityCertificates)
    }

    /// The CN of an RFC 4514 subject string as written in the configuration (`CN=acme,O=Example`).
    static func commonName(of subject: String) -> String? {
        subject.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            .first { $0.uppercased().hasPrefix("CN=") }.map { String($0.dropFirst(3)) }
    }

    /// The partner a verified client certificate belongs to, or why it has none.
    ///
    /// - Parameter chain: the CAs of the chain the server verified (without the client's own certificate).
    public func partner(for identity: PeerIdentity, chain: Set<AuthorityKey>) -> Result<String, Refusal> {
        let matching = bindings.filter { $0.matches(identity, chain: chain) }
        if matching.count == 1 { return .success(matching[0].name) }
        if matching.count > 1 {
            return .failure(
                Refusal(
                    "matches the bindings of partners \(matching.map(\.name).joined(separator: " and ")); a certificate must name exactly one partner"
                )
            )
        }
        guard let commonName = identity.commonName else {
            return .failure(Refusal("has no CN and matches no configured partner"))
        }
        guard ConfigLoader.isPartnerName(commonName) else {
            return .failure(
                Refusal(
                    "has the CN '\(commonName)', which cannot be a partner name (letters, digits, '-', '_' and inner dots), and matches no configured partner"
                )
            )
        }
        if reservedNames.contains(commonName.lowercased()) {
            return .failure(
                Refusal(
                    "has the CN '\(commonName)', a name reserved for a configured partner or a shared area, and matches no configured partner binding; a configured partner is recognised only by its binding"
                )
            )
        }
        guard !commonNameAuthorities.isDisjoint(with: chain) else {
            return .failure(
                Refusal(
                    "matches no configured partner, and its CA may not name partners by CN (server.cn-ca); add a partners.\(commonName) entry with the partner's ca"
                )
            )
        }
        return .success(commonName)
    }

    /// Why a certificate names no partner (the text continues "the client certificate ...").
    public struct Refusal: Error, Sendable {
        public let reason: String
        init(_ reason: String) { self.reason = reason }
    }
}
