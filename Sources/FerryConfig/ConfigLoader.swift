import Configuration
import FerryProtocol
import FerryTLS
import FerryText
public import Foundation
import NIOSSL
import SystemPackage
import Yams

/// Reads Ferry's configuration: flags override `FERRY_*` environment variables, which override the YAML file,
/// which overrides the defaults.
///
/// Unknown keys in the file are errors with a suggestion. Relative paths in the file are relative to the file's
/// folder; relative paths from flags and the environment are relative to the working directory.
public enum ConfigLoader {
    /// Loads the configuration.
    ///
    /// - Parameters:
    ///   - file: the YAML file, or `nil` for none (then `FERRY_CONFIG` names it, if set).
    ///   - overrides: values from command-line flags, by dotted key (`listen`, `server.tls.certificate`, ...).
    ///   - environment: the process environment (tests pass their own).
    public static func load(
        file: String?,
        overrides: [String: String] = [:],
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) async throws -> FerryConfiguration {
        let file = file ?? environment["FERRY_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }
        var names: [String: [String]] = [:]
        var providers: [any ConfigProvider] = []
        var values: [AbsoluteConfigKey: ConfigValue] = [:]
        for (key, value) in overrides {
            values[AbsoluteConfigKey(key.split(separator: ".").map(String.init))] = ConfigValue(
                .string(value),
                isSecret: false
            )
        }
        providers.append(InMemoryProvider(name: "flags", values: values))
        let ferryEnvironment = environment.filter { $0.key.hasPrefix("FERRY_") }
        providers.append(EnvironmentVariablesProvider(environmentVariables: ferryEnvironment).prefixKeys(with: "ferry"))
        var baseDirectory = FileManager.default.currentDirectoryPath
        if let file {
            let text: String
            do {
                text = try String(contentsOfFile: file, encoding: .utf8)
            } catch {
                throw ConfigError(
                    "cannot read the configuration file \(file): \(FileManager.default.fileExists(atPath: file) ? "not readable" : "no such file"). Pass an existing file with --config, or start without one to use the dev PKI."
                )
            }
            let document: Yams.Node?
            do {
                document = try Yams.compose(yaml: text)
            } catch {
                throw ConfigError("\(file) is not valid YAML: \(error)")
            }
            if let document {
                names = try ConfigSchema.validate(document, file: file)
                do {
                    providers.append(try await FileProvider<YAMLSnapshot>(filePath: FilePath(file)))
                } catch {
                    throw ConfigError("\(file): \(error)")
                }
            }
            baseDirectory = URL(fileURLWithPath: file).deletingLastPathComponent().path
        }
        let reader = ConfigReader(providers: providers)
        return try build(
            reader: reader,
            names: names,
            file: file,
            overrides: overrides,
            environment: ferryEnvironment,
            baseDirectory: baseDirectory
        )
    }

    private static func build(
        reader: ConfigReader,
        names: [String: [String]],
        file: String?,
        overrides: [String: String],
        environment: [String: String],
        baseDirectory: String
    ) throws -> FerryConfiguration {
        var configuration = FerryConfiguration()
        configuration.source = file
        // A value given by a flag or variable is relative to the working directory, one from the file to the file.
        func path(_ key: String) -> String? {
            guard let value = reader.string(forKey: ConfigKey(key)), !value.isEmpty else { return nil }
            let fromOutside = overrides[key] != nil || environment[environmentName(key)] != nil
            return resolve(value, against: fromOutside ? FileManager.default.currentDirectoryPath : baseDirectory)
        }
        func paths(_ key: String) -> [String]? {
            if overrides[key] == nil, environment[environmentName(key)] == nil,
                let list = reader.stringArray(forKey: ConfigKey(key))
            {
                return list.map { resolve($0, against: baseDirectory) }
            }
            return path(key).map { [$0] }
        }
        func string(_ key: String) -> String? { reader.string(forKey: ConfigKey(key)) }
        /// A YAML list, or one string split at ':', ',' or spaces.
        func list(_ key: String) -> [String]? {
            if let list = reader.stringArray(forKey: ConfigKey(key)) { return list }
            return string(key).map {
                $0.split(whereSeparator: { $0 == ":" || $0 == "," || $0 == " " }).map(String.init)
            }
        }
        /// Whether any of a profile's keys is set under a prefix (`expiry-warning` alone makes no profile).
        func hasTLS(_ prefix: String, server: Bool) -> Bool {
            ConfigSchema.tlsKeys(server: server).keys.contains {
                $0 != "expiry-warning"
                    && (string(prefix + $0) != nil || reader.stringArray(forKey: ConfigKey(prefix + $0)) != nil)
            }
        }
        /// Applies the TLS keys both sides share, as present under `prefix`, on top of `core`.
        func applyTLS(prefix: String, to core: inout TLSProfileCore) throws {
            if let value = path(prefix + "certificate") { core.certificate = value }
            if let value = path(prefix + "key") { core.privateKey = value }
            if let value = string(prefix + "key-passphrase") { core.passphrase = .literal(value) }
            if let value = string(prefix + "key-passphrase-env") { core.passphrase = .environment(value) }
            if let value = path(prefix + "key-passphrase-file") { core.passphrase = .file(value) }
            if let value = paths(prefix + "ca") { core.trustedCAs = value }
            if let value = path(prefix + "ca-dir") { core.caDirectory = value }
            if let value = paths(prefix + "crl") { core.crlFiles = value }
            if let value = string(prefix + "min-version") {
                core.minimumVersion = try TLSVersionSetting.parse(value, setting: prefix + "min-version")
            }
            if let value = string(prefix + "max-version") {
                core.maximumVersion = try TLSVersionSetting.parse(value, setting: prefix + "max-version")
            }
            if let value = string(prefix + "ciphers") { core.ciphers = value }
            if let value = list(prefix + "cipher-suites") { core.tls13Suites = value }
            if let value = string(prefix + "verify-depth") {
                guard let depth = Int(value), depth >= 0 else {
                    throw ConfigError(
                        "\(prefix)verify-depth: '\(value)' is not a number of intermediate CA certificates (e.g. 4)"
                    )
                }
                core.verifyDepth = depth
            }
        }

        if let listen = string("listen") { configuration.listen = listen }
        if let root = path("root") { configuration.root = root }
        configuration.serverLedger = path("server.ledger")
        if let value = string("server.shutdown-grace") {
            configuration.shutdownGrace = try duration(value, key: "server.shutdown-grace")
        }
        if let value = string("server.ledger-retain") {
            configuration.ledgerRetention = try duration(value, key: "server.ledger-retain")
        }
        if let value = string("uploads.lease") {
            configuration.uploadLease = try duration(value, key: "uploads.lease")
            guard configuration.uploadLease >= 3 else {
                throw ConfigError("uploads.lease: '\(value)' is too short; give at least 3s (30s by default)")
            }
        }
        if let value = string("uploads.expire-after") {
            configuration.uploadExpireAfter = try duration(value, key: "uploads.expire-after")
        }
        if let value = string("uploads.sweep-interval") {
            configuration.uploadSweepInterval = try duration(value, key: "uploads.sweep-interval")
        }
        if let value = string("uploads.max-size") {
            configuration.uploadMaximumSize = try size(value, key: "uploads.max-size")
        }
        /// A quota's keys under `prefix` (absent ones stay nil); "none" lifts a limit.
        func quota(_ prefix: String) throws -> FerryConfiguration.Quota? {
            var quota = FerryConfiguration.Quota()
            var found = false
            func limit(_ key: String) -> String? {
                guard let value = string(prefix + key) else { return nil }
                found = true
                return value
            }
            var lifted: Set<String> = []
            if let value = limit("bytes") {
                if value.lowercased() == "none" {
                    lifted.insert("bytes")
                } else {
                    quota.bytes = try size(value, key: prefix + "bytes")
                }
            }
            for key in ["files", "uploads"] {
                guard let value = limit(key) else { continue }
                if value.lowercased() == "none" {
                    lifted.insert(key)
                    continue
                }
                guard let number = Int(value), number > 0 else {
                    throw ConfigError("\(prefix)\(key): '\(value)' is not a positive whole number (or none)")
                }
                if key == "files" { quota.files = number } else { quota.uploads = number }
            }
            if lifted.contains("bytes") { quota.bytes = .max }
            if lifted.contains("files") { quota.files = .max }
            if lifted.contains("uploads") { quota.uploads = .max }
            return found ? quota : nil
        }
        if let defaults = try quota("quotas.") { configuration.quota = configuration.quota.overridden(by: defaults) }
        if let value = string("uploads.file-mode") {
            guard let mode = UInt16(value, radix: 8), mode <= 0o777, mode & 0o600 == 0o600 else {
                throw ConfigError(
                    "uploads.file-mode: '\(value)' is not an octal mode the server can read and write (e.g. 0640, 0600, 0644)"
                )
            }
            configuration.uploadFileMode = mode
        }
        configuration.clientLedger = path("client.ledger")
        if let value = string("server.cn-ca"), value.lowercased() == "none" {
            configuration.commonNameCAs = []
        } else {
            configuration.commonNameCAs = paths("server.cn-ca")
        }
        if let value = string("server.trace.handshakes") {
            guard let mode = FerryConfiguration.ServerTrace.Handshakes(rawValue: value.lowercased()) else {
                throw ConfigError("server.trace.handshakes: '\(value)' is not one of none, failed, all")
            }
            configuration.serverTrace.handshakes = mode
        }
        if let value = string("server.trace.level") {
            guard FerryConfiguration.ServerTrace.levels.contains(value.lowercased()) else {
                throw ConfigError(
                    "server.trace.level: '\(value)' is not one of \(FerryConfiguration.ServerTrace.levels.joined(separator: ", "))"
                )
            }
            configuration.serverTrace.level = value.lowercased()
        }
        configuration.serverTrace.pcapngDirectory = path("server.trace.pcapng-dir")
        if let value = string("server.limits.handshake-timeout") {
            configuration.limits.handshakeTimeout = try duration(value, key: "server.limits.handshake-timeout")
        }
        if let value = string("server.limits.stall-timeout") {
            configuration.limits.stallTimeout = try duration(value, key: "server.limits.stall-timeout")
        }
        if let value = string("server.limits.idle-timeout") {
            configuration.limits.idleTimeout = try duration(value, key: "server.limits.idle-timeout")
        }
        func count(_ key: String) throws -> Int? {
            guard let value = string(key) else { return nil }
            guard let number = Int(value), number > 0 else {
                throw ConfigError("\(key): '\(value)' is not a positive whole number")
            }
            return number
        }
        if let value = try count("server.limits.stall-bytes") { configuration.limits.minimumBytes = value }
        if let url = string("database.url"), !url.isEmpty {
            var database = FerryConfiguration.Database(url: url)
            database.passwordFile = path("database.password-file")
            if let value = try count("database.max-connections") { database.maximumConnections = value }
            database.node = string("database.node")
            configuration.database = database
        } else if ["database.password-file", "database.max-connections", "database.node"].contains(where: {
            string($0) != nil
        }) {
            throw ConfigError(
                "database.url is required for the other database keys (e.g. postgres://ferry@db:5432/ferry)"
            )
        }
        if let listen = string("admin.listen"), !listen.isEmpty {
            configuration.admin = try adminListener(
                listen: listen,
                tokenFile: path("admin.token-file"),
                certificate: path("admin.tls.certificate"),
                privateKey: path("admin.tls.key"),
                clientCA: path("admin.tls.client-ca")
            )
        } else if ["admin.token-file", "admin.tls.certificate", "admin.tls.key", "admin.tls.client-ca"].contains(
            where: {
                string($0) != nil
            })
        {
            throw ConfigError("admin.listen is required for the other admin keys (e.g. admin.listen: 127.0.0.1:9443)")
        }
        let storageKeys = ["prefix", "region", "path-style", "credentials-file", "credentials-profile", "connections"]
        if let endpoint = string("storage.s3.endpoint") {
            guard let bucket = string("storage.s3.bucket"), !bucket.isEmpty else {
                throw ConfigError(
                    "storage.s3.bucket is required with storage.s3.endpoint (the bucket Ferry's files go in)"
                )
            }
            var storage = FerryConfiguration.ObjectStorage(endpoint: endpoint, bucket: bucket)
            if let value = string("storage.s3.prefix") {
                guard !value.hasPrefix("/"),
                    !value.split(separator: "/", omittingEmptySubsequences: false)
                        .dropLast(value.hasSuffix("/") ? 1 : 0).contains(where: {
                            $0.isEmpty || $0 == "." || $0 == ".."
                        })
                else {
                    throw ConfigError(
                        "storage.s3.prefix: '\(value)' is not a key prefix such as ferry/ (names separated by '/', no empty, '.' or '..' names, no leading '/')"
                    )
                }
                storage.prefix = value.isEmpty || value.hasSuffix("/") ? value : value + "/"
            }
            if let value = string("storage.s3.region") { storage.region = value }
            if let value = string("storage.s3.path-style") {
                storage.pathStyle = try Self.bool(value, key: "storage.s3.path-style")
            }
            if let value = try count("storage.s3.connections") {
                guard (1...512).contains(value) else {
                    throw ConfigError(
                        "storage.s3.connections: \(value) is out of range; give 1 to 512 requests to the store at once (default 32)"
                    )
                }
                storage.connections = value
            }
            storage.credentialsFile = path("storage.s3.credentials-file")
            if let value = string("storage.s3.credentials-profile") { storage.credentialsProfile = value }
            configuration.objectStorage = storage
        } else if let key = (["bucket"] + storageKeys).first(where: { string("storage.s3." + $0) != nil }) {
            throw ConfigError(
                "storage.s3.endpoint is required for storage.s3.\(key) (e.g. https://s3.eu-central-1.amazonaws.com)"
            )
        }
        if let value = try count("server.trace.pcapng-max-files") {
            configuration.serverTrace.pcapngMaximumFiles = value
        }
        if let value = try count("server.trace.pcapng-max-bytes") {
            configuration.serverTrace.pcapngMaximumBytes = value
        }
        if let value = try count("server.limits.max-connections") { configuration.limits.maximumConnections = value }
        if let value = try count("server.limits.max-connections-per-address") {
            configuration.limits.maximumPerSource = value
        }
        /// The queue keys a partner may set, under `prefix`.
        func partnerQueue(_ prefix: String) throws -> FerryConfiguration.PartnerQueueSettings {
            var settings = FerryConfiguration.PartnerQueueSettings()
            settings.sessions = try count(prefix + "sessions")
            if let value = string(prefix + "retries") {
                if value.lowercased() == "none" {
                    settings.retries = .some(nil)
                } else {
                    guard let number = Int(value), number >= 0 else {
                        throw ConfigError(
                            "\(prefix)retries: '\(value)' is not a number of retries (0 or more, or none for no count limit)"
                        )
                    }
                    settings.retries = .some(number)
                }
            }
            if let value = string(prefix + "retry-wait") {
                settings.retryWait = try duration(value, key: prefix + "retry-wait")
            }
            if let value = string(prefix + "retry-max-wait") {
                settings.retryMaximumWait = try duration(value, key: prefix + "retry-max-wait")
            }
            if let value = string(prefix + "deadline") {
                settings.deadline =
                    value.lowercased() == "none" ? .some(nil) : .some(try duration(value, key: prefix + "deadline"))
            }
            if let value = string(prefix + "retry-config-errors") {
                settings.retryConfigurationErrors = try bool(value, key: prefix + "retry-config-errors")
            }
            return settings
        }
        configuration.queue.database = path("queue.database")
        configuration.queue.controlSocket = path("queue.control-socket")
        if let value = try count("queue.max-active") { configuration.queue.maximumActive = value }
        if let value = string("queue.keep") { configuration.queue.keep = try duration(value, key: "queue.keep") }
        if let value = string("queue.lease") {
            configuration.queue.lease = try duration(value, key: "queue.lease")
            guard configuration.queue.lease >= 3 else {
                throw ConfigError("queue.lease: '\(value)' is too short; give at least 3s (60s by default)")
            }
        }
        configuration.queue.partnerDefaults = configuration.queue.partnerDefaults.overridden(
            by: try partnerQueue("queue.")
        )
        if let value = string("server.trace.tap") {
            configuration.serverTrace.tap = try bool(value, key: "server.trace.tap")
        }

        if let value = string("server.tls.expiry-warning") {
            configuration.expiryWarning = try duration(value, key: "server.tls.expiry-warning")
        }
        // The receive side: an XCOM file as the base, Ferry's own keys on top.
        var server: ServerTLSProfile?
        if let xcom = path("server.tls.xcom-config") {
            let imported = try XCOMSSLConfig.load(xcom)
            server = try imported.receiveProfile()
            configuration.xcomNotes += imported.notes
        }
        if server != nil || hasTLS("server.tls.", server: true) {
            var profile = server ?? ServerTLSProfile(core: TLSProfileCore())
            try applyTLS(prefix: "server.tls.", to: &profile.core)
            if let value = string("server.tls.client-auth") {
                guard let mode = ClientAuthentication(rawValue: value.lowercased()) else {
                    throw ConfigError("server.tls.client-auth: '\(value)' is not one of required, optional, none")
                }
                profile.clientAuthentication = mode
            }
            if let value = string("server.tls.send-ca-names") {
                profile.sendCANames = try bool(value, key: "server.tls.send-ca-names")
            }
            if profile.certificate == nil || profile.privateKey == nil {
                throw ConfigError(
                    "\(file ?? "configuration"): server.tls needs both 'certificate' and 'key' (have \(profile.certificate == nil ? "no certificate" : "no key"))"
                )
            }
            configuration.serverTLS = profile
        }

        // The initiate side, and each partner's overrides of it.
        func clientProfile(prefix: String, base: ClientTLSProfile) throws -> ClientTLSProfile {
            var profile = base
            if let xcom = path(prefix + "xcom-config") {
                let imported = try XCOMSSLConfig.load(xcom)
                let initiate = try imported.initiateProfile()
                profile.core = initiate.core
                profile.verifyServer = initiate.verifyServer
                configuration.xcomNotes += imported.notes
            }
            try applyTLS(prefix: prefix, to: &profile.core)
            if let value = string(prefix + "verify") { profile.verifyServer = try bool(value, key: prefix + "verify") }
            return profile
        }
        configuration.clientTLS = try clientProfile(prefix: "client.tls.", base: configuration.clientTLS)

        for name in names["partners"] ?? [] {
            // The name is checked before any of its keys is read: a key is also looked up as a FERRY_ variable,
            // and the configuration library's variable-name encoder traps on some Unicode (a combining mark),
            // which a configuration file must never be able to cause.
            guard isPartnerName(name) else {
                throw ConfigError(
                    "partners.\(TerminalText.escaped(name)): '\(TerminalText.escaped(name))' cannot be a partner name: use letters, digits, '-' or '_' (it is also the partner's folder under the root)"
                )
            }
            var partner = FerryConfiguration.Partner(name: name)
            let prefix = "partners.\(name)."
            partner.url = string(prefix + "url")
            if hasTLS(prefix + "tls.", server: false) {
                partner.tls = try clientProfile(prefix: prefix + "tls.", base: configuration.clientTLS)
            }
            if let other = configuration.partners.keys.first(where: { $0.lowercased() == name.lowercased() }) {
                throw ConfigError(
                    "partners.\(name) and partners.\(other) differ only in case: partner names are compared case-insensitively (their folders would collide on case-insensitive file systems); rename one"
                )
            }
            partner.subject = string(prefix + "subject")
            partner.alternativeName = string(prefix + "san")
            partner.certificateAuthorities = paths(prefix + "ca") ?? []
            partner.quota = try quota(prefix + "quota.")
            partner.queue = try partnerQueue(prefix + "queue.")
            if let conversion = try Self.textMode(prefix + "text.", string: string) {
                partner.text = FerryConfiguration.TextProfile(conversion: conversion)
                if let match = list(prefix + "text.match") {
                    guard !match.isEmpty, match.allSatisfy({ !$0.isEmpty && !$0.contains("/") }) else {
                        throw ConfigError(
                            "\(prefix)text.match: give file name patterns such as *.txt (no '/'), or leave it out for every file"
                        )
                    }
                    partner.text?.match = match
                }
            } else if string(prefix + "text.match") != nil || list(prefix + "text.match") != nil {
                throw ConfigError("\(prefix)text.codepage is required for a text mode (e.g. IBM-1047)")
            }
            if let url = partner.url, !(url.hasPrefix("https://")) {
                throw ConfigError("partners.\(name).url: '\(url)' must start with https://")
            }
            configuration.partners[name] = partner
        }

        for name in names["access"] ?? [] {
            guard isPartnerName(name) else {
                throw ConfigError(
                    "access.\(TerminalText.escaped(name)): '\(TerminalText.escaped(name))' cannot be an access rule's name: use letters, digits, '-' or '_'"
                )
            }
            let prefix = "access.\(name)."
            guard let area = string(prefix + "area"), !area.isEmpty else {
                throw ConfigError("access.\(name): 'area' is required (a folder under the root, e.g. shared/outbound)")
            }
            let partners =
                reader.stringArray(forKey: ConfigKey(prefix + "partners")) ?? string(prefix + "partners").map { [$0] }
                ?? []
            if partners.isEmpty {
                throw ConfigError("access.\(name): 'partners' is required (partner names, or '*' for all)")
            }
            let rightNames =
                reader.stringArray(forKey: ConfigKey(prefix + "rights")) ?? string(prefix + "rights").map { [$0] } ?? [
                    "read"
                ]
            var rights: Set<FerryConfiguration.Right> = []
            for right in rightNames {
                guard let value = FerryConfiguration.Right(rawValue: right.lowercased()) else {
                    throw ConfigError("access.\(name).rights: '\(right)' is not one of read, write, delete")
                }
                rights.insert(value)
            }
            let trimmedArea = area.split(separator: "/").joined(separator: "/")
            try checkArea(area, trimmed: trimmedArea, key: prefix + "area")
            let mount = string(prefix + "mount") ?? String(trimmedArea.split(separator: "/").last ?? "")
            try checkMount(mount, key: prefix + "mount")
            configuration.accessRules.append(
                FerryConfiguration.AccessRule(
                    name: name,
                    partners: partners,
                    area: trimmedArea,
                    mount: mount,
                    rights: rights
                )
            )
        }
        try checkMountsDistinct(configuration.accessRules)
        configuration.watches = try watchRules(names["watch"] ?? [], string: string, path: path, count: count)
        configuration.actions = try actionRules(
            names["actions"] ?? [],
            string: string,
            list: list,
            path: path,
            count: count,
            partners: configuration.partners
        )
        for rule in configuration.watches where configuration.partners[rule.partner]?.url == nil {
            throw ConfigError(
                "watch.\(rule.name).partner: '\(rule.partner)' is not a partner with a url; define partners.\(rule.partner).url"
            )
        }
        return configuration
    }

    /// A configured partner's name is also its folder: letters, digits, `-`, `_`, inner dots; at most 64.
    public static func isPartnerName(_ name: String) -> Bool {
        DevPKI.isValidName(name) && !name.hasSuffix(".")
    }

    /// An access rule's area is a folder under the root: relative, no `.`/`..` segments, nothing reserved.
    public static func checkArea(_ area: String, trimmed: String, key: String) throws {
        if area.hasPrefix("/") || area.hasPrefix("~") {
            throw ConfigError(
                "\(key): '\(area)' is absolute; an area is a folder under the root (e.g. shared/outbound)"
            )
        }
        if trimmed == "." { return }
        for segment in trimmed.split(separator: "/") {
            if segment == "." || segment == ".." {
                throw ConfigError(
                    "\(key): '\(area)' contains '\(segment)'; an area is a folder under the root and cannot leave it (e.g. shared/outbound)"
                )
            }
            if segment.lowercased().hasPrefix(PartnerPath.reservedPrefix) {
                throw ConfigError(
                    "\(key): '\(area)' is inside the server's own state folder \(PartnerPath.reservedPrefix) (ledger, uploads); choose another folder"
                )
            }
            if segment.contains("\\") || segment.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
            {
                throw ConfigError(
                    "\(key): '\(area)' contains a backslash or a control character; use plain folder names"
                )
            }
        }
    }

    /// A partner sees one area per mount: two rules that mount one name for one partner are refused (their
    /// rights would otherwise mix with one area's files).
    public static func checkMountsDistinct(_ rules: [FerryConfiguration.AccessRule]) throws {
        for (index, rule) in rules.enumerated() {
            for other in rules[(index + 1)...] where rule.mount.lowercased() == other.mount.lowercased() {
                let shared =
                    rule.partners.contains("*") || other.partners.contains("*")
                    ? ["*"]
                    : rule.partners.filter { name in other.partners.contains { $0.lowercased() == name.lowercased() } }
                if !shared.isEmpty {
                    throw ConfigError(
                        "access.\(rule.name) and access.\(other.name) both mount '\(rule.mount)' for \(shared == ["*"] ? "the same partners" : "partner " + shared.joined(separator: ", ")): a partner sees one area per mount, so give one of them another mount"
                    )
                }
            }
        }
    }

    /// A mount is one path segment in the partner's view.
    public static func checkMount(_ mount: String, key: String) throws {
        guard !mount.isEmpty, mount != ".", mount != "..", !mount.contains("/"), !mount.contains("\\"),
            !mount.lowercased().hasPrefix(PartnerPath.reservedPrefix)
        else {
            throw ConfigError(
                "\(key): '\(mount)' cannot be a mount: it is one folder name in the partner's view (not empty, '.', '..', or starting with \(PartnerPath.reservedPrefix), no '/')"
            )
        }
    }

    static func environmentName(_ key: String) -> String {
        "FERRY_" + key.uppercased().map { $0.isLetter || $0.isNumber ? String($0) : "_" }.joined()
    }

    static func resolve(_ path: String, against base: String) -> String {
        if path.hasPrefix("/") { return path }
        if path.hasPrefix("~/"), let home = ProcessInfo.processInfo.environment["HOME"] {
            return home + path.dropFirst(1)
        }
        return URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: base, isDirectory: true)).standardizedFileURL
            .path
    }

    /// Parses `90`, `90s`, `15m`, `24h`, `7d` into seconds.
    public static func duration(_ value: String, key: String) throws -> Double {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
        var text = value.trimmingCharacters(in: .whitespaces).lowercased()
        var factor = 1.0
        if let last = text.last, let unit = units[last] {
            factor = unit
            text.removeLast()
        }
        guard let number = Double(text), number > 0 else {
            throw ConfigError("\(key): '\(value)' is not a duration (e.g. 90s, 15m, 24h, 7d)")
        }
        // `inf` parses as a number, and a wait of a million years lands past the dates anything can write.
        guard number * factor <= longestDuration else {
            throw ConfigError("\(key): '\(value)' is longer than 100 years (36500d); give a shorter duration")
        }
        return number * factor
    }

    /// The longest duration a setting may have: 100 years.
    public static let longestDuration: Double = 36_500 * 86_400

    /// A number of bytes, with an optional binary unit: `1048576`, `512KiB`, `100MiB`, `10GiB`, `2TiB` (K, M, G, T
    /// and KB, MB, GB, TB mean the same powers of 1024).
    static func size(_ value: String, key: String) throws -> Int64 {
        let text = value.trimmingCharacters(in: .whitespaces)
        let digits = text.prefix { $0.isNumber }
        let unit = text.dropFirst(digits.count).trimmingCharacters(in: .whitespaces).lowercased()
        let shifts: [String: Int64] = [
            "": 0, "b": 0, "k": 10, "kb": 10, "kib": 10, "m": 20, "mb": 20, "mib": 20, "g": 30, "gb": 30, "gib": 30,
            "t": 40, "tb": 40, "tib": 40,
        ]
        guard let number = Int64(digits), number > 0, let shift = shifts[unit], number <= Int64.max >> shift else {
            throw ConfigError(
                "\(key): '\(value)' is not a size (a positive number of bytes, or with a unit: 512KiB, 100MiB, 10GiB, 2TiB)"
            )
        }
        return number << shift
    }

    static func bool(_ value: String, key: String) throws -> Bool {
        switch value.lowercased() {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default: throw ConfigError("\(key): '\(value)' is not true or false")
        }
    }
}

extension ConfigLoader {
    /// `admin.*`: the operators' TCP listener. A token is always required; a listener that other machines can reach
    /// must use TLS, or the token would cross the network in the clear.
    static func adminListener(
        listen: String,
        tokenFile: String?,
        certificate: String?,
        privateKey: String?,
        clientCA: String? = nil
    ) throws -> FerryConfiguration.AdminListener {
        let (host, _) = try ListenAddress.parse(listen)
        guard tokenFile != nil || clientCA != nil else {
            throw ConfigError(
                "admin.listen needs admin.token-file: a file (mode 0600) holding the operators' bearer token, e.g. `openssl rand -hex 32 > admin.token; chmod 600 admin.token` (or admin.tls.client-ca, the operators' own CA)"
            )
        }
        if clientCA != nil, certificate == nil || privateKey == nil {
            throw ConfigError(
                "admin.tls.client-ca needs admin.tls.certificate and admin.tls.key: client certificates need TLS"
            )
        }
        switch (certificate, privateKey) {
        case (nil, nil):
            guard FerryConfiguration.AdminListener.isLoopback(host) else {
                throw ConfigError(
                    "admin.listen \(listen) can be reached from other machines, and without TLS the token would cross the network in the clear: set admin.tls.certificate and admin.tls.key, or listen on 127.0.0.1"
                )
            }
        case (.some, .some): break
        default:
            throw ConfigError("admin.tls needs both certificate and key (PEM files)")
        }
        return FerryConfiguration.AdminListener(
            listen: listen,
            tokenFile: tokenFile,
            certificate: certificate,
            privateKey: privateKey,
            clientCA: clientCA
        )
    }
}
