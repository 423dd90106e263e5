import FerryProtocol
import FerryText
import Foundation

/// The rule sections of the configuration: a text mode (partners, watched folders), watched folders and actions.
extension ConfigLoader {
    /// A text mode under `prefix` (`codepage`, `encoding` and the settings), `nil` when none is configured.
    static func textMode(_ prefix: String, string: (String) -> String?) throws -> TextConversion? {
        var settings: [String: String] = [:]
        for key in ["codepage", "encoding"] + TextConversion.settingNames { settings[key] = string(prefix + key) }
        if settings.isEmpty { return nil }
        guard settings["codepage"] != nil else {
            throw ConfigError("\(prefix)codepage is required for a text mode (e.g. IBM-1047)")
        }
        do {
            return try TextConversion.textMode(settings: settings)
        } catch {
            throw ConfigError("\(prefix)\(error.description)")
        }
    }

    static func watchRules(
        _ names: [String],
        string: (String) -> String?,
        path: (String) -> String?,
        count: (String) throws -> Int?
    ) throws -> [FerryConfiguration.WatchRule] {
        var rules: [FerryConfiguration.WatchRule] = []
        for name in names {
            guard isPartnerName(name) else {
                throw ConfigError(
                    "watch.\(TerminalText.escaped(name)): '\(TerminalText.escaped(name))' cannot be a rule's name: use letters, digits, '-' or '_'"
                )
            }
            let prefix = "watch.\(name)."
            guard let folder = path(prefix + "folder") else {
                throw ConfigError("watch.\(name): 'folder' is required (the local folder to watch)")
            }
            guard let partner = string(prefix + "partner"), !partner.isEmpty else {
                throw ConfigError("watch.\(name): 'partner' is required (the partner the files go to)")
            }
            var rule = FerryConfiguration.WatchRule(
                name: name,
                folder: folder,
                partner: partner,
                remote: string(prefix + "remote") ?? ""
            )
            if let glob = string(prefix + "glob") {
                guard !glob.isEmpty, !glob.contains("/") else {
                    throw ConfigError(
                        "watch.\(name).glob: '\(glob)' must be a file name pattern such as *.csv (no '/')"
                    )
                }
                rule.glob = glob
            }
            if let value = string(prefix + "complete") {
                guard let completion = FerryConfiguration.WatchRule.Completion(rawValue: value.lowercased()) else {
                    throw ConfigError("watch.\(name).complete: '\(value)' is not one of stable, marker, rename")
                }
                rule.completion = completion
            }
            if let value = string(prefix + "stable-for") {
                rule.stableFor = try duration(value, key: prefix + "stable-for")
            }
            if let value = string(prefix + "marker") {
                guard !value.isEmpty, !value.contains("/") else {
                    throw ConfigError("watch.\(name).marker: '\(value)' must be a file name suffix such as .done")
                }
                rule.marker = value
            }
            if let value = string(prefix + "after") {
                guard let after = FerryConfiguration.WatchRule.After(rawValue: value.lowercased()) else {
                    throw ConfigError("watch.\(name).after: '\(value)' is not one of move, delete, leave")
                }
                rule.after = after
            }
            if let value = string(prefix + "priority") {
                guard let priority = Int(value), (-1000...1000).contains(priority) else {
                    throw ConfigError("watch.\(name).priority: '\(value)' is not a number from -1000 to 1000")
                }
                rule.priority = priority
            }
            rule.text = try textMode(prefix + "text.", string: string)
            if let other = rules.first(where: { $0.folder == rule.folder }) {
                throw ConfigError(
                    "watch.\(name) and watch.\(other.name) watch the same folder \(rule.folder): one folder, one rule (a file would be sent twice)"
                )
            }
            rules.append(rule)
        }
        return rules
    }

    static func actionRules(
        _ names: [String],
        string: (String) -> String?,
        list: (String) -> [String]?,
        path: (String) -> String?,
        count: (String) throws -> Int?,
        partners: [String: FerryConfiguration.Partner]
    ) throws -> [FerryConfiguration.ActionRule] {
        var rules: [FerryConfiguration.ActionRule] = []
        for name in names {
            guard isPartnerName(name) else {
                throw ConfigError(
                    "actions.\(TerminalText.escaped(name)): '\(TerminalText.escaped(name))' cannot be an action's name: use letters, digits, '-' or '_'"
                )
            }
            let prefix = "actions.\(name)."
            let events = list(prefix + "on") ?? []
            guard !events.isEmpty else {
                throw ConfigError(
                    "actions.\(name): 'on' is required: the events, from \(FerryConfiguration.ActionRule.eventTypes.joined(separator: ", "))"
                )
            }
            for event in events where !FerryConfiguration.ActionRule.eventTypes.contains(event) {
                throw ConfigError(
                    "actions.\(name).on: '\(TerminalText.escaped(event))' is not an event: use \(FerryConfiguration.ActionRule.eventTypes.joined(separator: ", "))"
                )
            }
            var kinds: [FerryConfiguration.ActionRule.Kind] = []
            if let argv = list(prefix + "run") {
                guard let program = argv.first, program.hasPrefix("/") else {
                    throw ConfigError(
                        "actions.\(name).run: give the command as a list whose first item is an absolute path, e.g. [/usr/local/bin/load, --fast] (no shell runs it)"
                    )
                }
                _ = program
                kinds.append(.run(argv))
            }
            if let url = string(prefix + "webhook") {
                guard url.hasPrefix("https://") || url.hasPrefix("http://") else {
                    throw ConfigError("actions.\(name).webhook: '\(url)' must be an http:// or https:// URL")
                }
                guard let secret = path(prefix + "secret-file") else {
                    throw ConfigError(
                        "actions.\(name): a webhook needs 'secret-file', the file whose first line is the HMAC-SHA256 key the receiver checks"
                    )
                }
                kinds.append(.webhook(url: url, secretFile: secret))
            }
            if let folder = string(prefix + "move-to") { kinds.append(.move(to: folder)) }
            if let folder = string(prefix + "copy-to") { kinds.append(.copy(to: folder)) }
            if let target = string(prefix + "forward") {
                guard let colon = target.firstIndex(of: ":"), partners[String(target[..<colon])]?.url != nil else {
                    throw ConfigError(
                        "actions.\(name).forward: '\(target)' must be PARTNER:PATH with a configured partner that has a url"
                    )
                }
                kinds.append(
                    .forward(partner: String(target[..<colon]), path: String(target[target.index(after: colon)...]))
                )
            }
            guard kinds.count == 1, let kind = kinds.first else {
                throw ConfigError(
                    "actions.\(name): give exactly one of run, webhook, move-to, copy-to, forward (it has \(kinds.count))"
                )
            }
            var rule = FerryConfiguration.ActionRule(name: name, events: events, kind: kind)
            rule.partners = list(prefix + "partner") ?? []
            if let direction = string(prefix + "direction") {
                guard ["send", "get", "inbound"].contains(direction) else {
                    throw ConfigError("actions.\(name).direction: '\(direction)' is not one of send, get, inbound")
                }
                rule.direction = direction
            }
            rule.path = string(prefix + "path")
            if let value = string(prefix + "timeout") { rule.timeout = try duration(value, key: prefix + "timeout") }
            if let value = try count(prefix + "retries") { rule.retries = value }
            rules.append(rule)
        }
        return rules
    }
}
