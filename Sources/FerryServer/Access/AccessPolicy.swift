public import FerryConfig
import FerryProtocol
import FerryTLS
import Foundation

/// Who a client is and what it may touch: the partner name from its certificate, its own area
/// `<root>/<partner>/`, and the extra areas that access rules grant it.
public struct AccessPolicy: Sendable {
    let root: String
    let partners: [FerryConfiguration.Partner]
    let rules: [FerryConfiguration.AccessRule]

    public init(root: String, configuration: FerryConfiguration) {
        self.root = root
        self.partners = configuration.partners.values.sorted { $0.name < $1.name }
        self.rules = configuration.accessRules
    }

    /// Names the partner a client certificate belongs to: a configured subject or SAN match first, else the
    /// subject CN. Returns `nil` when no usable name results (no CN, or one that cannot be a folder name).
    func partnerName(for identity: PeerIdentity) -> String? {
        for partner in partners {
            if let subject = partner.subject, subject == identity.subject { return partner.name }
            if let san = partner.alternativeName, identity.alternativeNames.contains(san) { return partner.name }
        }
        guard let cn = identity.commonName, DevPKI.isValidName(cn) else { return nil }
        return cn
    }

    /// Where a partner's path lands and what the partner may do there.
    struct Target: Sendable {
        /// The area's folder (absolute); nothing outside it may be touched.
        let areaDirectory: String
        /// The absolute file-system path.
        let absolutePath: String
        /// The path relative to the root, for the ledger and the digest index.
        let rootRelative: String
        let rights: Set<FerryConfiguration.Right>
    }

    /// Resolves a path in the partner's view: a first segment equal to a granted mount goes to that area,
    /// everything else to the partner's own area.
    func resolve(_ path: PartnerPath, partner: String) -> Target {
        if let first = path.segments.first {
            let granted = rules.filter { $0.mount == first && ($0.partners.contains(partner) || $0.partners.contains("*")) }
            if let rule = granted.first {
                let rights = granted.reduce(into: Set<FerryConfiguration.Right>()) { $0.formUnion($1.rights) }
                let rest = path.dropping(first: 1).relative
                let area = rule.area == "." ? root : root + "/" + rule.area
                let relative = [rule.area == "." ? "" : rule.area, rest].filter { !$0.isEmpty }.joined(separator: "/")
                return Target(areaDirectory: area, absolutePath: rest.isEmpty ? area : area + "/" + rest, rootRelative: relative, rights: rights)
            }
        }
        let area = root + "/" + partner
        let relative = path.relative
        return Target(
            areaDirectory: area,
            absolutePath: relative.isEmpty ? area : area + "/" + relative,
            rootRelative: relative.isEmpty ? partner : partner + "/" + relative,
            rights: [.read, .write, .delete]
        )
    }

    /// The mounts a partner sees at the top of its view.
    func mounts(for partner: String) -> [String] {
        Array(Set(rules.filter { $0.partners.contains(partner) || $0.partners.contains("*") }.map(\.mount))).sorted()
    }
}
