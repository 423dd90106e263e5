import FerryTLS
import FerryText
import Yams

/// The keys Ferry knows, used to reject misspelt keys with a suggestion instead of silently ignoring them.
enum ConfigSchema {
    indirect enum Node: Sendable {
        case leaf
        case map([String: Node])
        /// A mapping whose keys are names chosen by the user (partners, access rules).
        case named(Node)
    }

    /// The TLS keys of a side (`server.tls`, `client.tls`, `partners.NAME.tls`).
    static func tlsKeys(server: Bool) -> [String: Node] {
        var keys: [String: Node] = [:]
        for key in [
            "certificate", "key", "key-passphrase", "key-passphrase-env", "key-passphrase-file", "ca", "ca-dir",
            "min-version", "max-version", "ciphers", "cipher-suites", "verify-depth", "xcom-config", "crl",
        ] {
            keys[key] = .leaf
        }
        for key in server ? ["client-auth", "send-ca-names", "expiry-warning"] : ["verify"] {
            keys[key] = .leaf
        }
        return keys
    }

    static let quotaKeys: [String: Node] = ["bytes": .leaf, "files": .leaf, "uploads": .leaf]
    /// A text mode (`partners.NAME.text`, `watch.NAME.text`): the code page, the text encoding and the settings.
    static let textKeys: [String: Node] = Dictionary(
        uniqueKeysWithValues: (["codepage", "encoding"] + TextConversion.settingNames).map { ($0, Node.leaf) }
    )

    /// A partner's queue keys (`queue.*` has them too, as every partner's defaults).
    static let partnerQueueKeys: [String: Node] = [
        "sessions": .leaf, "retries": .leaf, "retry-wait": .leaf, "retry-max-wait": .leaf, "deadline": .leaf,
        "retry-config-errors": .leaf,
    ]

    static let root: Node = .map([
        "listen": .leaf,
        "root": .leaf,
        "server": .map([
            "ledger": .leaf,
            "ledger-retain": .leaf,
            "shutdown-grace": .leaf,
            "cn-ca": .leaf,
            "tls": .map(tlsKeys(server: true)),
            "trace": .map([
                "handshakes": .leaf, "level": .leaf, "pcapng-dir": .leaf, "pcapng-max-files": .leaf,
                "pcapng-max-bytes": .leaf, "tap": .leaf,
            ]),
            "limits": .map([
                "handshake-timeout": .leaf, "stall-timeout": .leaf, "stall-bytes": .leaf, "idle-timeout": .leaf,
                "max-connections": .leaf,
                "max-connections-per-address": .leaf,
            ]),
        ]),
        "client": .map(["ledger": .leaf, "tls": .map(tlsKeys(server: false))]),
        "database": .map(["url": .leaf, "password-file": .leaf, "max-connections": .leaf, "node": .leaf]),
        "storage": .map([
            "s3": .map([
                "endpoint": .leaf, "bucket": .leaf, "prefix": .leaf, "region": .leaf, "path-style": .leaf,
                "connections": .leaf,
                "credentials-file": .leaf, "credentials-profile": .leaf,
            ])
        ]),
        "uploads": .map([
            "lease": .leaf, "expire-after": .leaf, "sweep-interval": .leaf, "max-size": .leaf, "file-mode": .leaf,
        ]),
        "partners": .named(
            .map([
                "url": .leaf, "tls": .map(tlsKeys(server: false)), "subject": .leaf, "san": .leaf, "ca": .leaf,
                "quota": .map(quotaKeys), "queue": .map(partnerQueueKeys),
                "text": .map(textKeys.merging(["match": .leaf]) { first, _ in first }),
            ])
        ),
        "quotas": .map(quotaKeys),
        "admin": .map([
            "listen": .leaf, "token-file": .leaf,
            "tls": .map(["certificate": .leaf, "key": .leaf, "client-ca": .leaf]),
        ]),
        "queue": .map(
            partnerQueueKeys.merging([
                "database": .leaf, "control-socket": .leaf, "max-active": .leaf, "keep": .leaf, "lease": .leaf,
            ]) { first, _ in first }
        ),
        "access": .named(.map(["partners": .leaf, "area": .leaf, "mount": .leaf, "rights": .leaf])),
        "watch": .named(
            .map([
                "folder": .leaf, "glob": .leaf, "partner": .leaf, "remote": .leaf, "complete": .leaf,
                "stable-for": .leaf, "marker": .leaf, "after": .leaf, "priority": .leaf, "text": .map(textKeys),
            ])
        ),
        "actions": .named(
            .map([
                "on": .leaf, "partner": .leaf, "direction": .leaf, "path": .leaf, "run": .leaf, "timeout": .leaf,
                "webhook": .leaf, "secret-file": .leaf, "move-to": .leaf, "copy-to": .leaf, "forward": .leaf,
                "retries": .leaf,
            ])
        ),
    ])

    /// Checks every key of the document; returns the names under each `.named` section.
    static func validate(_ document: Yams.Node, file: String) throws(ConfigError) -> [String: [String]] {
        var names: [String: [String]] = [:]
        try walk(document, schema: root, path: [], file: file, names: &names)
        return names
    }

    private static func walk(
        _ node: Yams.Node,
        schema: Node,
        path: [String],
        file: String,
        names: inout [String: [String]]
    ) throws(ConfigError) {
        switch schema {
        case .leaf:
            return
        case .map(let children):
            guard let mapping = node.mapping else {
                throw ConfigError("\(file): '\(path.joined(separator: "."))' must be a mapping of keys")
            }
            for (key, value) in mapping {
                guard let name = key.string else {
                    throw ConfigError("\(file): a key under '\(path.joined(separator: "."))' is not a string")
                }
                guard let child = children[name] else {
                    let full = (path + [name]).joined(separator: ".")
                    let suggestion = children.keys.min {
                        EditDistance.between($0, name) < EditDistance.between($1, name)
                    }
                    let hint =
                        suggestion.flatMap {
                            EditDistance.between($0, name) <= 3
                                ? " Did you mean '\((path + [$0]).joined(separator: "."))'?" : nil
                        } ?? ""
                    throw ConfigError(
                        "\(file): unknown key '\(full)'.\(hint) Known keys here: \(children.keys.sorted().joined(separator: ", ")). See docs/configuration.md."
                    )
                }
                try walk(value, schema: child, path: path + [name], file: file, names: &names)
            }
        case .named(let child):
            guard let mapping = node.mapping else {
                throw ConfigError("\(file): '\(path.joined(separator: "."))' must map names to settings")
            }
            var found: [String] = []
            for (key, value) in mapping {
                guard let name = key.string, !name.isEmpty, !name.contains(".") else {
                    throw ConfigError(
                        "\(file): names under '\(path.joined(separator: "."))' must be non-empty strings without '.'"
                    )
                }
                found.append(name)
                try walk(value, schema: child, path: path + [name], file: file, names: &names)
            }
            names[path.joined(separator: "."), default: []] += found
        }
    }
}
