public import FerryConfig
import FerryProtocol
public import FerryTLS
import FerryText
import Foundation
public import Logging
import NIOConcurrencyHelpers

/// Who a client is and what it may touch: the partner name from its certificate, its own area
/// `<root>/<partner>/`, and the extra areas that access rules grant it.
public struct AccessPolicy: Sendable {
    let root: String
    let rules: [FerryConfiguration.AccessRule]
    private let bindings: NIOLockedValueBox<(generation: Int, bindings: PartnerBindings)>
    /// The verified chains of this server's connections (shared with the TLS channel, which fills in resumed ones).
    let chains: VerifiedChains
    private let configuration: FerryConfiguration
    private let tls: ServerTLSContext
    private let logger: Logger

    /// Checks the rules and loads the partner bindings against the TLS context's trusted CAs; a rule or binding
    /// that could let one partner reach another's files is an error naming both.
    init(
        root: String,
        configuration: FerryConfiguration,
        tls: ServerTLSContext,
        chains: VerifiedChains,
        logger: Logger
    ) throws {
        self.root = root
        self.rules = configuration.accessRules
        self.configuration = configuration
        self.tls = tls
        self.chains = chains
        self.logger = logger
        try Self.checkRules(configuration.accessRules, root: root)
        let generation = tls.generation
        let loaded = try PartnerBindings.load(
            configuration: configuration,
            trusted: tls.current.trustedCertificates.map(\.certificate)
        )
        for warning in loaded.warnings {
            logger.warning("partner binding can be forged", metadata: ["problem": "\(warning)"])
        }
        self.bindings = NIOLockedValueBox((generation, loaded))
    }

    /// The bindings for the TLS context in use: reloaded with it (the trusted CAs or a partner's CA file changed);
    /// bindings that no longer load leave the previous ones in place, with an error in the log.
    private var currentBindings: PartnerBindings {
        let generation = tls.generation
        let (known, current) = bindings.withLockedValue { ($0.generation, $0.bindings) }
        guard known != generation else { return current }
        do {
            let reloaded = try PartnerBindings.load(
                configuration: configuration,
                trusted: tls.current.trustedCertificates.map(\.certificate)
            )
            bindings.withLockedValue { $0 = (generation, reloaded) }
            return reloaded
        } catch {
            logger.error(
                "partner bindings not reloaded; the previous ones stay in use",
                metadata: ["error": "\(error)"]
            )
            bindings.withLockedValue { $0.generation = generation }
            return current
        }
    }

    /// Names the partner a verified client certificate belongs to (see ``PartnerBindings``), or says why none.
    ///
    /// - Parameter chain: the chain the server verified for this connection, anchor first.
    /// - Parameter log: whether a refusal is logged (a look-ahead, such as the answer to `Expect: 100-continue`,
    ///   leaves that to the request itself).
    func partnerName(
        for identity: PeerIdentity,
        chain: [[UInt8]],
        log: Bool = true
    ) -> Result<String, PartnerBindings.Refusal> {
        let authorities = chains.authorities(of: chain, generation: tls.generation)
        let result = currentBindings.partner(for: identity, chain: authorities)
        if log, case .failure(let refusal) = result {
            logger.warning(
                "client certificate names no partner",
                metadata: [
                    "subject": "\(identity.subject)", "issuer": "\(identity.issuer)", "serial": "\(identity.serial)",
                    "reason": "\(refusal.reason)",
                ]
            )
        }
        return result
    }

    /// Refuses rules that leave the root (`..`, absolute paths, a symbolic link out of it), reach `.ferry`, or
    /// share a mount for one partner. The loader checks the same text; this also covers configurations built in
    /// code.
    static func checkRules(_ rules: [FerryConfiguration.AccessRule], root: String) throws {
        try ConfigLoader.checkMountsDistinct(rules)
        for rule in rules {
            try ConfigLoader.checkArea(rule.area, trimmed: rule.area, key: "access.\(rule.name).area")
            try ConfigLoader.checkMount(rule.mount, key: "access.\(rule.name).mount")
            let area = rule.area == "." ? root : root + "/" + rule.area
            if let rootReal = LocalFileStorage.realPath(root), let existing = existingPrefix(of: area, above: root),
                let real = LocalFileStorage.realPath(existing),
                real != rootReal, !real.hasPrefix(rootReal + "/")
            {
                throw ConfigError(
                    "access.\(rule.name).area: '\(rule.area)' leads through a symbolic link to \(real), outside the root \(rootReal); move the folder under the root or point the rule at a folder inside it"
                )
            }
        }
    }

    /// The longest part of `path` that exists, not above `root`.
    private static func existingPrefix(of path: String, above root: String) -> String? {
        var probe = path
        while !LocalFileStorage.lexists(probe) {
            guard probe.count > root.count else { return nil }
            probe = (probe as NSString).deletingLastPathComponent
        }
        return probe
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
        /// The names from the area's folder down to the target (empty for the area itself): the store opens them
        /// one by one and never follows a symbolic link.
        let inArea: [String]
    }

    /// Resolves a path in the partner's view: a first segment equal to a granted mount goes to that area,
    /// everything else to the partner's own area.
    func resolve(_ path: PartnerPath, partner: String) -> Target {
        if let first = path.segments.first {
            // At most one rule mounts a name for a partner (checked at startup); its area and its rights apply.
            if let rule = rules.first(where: {
                $0.mount.lowercased() == first.lowercased() && Self.grants($0, to: partner)
            }) {
                let rights = rule.rights
                let inArea = path.dropping(first: 1)
                let rest = inArea.relative
                let area = rule.area == "." ? root : root + "/" + rule.area
                let relative = [rule.area == "." ? "" : rule.area, rest].filter { !$0.isEmpty }.joined(separator: "/")
                return Target(
                    areaDirectory: area,
                    absolutePath: rest.isEmpty ? area : area + "/" + rest,
                    rootRelative: relative,
                    rights: rights,
                    inArea: inArea.segments
                )
            }
        }
        let area = root + "/" + partner
        let relative = path.relative
        return Target(
            areaDirectory: area,
            absolutePath: relative.isEmpty ? area : area + "/" + relative,
            rootRelative: relative.isEmpty ? partner : partner + "/" + relative,
            rights: [.read, .write, .delete],
            inArea: path.segments
        )
    }

    /// The text mode of a partner's file (`partners.NAME.text`, when its `match` takes the file's name), in the
    /// to-text direction: what the partner sends is converted by it, what it fetches by its reverse.
    func textMode(for partner: String, at target: Target) -> TextConversion? {
        guard
            let profile = configuration.partners.first(where: { $0.key.lowercased() == partner.lowercased() })?
                .value.text,
            let name = target.inArea.last, profile.applies(toFileNamed: name)
        else { return nil }
        return profile.conversion
    }

    /// The mounts a partner sees at the top of its view.
    func mounts(for partner: String) -> [String] {
        Array(Set(rules.filter { Self.grants($0, to: partner) }.map(\.mount))).sorted()
    }

    static func grants(_ rule: FerryConfiguration.AccessRule, to partner: String) -> Bool {
        rule.partners.contains("*") || rule.partners.contains { $0.lowercased() == partner.lowercased() }
    }
}
