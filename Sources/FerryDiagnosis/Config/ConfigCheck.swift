public import FerryConfig
public import FerryTLS
public import Foundation
import NIOSSL
import X509

/// `ferry config check`: lints a Ferry configuration or an XCOM configssl.cnf and reports every problem it can
/// find, in the diagnoser's format, without stopping at the first.
public enum ConfigCheck {
    public struct Report: Sendable, Codable {
        public let file: String
        /// `ferry` or `xcom`.
        public let format: String
        /// The profiles checked, by setting prefix or XCOM side.
        public let profiles: [String]
        public let findings: [Finding]
        public var exitCode: Int32 { findings.exitCode }

        /// The report as the CLI prints it.
        public var text: String {
            var out =
                "Checked \(file) (\(format == "xcom" ? "XCOM configssl.cnf" : "Ferry configuration")): \(profiles.isEmpty ? "no TLS profile" : profiles.joined(separator: ", "))\n"
            for finding in findings { out += "\n" + finding.text }
            let count = { (severity: Finding.Severity) in findings.filter { $0.severity == severity }.count }
            out += "\n\(count(.error)) error(s), \(count(.warning)) warning(s), \(count(.note)) note(s)\n"
            return out
        }
    }

    /// One side to check.
    struct Profile {
        let name: String
        let core: TLSProfileCore
        let role: CertificateAuthority.Purpose
        var clientAuthentication: ClientAuthentication?
        var sendCANames = true
        var verifyServer = true
    }

    /// Checks a file; an XCOM file is recognised by its `.cnf` extension or a first setting line that is a
    /// `[section]`.
    public static func check(
        file: String,
        now: Date = .now,
        warningWindow: Double = 30 * 86_400,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) async -> Report {
        if isXCOM(file) {
            return checkXCOM(file: file, now: now, warningWindow: warningWindow, environment: environment)
        }
        let configuration: FerryConfiguration
        do {
            configuration = try await ConfigLoader.load(file: file, environment: environment)
        } catch {
            return Report(file: file, format: "ferry", profiles: [], findings: [loadFailure(error, file: file)])
        }
        var profiles: [Profile] = []
        if let server = configuration.serverTLS {
            profiles.append(
                Profile(
                    name: "server.tls",
                    core: server.core,
                    role: .server,
                    clientAuthentication: server.clientAuthentication,
                    sendCANames: server.sendCANames
                )
            )
        }
        let client = configuration.clientTLS
        if client.core != TLSProfileCore() || !client.verifyServer {
            profiles.append(
                Profile(name: "client.tls", core: client.core, role: .client, verifyServer: client.verifyServer)
            )
        }
        for name in configuration.partners.keys.sorted() {
            if let tls = configuration.partners[name]?.tls {
                profiles.append(
                    Profile(name: "partners.\(name).tls", core: tls.core, role: .client, verifyServer: tls.verifyServer)
                )
            }
        }
        var findings = configuration.xcomNotes.map(finding(for:))
        for profile in profiles {
            findings += audit(profile, now: now, warningWindow: warningWindow, environment: environment)
        }
        if let server = configuration.serverTLS {
            findings += auditBindings(
                configuration,
                trusted: (try? server.core.loadTrust().certificates.map(\.certificate)) ?? [],
                file: file
            )
        }
        return Report(file: file, format: "ferry", profiles: profiles.map(\.name), findings: unique(findings).ordered)
    }

    static func isXCOM(_ file: String) -> Bool {
        if file.lowercased().hasSuffix(".cnf") { return true }
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return false }
        let first = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.first {
            !$0.isEmpty && !$0.hasPrefix("#")
        }
        return first?.hasPrefix("[") == true
    }

    static func checkXCOM(file: String, now: Date, warningWindow: Double, environment: [String: String]) -> Report {
        let xcom: XCOMSSLConfig
        do {
            xcom = try XCOMSSLConfig.load(file, environment: environment)
        } catch {
            return Report(file: file, format: "xcom", profiles: [], findings: [loadFailure(error, file: file)])
        }
        var findings = xcom.notes.map(finding(for:))
        var profiles: [String] = []
        do {
            let receive = try xcom.receiveProfile()
            if receive.certificate != nil || receive.privateKey != nil || !receive.trustedCAs.isEmpty {
                profiles.append("RECEIVE_SIDE")
                findings += audit(
                    Profile(
                        name: "RECEIVE_SIDE",
                        core: receive.core,
                        role: .server,
                        clientAuthentication: receive.clientAuthentication
                    ),
                    now: now,
                    warningWindow: warningWindow,
                    environment: environment
                )
            }
        } catch {
            findings.append(loadFailure(error, file: file))
        }
        do {
            let initiate = try xcom.initiateProfile()
            if initiate.core != TLSProfileCore() || !initiate.verifyServer {
                profiles.append("INITIATE_SIDE")
                findings += audit(
                    Profile(
                        name: "INITIATE_SIDE",
                        core: initiate.core,
                        role: .client,
                        verifyServer: initiate.verifyServer
                    ),
                    now: now,
                    warningWindow: warningWindow,
                    environment: environment
                )
            }
        } catch {
            findings.append(loadFailure(error, file: file))
        }
        return Report(file: file, format: "xcom", profiles: profiles, findings: unique(findings).ordered)
    }

    /// Every problem of one profile: its files, its certificates, its settings.
    static func audit(_ profile: Profile, now: Date, warningWindow: Double, environment: [String: String]) -> [Finding]
    {
        var findings: [Finding] = []
        let side = profile.name
        let core = profile.core
        func report(_ error: TLSSetupError) { findings.append(finding(for: error, side: side)) }

        // Own certificate and key.
        switch (core.certificate, core.privateKey) {
        case (let certificate?, let key?):
            var chain: [Certificate]?
            do { chain = try CertificateFiles.loadCertificates(certificate, what: "certificate") } catch {
                report(error)
            }
            var privateKey: Certificate.PrivateKey?
            do {
                privateKey = try CertificateFiles.loadPrivateKey(
                    key,
                    passphrase: core.passphrase,
                    certificate: certificate,
                    environment: environment
                ).0
            } catch { report(error) }
            if let chain, let leaf = chain.first {
                if let privateKey, privateKey.publicKey != leaf.publicKey {
                    findings.append(
                        Finding(
                            .keyMismatch,
                            evidence: [
                                "\(side): \(key) does not hold the private key of \(certificate) (subject \(leaf.subject))"
                            ]
                        )
                    )
                }
                for (index, certificate) in chain.enumerated() {
                    findings += validity(
                        certificate,
                        what: index == 0 ? "\(side) certificate" : "\(side) chain certificate \(index)",
                        file: core.certificate ?? "",
                        now: now,
                        warningWindow: warningWindow
                    )
                }
                do { try CertificateFiles.checkUsage(leaf, file: certificate, role: profile.role) } catch {
                    report(error)
                }
                let intermediates = chain.dropFirst().filter { $0.subject != $0.issuer }.count
                if let depth = core.verifyDepth, intermediates > depth {
                    findings.append(
                        Finding(
                            .chainTooDeep,
                            evidence: [
                                "\(side): \(certificate) carries \(intermediates) intermediate CA certificate(s) below its root; verify-depth is \(depth)"
                            ]
                        )
                    )
                }
            }
        case (nil, nil):
            if profile.role == .server {
                findings.append(
                    Finding(
                        .profileIncomplete,
                        evidence: ["\(side): no certificate and no private key (the receive side needs both)"]
                    )
                )
            }
        case (.some, nil), (nil, .some):
            findings.append(
                Finding(
                    .profileIncomplete,
                    evidence: [
                        "\(side): a certificate needs its private key and a key its certificate (have \(core.certificate == nil ? "only the key" : "only the certificate"))"
                    ]
                )
            )
        }

        // Trusted CAs.
        do {
            let files = try core.caFiles()
            if files.isEmpty, let mode = profile.clientAuthentication, mode != .none {
                findings.append(
                    Finding(
                        .profileIncomplete,
                        evidence: ["\(side): client certificates are \(mode.rawValue) but no CA file is configured"]
                    )
                )
            }
            for file in files {
                do {
                    for certificate in try CertificateFiles.loadCertificates(file, what: "CA file") {
                        if !CertificateFiles.isCA(certificate) {
                            findings.append(
                                Finding(
                                    .caFileNotCA,
                                    evidence: [
                                        "\(side): \(file) holds \(certificate.subject), which is not a CA certificate (no basicConstraints cA=TRUE)"
                                    ]
                                )
                            )
                        }
                        findings += validity(
                            certificate,
                            what: "\(side) CA",
                            file: file,
                            now: now,
                            warningWindow: warningWindow
                        )
                    }
                } catch { report(error) }
            }
        } catch { report(error) }

        // Revocation lists.
        if !core.crlFiles.isEmpty {
            do {
                let trusted = try core.loadTrust().certificates.map(\.certificate)
                let (_, warnings) = try RevocationCheck.load(
                    files: core.crlFiles,
                    trusted: trusted,
                    side: side,
                    now: now
                )
                for warning in warnings where warning.kind == .expired {
                    findings.append(Finding(.crlExpired, evidence: [warning.description]))
                }
            } catch { report(error) }
        }

        // Settings.
        do { _ = try core.checkSettings(side: side) } catch { report(error) }
        var probe = TLSConfiguration.makeClientConfiguration()
        do { _ = try core.apply(to: &probe, trust: .none, side: side) } catch { report(error) }
        if core.minimumVersion == .tlsv1 || core.minimumVersion == .tlsv11 {
            findings.append(
                Finding(
                    .legacyVersionEnabled,
                    evidence: ["\(side): min-version is \(TLSVersionSetting.name(core.minimumVersion))"]
                )
            )
        }
        if profile.clientAuthentication == ClientAuthentication.none {
            findings.append(
                Finding(
                    .verificationOff,
                    title: "The receive side does not ask for client certificates",
                    evidence: [
                        "\(side): client-auth is none ([VERIFY_CERTIFICATE] RECEIVE_SIDE = NO): partners are not authenticated"
                    ]
                )
            )
        }
        if !profile.verifyServer {
            findings.append(
                Finding(
                    .verificationOff,
                    title: "The initiate side does not verify the server's certificate",
                    evidence: ["\(side): verify is off ([VERIFY_CERTIFICATE] INITIATE_SIDE = NO)"]
                )
            )
        }
        if let mode = profile.clientAuthentication, mode != .none, !profile.sendCANames {
            findings.append(
                Finding(.caNamesOff, evidence: ["\(side): client-auth is \(mode.rawValue) and send-ca-names is false"])
            )
        }
        return findings
    }

    /// How the server will recognise partners: bindings that two partners share, or that any trusted CA can meet.
    static func auditBindings(_ configuration: FerryConfiguration, trusted: [Certificate], file: String) -> [Finding] {
        do {
            let bindings = try PartnerBindings.load(configuration: configuration, trusted: trusted)
            return bindings.warnings.map { Finding(.partnerBindingForgeable, evidence: [$0]) }
        } catch let error as ConfigError where error.id == "partner-binding-ambiguous" {
            return [Finding(.partnerBindingAmbiguous, evidence: [error.description])]
        } catch {
            return [loadFailure(error, file: file)]
        }
    }

    static func validity(
        _ certificate: Certificate,
        what: String,
        file: String,
        now: Date,
        warningWindow: Double
    ) -> [Finding] {
        let left = certificate.notValidAfter.timeIntervalSince(now)
        let location = file.isEmpty ? "" : " (\(file))"
        if left < 0 {
            return [
                Finding(
                    .certificateExpired,
                    evidence: ["\(what) \(certificate.subject)\(location) expired on \(certificate.notValidAfter)"]
                )
            ]
        }
        if certificate.notValidBefore > now {
            return [
                Finding(
                    .certificateNotYetValid,
                    evidence: ["\(what) \(certificate.subject)\(location) is valid from \(certificate.notValidBefore)"]
                )
            ]
        }
        if left < warningWindow {
            return [
                Finding(
                    .certificateExpiring,
                    title: "A certificate in use expires in \(Int(left / 86_400)) day(s)",
                    evidence: ["\(what) \(certificate.subject)\(location) expires on \(certificate.notValidAfter)"]
                )
            ]
        }
        return []
    }

    /// The finding of each kind of load-time error (a test checks that every kind has one).
    static let setupKinds: [TLSSetupError.Code: FindingKind] = [
        .unreadable: .fileUnreadable, .notPEM: .notPEM, .noCertificates: .notPEM, .keyMismatch: .keyMismatch,
        .expired: .certificateExpired, .notYetValid: .certificateNotYetValid, .wrongUsage: .certificateWrongUsage,
        .badVersion: .configInvalid, .incomplete: .profileIncomplete, .badCipher: .cipherSetting,
        .wrongPassphrase: .keyPassphrase, .badCRL: .crlInvalid,
    ]

    /// A load-time error as a finding.
    static func finding(for error: TLSSetupError, side: String) -> Finding {
        var kind = setupKinds[error.code] ?? .configInvalid
        if error.code == .badVersion, error.problem.contains("SSLv3") { kind = .ssl3Enabled }
        return Finding(kind, evidence: ["\(side): \(error.subject): \(error.problem)"], fixes: [error.fix] + kind.fixes)
    }

    static func loadFailure(_ error: any Error, file: String) -> Finding {
        if let error = error as? TLSSetupError { return finding(for: error, side: file) }
        if let error = error as? OpenSSLConf.ParseError {
            return Finding(
                error.isVariableProblem ? .xcomDollar : .configInvalid,
                evidence: ["\(error.file):\(error.line): \(error.problem)"]
            )
        }
        if let error = error as? ConfigError, error.id == "ssl3-enabled" {
            return Finding(.ssl3Enabled, evidence: [error.description])
        }
        return Finding(.configInvalid, evidence: [String(describing: error)])
    }

    static func finding(for note: XCOMSSLConfig.Note) -> Finding {
        let kind: FindingKind =
            switch note.kind {
            case .sslMethodAll: .sslMethodAll
            case .zosOnly: .zosOnly
            case .unknown: .xcomUnknown
            }
        return Finding(kind, evidence: ["line \(note.line): \(note.message)"])
    }

    static func unique(_ findings: [Finding]) -> [Finding] {
        var seen: [Finding] = []
        for finding in findings where !seen.contains(finding) { seen.append(finding) }
        return seen
    }
}
