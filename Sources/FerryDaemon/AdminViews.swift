public import FerryConfig
public import FerryDiagnosis
public import Foundation
public import X509

/// `/v1/partners`: a configured partner as the server recognises it and what it may reach. No secrets: TLS keys and
/// passwords of the client side are never shown, only which files the bindings name.
public struct AdminPartner: Codable, Sendable, Equatable {
    /// An area a partner reaches: its own folder, or one an access rule grants.
    public struct Area: Codable, Sendable, Equatable {
        /// The folder under the root.
        public var area: String
        /// The first path segment under which the partner sees it (`""`: its own folder, at the top).
        public var mount: String
        public var rights: [String]
        /// The access rule that grants it; nil for the partner's own folder.
        public var rule: String?
    }

    public struct Quota: Codable, Sendable, Equatable {
        public var bytes: Int64?
        public var files: Int?
        public var uploads: Int?
    }

    public var name: String
    /// Where the daemon reaches it (queued transfers), if configured.
    public var url: String?
    /// How a client certificate is recognised as this partner: `subject ...`, `san ...`, `ca FILE`.
    public var bindings: [String]
    public var areas: [Area]
    public var quota: Quota
    /// The text mode applied to its files, if any.
    public var text: String?
    /// When its last transfer ended (the ledger's newest row for it).
    public var lastSeen: Date?

    /// The configured partners with their areas (own folder first, then the access rules that name them or `*`).
    public static func all(_ configuration: FerryConfiguration) -> [AdminPartner] {
        configuration.partners.values.sorted { $0.name < $1.name }.map { partner in
            var bindings: [String] = []
            if let subject = partner.subject { bindings.append("subject \(subject)") }
            if let san = partner.alternativeName { bindings.append("san \(san)") }
            bindings += partner.certificateAuthorities.map { "ca \($0)" }
            if partner.hasBinding, partner.subject == nil, partner.alternativeName == nil {
                bindings.append("CN \(partner.name)")
            }
            var areas = [Area(area: partner.name, mount: "", rights: ["read", "write", "delete"], rule: nil)]
            for rule in configuration.accessRules.sorted(by: { $0.name < $1.name })
            where rule.partners.contains("*")
                || rule.partners.contains(where: { $0.lowercased() == partner.name.lowercased() })
            {
                areas.append(
                    Area(
                        area: rule.area,
                        mount: rule.mount,
                        rights: rule.rights.map(\.rawValue).sorted(),
                        rule: rule.name
                    )
                )
            }
            let quota = configuration.quota(for: partner.name)
            return AdminPartner(
                name: partner.name,
                url: partner.url,
                bindings: bindings,
                areas: areas,
                quota: Quota(bytes: quota.bytes, files: quota.files, uploads: quota.uploads),
                text: partner.text.map { "\($0.conversion) for \($0.match.joined(separator: ", "))" },
                lastSeen: nil
            )
        }
    }
}

/// `/v1/certificates`: a certificate the server uses or trusts, with the days it has left.
public struct AdminCertificate: Codable, Sendable, Equatable {
    /// `server` (its own, leaf first then its chain), `ca` (trusted for client certificates), `partner-ca`
    /// (a partner binding's CA file).
    public var role: String
    public var subject: String
    public var issuer: String
    /// Lowercase hexadecimal.
    public var serial: String
    public var notBefore: Date
    public var notAfter: Date
    /// Whole days until it expires (negative: expired).
    public var daysLeft: Int
    /// For a partner CA: the partners it binds.
    public var partners: [String]

    public init(role: String, certificate: Certificate, partners: [String] = [], now: Date = .now) {
        self.role = role
        subject = certificate.subject.description
        issuer = certificate.issuer.description
        serial = lowercaseHex(certificate.serialNumber.bytes)
        notBefore = certificate.notValidBefore
        notAfter = certificate.notValidAfter
        daysLeft = Int((certificate.notValidAfter.timeIntervalSince(now) / 86_400).rounded(.down))
        self.partners = partners
    }

    /// Expired, or within the warning period (`server.tls.expiry-warning`).
    public func isDue(within seconds: Double, now: Date = .now) -> Bool {
        notAfter.timeIntervalSince(now) < seconds
    }
}

/// What the server still holds of a failed handshake (the ledger keeps only its finding ids).
public struct AdminHandshakeRecord: Sendable {
    public var trace: String
    public var findings: [Finding]

    public init(trace: String, findings: [Finding]) {
        self.trace = trace
        self.findings = findings
    }
}
