public import FerryTLS
public import Foundation
public import NIOSSL

/// An XCOM `configssl.cnf` mapped onto Ferry's two TLS profiles: `RECEIVE_SIDE` (XCOM as the TLS server) is
/// the receive side, `INITIATE_SIDE` (XCOM as the TLS client) the initiate side.
///
/// Relative paths are resolved against the folder of the file. Every value Ferry cannot honour as written is
/// either an error (SSLv3 only, unknown values) or a note that says what Ferry does instead (`ALL`, z/OS key
/// rings).
public struct XCOMSSLConfig: Sendable {
    public enum Side: String, Sendable, CaseIterable {
        case initiate = "INITIATE_SIDE"
        case receive = "RECEIVE_SIDE"
    }

    /// Something the mapping wants the operator to know.
    public struct Note: Sendable, Equatable {
        public enum Kind: String, Sendable {
            /// SSL_METHOD = ALL: SSLv3 is not among Ferry's versions.
            case sslMethodAll = "xcom-ssl-method-all"
            /// z/OS key ring sections, not readable off z/OS.
            case zosOnly = "xcom-zos-only"
            /// A section or key XCOM does not define.
            case unknown = "xcom-unknown-setting"
        }

        public let kind: Kind
        public let section: String
        public let line: Int
        public let message: String
    }

    /// One side's settings as written.
    public struct SideSettings: Sendable, Equatable {
        public var sslMethod: String?
        public var verifyCertificate: Bool?
        public var verifyDepth: Int?
        public var ca: String?
        public var caDirectory: String?
        public var certificate: String?
        public var privateKey: String?
        public var password: String?
        public var cipherList: String?
    }

    public let file: String
    public let conf: OpenSSLConf
    public let initiate: SideSettings
    public let receive: SideSettings
    public let notes: [Note]

    /// The sections XCOM reads, with what they mean (for `config import` comments).
    public static let sections: [String: String] = [
        "SSL_METHOD": "protocol versions",
        "VERIFY_CERTIFICATE":
            "verify the partner's certificate (RECEIVE_SIDE = NO: no client certificate is requested)",
        "VERIFY_DEPTH": "maximum chain depth",
        "CA": "PEM file of trusted CA certificates",
        "CA_DIRECTORY": "folder of trusted CA certificates",
        "CERTIFICATE": "own certificate",
        "PRIVATEKEY": "private key of [CERTIFICATE]",
        "PASSWORD": "pass phrase of [PRIVATEKEY]",
        "CIPHER_LIST": "OpenSSL cipher list",
    ]
    /// Sections only z/OS System SSL reads.
    public static let zosSections: [String: String] = [
        "KEYRING": "a RACF/SAF key ring",
        "KEYRING_FILE": "a System SSL key database (.kdb)",
        "LABLCERT": "the label of the certificate in the key ring",
    ]

    /// Reads and maps a file.
    public static func load(
        _ path: String,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> XCOMSSLConfig {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigError(
                "cannot read the XCOM TLS file \(path): \(FileManager.default.fileExists(atPath: path) ? "not readable (permissions?)" : "no such file"). Point --xcom-config (or xcom-config) at XCOM's configssl.cnf."
            )
        }
        return try map(OpenSSLConf.parse(text, file: path, environment: environment), file: path)
    }

    public static func map(_ conf: OpenSSLConf, file: String) throws -> XCOMSSLConfig {
        let base = URL(fileURLWithPath: file).deletingLastPathComponent().path
        var sides: [Side: SideSettings] = [.initiate: SideSettings(), .receive: SideSettings()]
        var notes: [Note] = []
        var zosNoted: Set<String> = []
        for entry in conf.entries {
            func fail(_ problem: String, _ fix: String) -> ConfigError {
                ConfigError(
                    "\(file):\(entry.line): [\(entry.section)] \(entry.name) = \(entry.raw): \(problem). Fix: \(fix)"
                )
            }
            if let meaning = zosSections[entry.section] {
                if zosNoted.insert(entry.section).inserted {
                    notes.append(
                        Note(
                            kind: .zosOnly,
                            section: entry.section,
                            line: entry.line,
                            message:
                                "[\(entry.section)] names \(meaning), which only z/OS System SSL can read; Ferry ignores it. Export the certificate and key from the key ring (RACDCERT EXPORT ... FORMAT(PKCS12DER), then `openssl pkcs12 -in FILE -nodes`) and set [CERTIFICATE] and [PRIVATEKEY] to the PEM files"
                        )
                    )
                }
                continue
            }
            guard sections[entry.section] != nil else {
                if entry.section != "default" {
                    notes.append(
                        Note(
                            kind: .unknown,
                            section: entry.section,
                            line: entry.line,
                            message:
                                "[\(entry.section)] is not a section XCOM reads; Ferry ignores it (check the spelling: \(sections.keys.sorted().joined(separator: ", ")))"
                        )
                    )
                }
                continue
            }
            guard let side = Side(rawValue: entry.name.uppercased()) else {
                notes.append(
                    Note(
                        kind: .unknown,
                        section: entry.section,
                        line: entry.line,
                        message:
                            "[\(entry.section)] \(entry.name) is neither INITIATE_SIDE nor RECEIVE_SIDE; Ferry ignores it"
                    )
                )
                continue
            }
            let value = entry.value
            var settings = sides[side]!
            func path() -> String { ConfigLoader.resolve(value, against: base) }
            switch entry.section {
            case "SSL_METHOD": settings.sslMethod = value
            case "VERIFY_CERTIFICATE":
                switch value.uppercased() {
                case "YES", "Y", "TRUE", "1": settings.verifyCertificate = true
                case "NO", "N", "FALSE", "0": settings.verifyCertificate = false
                default: throw fail("not YES or NO", "write YES (verify the partner's certificate) or NO")
                }
            case "VERIFY_DEPTH":
                guard let depth = Int(value), depth >= 0 else {
                    throw fail("not a number", "write the maximum chain depth, e.g. 4")
                }
                settings.verifyDepth = depth
            case "CA": settings.ca = path()
            case "CA_DIRECTORY": settings.caDirectory = path()
            case "CERTIFICATE": settings.certificate = path()
            case "PRIVATEKEY": settings.privateKey = path()
            case "PASSWORD": settings.password = value
            case "CIPHER_LIST": settings.cipherList = value
            default: break
            }
            sides[side] = settings
        }
        for side in Side.allCases {
            if let method = sides[side]!.sslMethod, method.uppercased() == "ALL" || method.uppercased() == "SSLV23" {
                let line =
                    conf.entries.last { $0.section == "SSL_METHOD" && $0.name.uppercased() == side.rawValue }?.line ?? 0
                notes.append(
                    Note(
                        kind: .sslMethodAll,
                        section: "SSL_METHOD",
                        line: line,
                        message:
                            "[SSL_METHOD] \(side.rawValue) = \(method) enabled SSLv3 in XCOM; in Ferry it means TLS 1.0 to 1.3 (SSLv3 is not among Ferry's versions: RFC 7568 forbids it). Set TLSv1.2 once every partner can"
                    )
                )
            }
        }
        return XCOMSSLConfig(
            file: file,
            conf: conf,
            initiate: sides[.initiate]!,
            receive: sides[.receive]!,
            notes: notes
        )
    }

    /// The protocol range of an `[SSL_METHOD]` value.
    public static func versions(_ method: String, side: Side, file: String) throws -> (TLSVersion, TLSVersion) {
        let key = method.uppercased().replacingOccurrences(of: "_", with: ".").replacingOccurrences(of: " ", with: "")
        switch key {
        case "ALL", "SSLV23": return (.tlsv1, .tlsv13)
        case "TLS": return (.tlsv12, .tlsv13)
        case "TLSV1", "TLSV1.0", "TLS1.0": return (.tlsv1, .tlsv1)
        case "TLSV1.1", "TLS1.1": return (.tlsv11, .tlsv11)
        case "TLSV1.2", "TLS1.2": return (.tlsv12, .tlsv12)
        case "TLSV1.3", "TLS1.3": return (.tlsv13, .tlsv13)
        case "SSLV3", "SSL3", "SSLV3.0", "SSLV2", "SSLV2.0":
            throw ConfigError(
                "\(file): [SSL_METHOD] \(side.rawValue) = \(method) allows only \(key.hasPrefix("SSLV2") ? "SSLv2" : "SSLv3"), which Ferry does not speak: it is broken (POODLE; RFC 7568 forbids SSLv3) and its empty CA lists are what strict peers such as IBM System SSL reject (alert 47, RC 410). Fix: set it to TLS (TLS 1.2 and 1.3) or, for a partner stuck on old software, ALL (TLS 1.0 to 1.3), and ask the partner to enable TLS 1.2",
                id: "ssl3-enabled"
            )
        default:
            throw ConfigError(
                "\(file): [SSL_METHOD] \(side.rawValue) = \(method) is not a method Ferry knows. Fix: use TLS (TLS 1.2 and 1.3), ALL (TLS 1.0 to 1.3), or one of TLSv1, TLSv1.1, TLSv1.2, TLSv1.3"
            )
        }
    }

    /// Applies one side's settings to a profile core.
    func apply(_ settings: SideSettings, side: Side, to core: inout TLSProfileCore) throws {
        if let method = settings.sslMethod {
            (core.minimumVersion, core.maximumVersion) = try Self.versions(method, side: side, file: file)
        }
        if let depth = settings.verifyDepth { core.verifyDepth = depth }
        if let ca = settings.ca { core.trustedCAs = [ca] }
        if let directory = settings.caDirectory { core.caDirectory = directory }
        if let certificate = settings.certificate { core.certificate = certificate }
        if let key = settings.privateKey { core.privateKey = key }
        if let password = settings.password, !password.isEmpty { core.passphrase = .literal(password) }
        if let ciphers = settings.cipherList, !ciphers.isEmpty { core.ciphers = ciphers }
    }

    /// The receive side as Ferry's server profile.
    public func receiveProfile() throws -> ServerTLSProfile {
        var profile = ServerTLSProfile(core: TLSProfileCore())
        try apply(receive, side: .receive, to: &profile.core)
        if receive.verifyCertificate == false { profile.clientAuthentication = .none }
        return profile
    }

    /// The initiate side as Ferry's client profile.
    public func initiateProfile() throws -> ClientTLSProfile {
        var profile = ClientTLSProfile(certificate: nil, privateKey: nil, trustedCAs: [])
        try apply(initiate, side: .initiate, to: &profile.core)
        if initiate.verifyCertificate == false { profile.verifyServer = false }
        return profile
    }
}
