import FerryProtocol
import ArgumentParser
import FerryConfig
import FerryDiagnosis
import FerryServer
import FerryTLS
import FerryTrace
import FerryWire
import Foundation
import NIOCore
import NIOSSL

struct Diagnose: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Find out why a partner's TLS handshake fails, and what the right fix is.",
        discussion: """
            Connects to HOST:PORT (or a partner from the config), offers each protocol version from SSLv3 to \
            TLS 1.3 with ClientHellos Ferry builds itself, reads every plaintext server flight (certificate chain, \
            CertificateRequest and its CA names) and the TLS 1.3 flight with keys of its own, runs a real \
            handshake with your client certificate, and prints findings, most severe first: evidence, the side at \
            fault, the rule, and fixes, best first.

            Exit status: 0 nothing wrong, 1 warnings only, 2 errors.
            """
    )

    @Argument(help: "HOST:PORT, https://HOST:PORT, or a partner name from the config.")
    var target: String

    @OptionGroup var profileOptions: ProfileOptions

    @Option(name: .long, help: "Server name to send (SNI) and to check the certificate against. Default: the host.")
    var sni: String?

    @Flag(name: .long, help: "Print JSON (schema: docs/diagnosis.md).")
    var json = false

    @Flag(name: .long, help: "Add the handshake traces of every probe.")
    var verbose = false

    func run() async throws {
        let configuration: FerryConfiguration
        do {
            configuration = try await ConfigLoader.load(file: profileOptions.config)
        } catch {
            Failure.printError(String(describing: error))
            throw ExitCode(1)
        }
        guard let (host, port, partner) = Self.parse(target, configuration: configuration) else {
            Failure.printError("'\(target)' is not HOST:PORT, an https:// URL or a partner in the config")
            throw ExitCode(1)
        }
        let profile = profileOptions.profile(configuration: configuration, partner: partner)
        var tls = TLSConfiguration.makeClientConfiguration()
        var clientCertificate: TLSCertificateSummary?
        var clientChain: [TLSCertificateSummary] = []
        var trusted: [TLSCertificateSummary] = []
        do {
            // The CA files and the CA folder, as a transfer's own profile trusts them.
            let trust = try profile.core.loadTrust()
            trusted = trust.nio.compactMap { try? TLSCertificateSummary(der: $0.toDERBytes()) }
            // The real handshake uses the client settings a transfer would use (the probes show the rest).
            do {
                tls = try profile.makeConfiguration().configuration
            } catch let refusal {
                // A certificate Ferry would refuse to send (expired, wrong EKU) is still tried: the findings say
                // what is wrong with it and how the server reacts. Files that cannot be read at all are reported
                // with the profile's own words, which name the file.
                do {
                    tls.minimumTLSVersion = profile.minimumVersion
                    tls.maximumTLSVersion = profile.maximumVersion
                    if !trust.nio.isEmpty { tls.trustRoots = .certificates(trust.nio) }
                    if let certificate = profile.certificate, let key = profile.privateKey {
                        tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
                        tls.privateKey = .privateKey(try CertificateFiles.loadPrivateKey(
                            key, passphrase: profile.passphrase, certificate: certificate, environment: ProcessInfo.processInfo.environment).1)
                    }
                } catch {
                    throw refusal
                }
            }
            if let path = profile.certificate {
                let file = ((try? NIOSSLCertificate.fromPEMFile(path)) ?? []).compactMap { try? TLSCertificateSummary(der: $0.toDERBytes()) }
                clientCertificate = file.first
                clientChain = Array(file.dropFirst())
            }
        } catch {
            Failure.printError(String(describing: error))
            throw ExitCode(1)
        }
        let serverName = sni ?? ((try? SocketAddress(ipAddress: host, port: 0)) != nil ? nil : host)
        var diagnoser = Diagnoser(host: host, port: port, serverName: serverName, tls: tls, clientCertificate: clientCertificate, trustedCAs: trusted)
        diagnoser.clientChain = clientChain
        let diagnosis = await diagnoser.run()
        if json {
            print(DiagnosisReport.json(diagnosis))
        } else {
            print(TerminalText.escaped(DiagnosisReport.text(diagnosis, verbose: verbose), keepingNewlines: true), terminator: "")
        }
        throw ExitCode(diagnosis.exitCode)
    }

    /// HOST:PORT, [IPv6]:PORT, https://HOST[:PORT][/...], or a partner name.
    static func parse(_ text: String, configuration: FerryConfiguration) -> (String, Int, String?)? {
        var value = text
        var partner: String?
        if let known = configuration.partners[text], let url = known.url {
            value = url
            partner = text
        }
        if value.hasPrefix("https://") {
            guard let url = URL(string: value), let host = url.host else { return nil }
            return (host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host, url.port ?? 443, partner)
        }
        guard let (host, port) = try? ListenAddress.parse(value) else { return nil }
        return (host, port, partner)
    }
}

/// How `ferry diagnose` prints a diagnosis.
enum DiagnosisReport {
    static func text(_ diagnosis: Diagnosis, verbose: Bool) -> String {
        var out = "Ferry diagnosis of \(diagnosis.host):\(diagnosis.port)\n\nProtocol versions (a ClientHello offering only that version):\n"
        for probe in diagnosis.probes {
            out += "  \(probe.offered.description.padding(toLength: 7, withPad: " ", startingAt: 0)) \(probe.detail)\n"
        }
        if let error = diagnosis.handshakeError {
            out += "\nHandshake with your client settings failed: \(error)\n"
        } else if diagnosis.handshakeCompleted {
            out += "\nHandshake with your client settings: completed\n"
        }
        out += "\n"
        if diagnosis.findings.isEmpty {
            out += "No problems found.\n"
        }
        for finding in diagnosis.findings {
            out += finding.text + "\n"
        }
        if verbose {
            for probe in diagnosis.probes where !probe.conversation.records.isEmpty {
                out += "Trace of the \(probe.offered) probe (-> sent by Ferry):\n" + TLSTraceRenderer().render(probe.conversation, format: .summary) + "\n"
            }
            if let handshake = diagnosis.handshake {
                out += "Trace of the handshake with your client settings:\n" + TLSTraceRenderer().render(handshake, format: .summary)
            }
        }
        return out
    }

    struct JSONReport: Encodable {
        struct Version: Encodable {
            let offered: String
            let result: String
            let cipherSuite: String?
            let detail: String
        }
        let host: String
        let port: Int
        let versions: [Version]
        let handshakeError: String?
        let findings: [Finding]
        let exitCode: Int32
    }

    static func json(_ diagnosis: Diagnosis) -> String {
        let versions = diagnosis.probes.map { probe -> JSONReport.Version in
            switch probe.outcome {
            case .accepted(let suite): return .init(offered: probe.offered.description, result: "accepted", cipherSuite: suite.description, detail: probe.detail)
            case .otherVersion: return .init(offered: probe.offered.description, result: "other-version", cipherSuite: nil, detail: probe.detail)
            case .alert: return .init(offered: probe.offered.description, result: "alert", cipherSuite: nil, detail: probe.detail)
            case .closed: return .init(offered: probe.offered.description, result: "closed", cipherSuite: nil, detail: probe.detail)
            case .timedOut: return .init(offered: probe.offered.description, result: "timeout", cipherSuite: nil, detail: probe.detail)
            case .notTLS: return .init(offered: probe.offered.description, result: "not-tls", cipherSuite: nil, detail: probe.detail)
            }
        }
        let report = JSONReport(host: diagnosis.host, port: diagnosis.port, versions: versions, handshakeError: diagnosis.handshakeError, findings: diagnosis.findings, exitCode: diagnosis.exitCode)
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return (try? encoder.encode(report)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}
