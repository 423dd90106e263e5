import Foundation
public import NIOSSL

/// Where the pass phrase of an encrypted private key comes from.
public enum PassphraseSource: Sendable, Equatable, CustomStringConvertible {
    /// Written in the configuration (`key-passphrase`, XCOM's `[PASSWORD]`).
    case literal(String)
    /// An environment variable (`key-passphrase-env`).
    case environment(String)
    /// The first line of a file (`key-passphrase-file`), e.g. a mounted secret.
    case file(String)

    public var description: String {
        switch self {
        case .literal: "the pass phrase in the configuration"
        case .environment(let name): "the pass phrase in $\(name)"
        case .file(let path): "the pass phrase in \(path)"
        }
    }

    /// The pass phrase's bytes.
    func resolve(environment: [String: String]) throws(TLSSetupError) -> [UInt8] {
        switch self {
        case .literal(let text):
            return Array(text.utf8)
        case .environment(let name):
            guard let value = environment[name] else {
                throw TLSSetupError(
                    .incomplete,
                    subject: "$\(name)",
                    problem: "the environment variable holding the key's pass phrase is not set",
                    fix: "export \(name) before starting ferry, or use key-passphrase-file"
                )
            }
            return Array(value.utf8)
        case .file(let path):
            let text = try CertificateFiles.readText(path, what: "pass phrase file")
            return Array((text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first ?? "").utf8)
        }
    }
}

/// What both sides' TLS profiles hold: identity, trust, versions, ciphers, verification depth.
///
/// Safe defaults: TLS 1.2–1.3, ECDHE with AEAD ciphers only, verification by the system's or the given CAs.
public struct TLSProfileCore: Sendable, Equatable {
    /// The own certificate chain (leaf first) and its private key.
    public var certificate: String?
    public var privateKey: String?
    /// Needed when the private key is encrypted.
    public var passphrase: PassphraseSource?
    /// CA files trusted for the peer's certificate (several allowed, e.g. an old and a new root during rotation).
    public var trustedCAs: [String] = []
    /// A folder whose PEM files are all trusted as well.
    public var caDirectory: String?
    public var minimumVersion: TLSVersion = .tlsv12
    public var maximumVersion: TLSVersion = .tlsv13
    /// TLS 1.2 and below: an OpenSSL cipher string; `nil` means Ferry's default (ECDHE with AEAD).
    public var ciphers: String?
    /// TLS 1.3: the allowed suites by IANA name; `nil` means all three.
    public var tls13Suites: [String]?
    /// The longest chain accepted from the peer, counted as OpenSSL does: the number of CA certificates above
    /// the peer's own (1 = issued directly by a trusted root). `nil`: no limit beyond BoringSSL's.
    public var verifyDepth: Int?
    /// CRL files (PEM or DER, one or more per CA) the peer's chain is checked against.
    public var crlFiles: [String] = []

    public init() {}

    /// ECDHE key exchange with AEAD ciphers: forward secrecy and no CBC padding oracles.
    public static let modernCiphers = "ECDHE+AESGCM:ECDHE+CHACHA20"
    /// Added to the default when TLS 1.0/1.1 are allowed: those versions have no AEAD suites.
    public static let legacyCiphers = "ECDHE+AES+SHA1"
    /// The TLS 1.3 suites (BoringSSL enables all three).
    public static let tls13SuiteNames: [String: UInt16] = [
        "TLS_AES_128_GCM_SHA256": 0x1301, "TLS_AES_256_GCM_SHA384": 0x1302, "TLS_CHACHA20_POLY1305_SHA256": 0x1303,
    ]

    /// The cipher string in effect.
    public var effectiveCiphers: String {
        if let ciphers { return ciphers }
        return minimumVersion.rank < TLSVersion.tlsv12.rank
            ? Self.modernCiphers + ":" + Self.legacyCiphers : Self.modernCiphers
    }

    /// Every CA file in use: the listed files, then the directory's PEM files in name order.
    public func caFiles() throws(TLSSetupError) -> [String] {
        guard let caDirectory else { return trustedCAs }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: caDirectory).sorted()
        } catch {
            throw TLSSetupError(
                .unreadable,
                subject: caDirectory,
                problem: "the CA directory cannot be read",
                fix: "check the path and its permissions"
            )
        }
        var files: [String] = []
        for name in names where !name.hasPrefix(".") {
            let path = caDirectory + "/" + name
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
                let text = try? CertificateFiles.readText(path, what: "CA file"),
                text.contains("-----BEGIN CERTIFICATE-----")
            else { continue }
            files.append(path)
        }
        if files.isEmpty {
            throw TLSSetupError(
                .noCertificates,
                subject: caDirectory,
                problem: "the CA directory holds no PEM certificate",
                fix: "put the trusted CA certificates (PEM) in it"
            )
        }
        return trustedCAs + files
    }

    /// Checks the settings that do not need files, and the names in `tls13Suites`.
    public func checkSettings(side: String) throws(TLSSetupError) -> Set<UInt16>? {
        if minimumVersion.rank > maximumVersion.rank {
            throw TLSSetupError(
                .badVersion,
                subject: "\(side).min-version",
                problem:
                    "the minimum version (\(TLSVersionSetting.name(minimumVersion))) is above the maximum (\(TLSVersionSetting.name(maximumVersion)))",
                fix: "set min-version to at most max-version"
            )
        }
        if let verifyDepth, verifyDepth < 0 {
            throw TLSSetupError(
                .incomplete,
                subject: "\(side).verify-depth",
                problem: "\(verifyDepth) is not a depth",
                fix: "use a number of CA certificates above the peer's own, e.g. 4"
            )
        }
        guard let tls13Suites else { return nil }
        var allowed: Set<UInt16> = []
        for name in tls13Suites {
            guard let value = Self.tls13SuiteNames[name.uppercased()] else {
                throw TLSSetupError(
                    .badCipher,
                    subject: "\(side).cipher-suites",
                    problem: "'\(name)' is not a TLS 1.3 cipher suite",
                    fix: "use \(Self.tls13SuiteNames.keys.sorted().joined(separator: ", "))"
                )
            }
            allowed.insert(value)
        }
        if allowed.isEmpty {
            throw TLSSetupError(
                .badCipher,
                subject: "\(side).cipher-suites",
                problem: "the list is empty, so no TLS 1.3 connection could be made",
                fix: "name at least one suite, or set max-version to 1.2"
            )
        }
        return allowed.count == Self.tls13SuiteNames.count ? nil : allowed
    }

    /// The revocation lists, checked against the trusted CAs; `nil` when none are configured.
    func loadRevocation(
        trust: TrustRoots,
        side: String,
        now: Date
    ) throws(TLSSetupError) -> (RevocationCheck?, [String]) {
        guard !crlFiles.isEmpty else { return (nil, []) }
        let (check, warnings) = try RevocationCheck.load(
            files: crlFiles,
            trusted: trust.certificates.map(\.certificate),
            side: side,
            now: now
        )
        return (check, warnings.map(\.description))
    }

    /// The trusted CA files (listed files and the folder's), loaded.
    public func loadTrust() throws(TLSSetupError) -> TrustRoots {
        try CertificateFiles.loadTrustRoots(caFiles())
    }

    /// Applies versions, ciphers and the trust roots to a NIOSSL configuration after checking the cipher string
    /// (BoringSSL must never see one that selects nothing); returns the warnings about loosened settings.
    public func apply(
        to configuration: inout TLSConfiguration,
        trust: TrustRoots,
        side: String
    ) throws(TLSSetupError) -> [String] {
        configuration.minimumTLSVersion = minimumVersion
        configuration.maximumTLSVersion = maximumVersion
        configuration.cipherSuites = effectiveCiphers
        if !trust.nio.isEmpty {
            configuration.trustRoots = .certificates(trust.nio)
        }
        var selected: [CipherString.Suite] = []
        if minimumVersion.rank < TLSVersion.tlsv13.rank {
            do {
                selected = try CipherString.select(effectiveCiphers)
            } catch {
                throw TLSSetupError(
                    .badCipher,
                    subject: "\(side).ciphers",
                    problem: "'\(effectiveCiphers)': \(error)",
                    fix: "use an OpenSSL cipher string such as \(Self.modernCiphers)"
                )
            }
            if selected.isEmpty {
                throw TLSSetupError(
                    .badCipher,
                    subject: "\(side).ciphers",
                    problem: "'\(effectiveCiphers)' selects no TLS 1.2 cipher suite",
                    fix: "use an OpenSSL cipher string such as \(Self.modernCiphers), or set min-version to 1.3"
                )
            }
            if minimumVersion.rank < TLSVersion.tlsv12.rank, selected.allSatisfy(\.needsTLS12) {
                throw TLSSetupError(
                    .badCipher,
                    subject: "\(side).ciphers",
                    problem:
                        "min-version allows \(TLSVersionSetting.name(minimumVersion)) but '\(effectiveCiphers)' selects only suites that need TLS 1.2, so older clients would find no cipher in common",
                    fix: "add CBC suites for them (e.g. ECDHE+AES), or set min-version to 1.2"
                )
            }
        }
        return warnings(side: side, selected: selected)
    }

    /// One line per loosened setting, stating the risk; `selected` is what `ciphers` selects.
    func warnings(side: String, selected: [CipherString.Suite]) -> [String] {
        var warnings: [String] = []
        if minimumVersion.rank < TLSVersion.tlsv12.rank {
            warnings.append(
                "\(side).min-version is \(TLSVersionSetting.name(minimumVersion)): TLS 1.0/1.1 are deprecated (RFC 8996), use SHA-1 in the handshake and CBC ciphers open to padding-oracle attacks; allow them only for partners that cannot do better"
            )
        }
        if let ciphers, ciphers != Self.modernCiphers {
            let withoutFS = selected.filter { !$0.hasForwardSecrecy }.map(\.name)
            let cbc = selected.filter(\.isCBC).map(\.name)
            if !withoutFS.isEmpty {
                warnings.append(
                    "\(side).ciphers '\(ciphers)' enables RSA key exchange (\(withoutFS.joined(separator: ", "))): no forward secrecy, so a stolen server key decrypts recorded transfers"
                )
            }
            if !cbc.isEmpty {
                warnings.append(
                    "\(side).ciphers '\(ciphers)' enables CBC suites (\(cbc.joined(separator: ", "))), open to padding-oracle attacks; keep them only for partners on TLS 1.0/1.1"
                )
            }
        }
        if let tls13Suites {
            warnings.append(
                "\(side).cipher-suites allows only \(tls13Suites.joined(separator: ", ")): BoringSSL negotiates all three TLS 1.3 suites, so a TLS 1.3 connection that agrees on another one is closed right after its handshake"
            )
        }
        return warnings
    }
}
