import ArgumentParser
import FerryConfig
import FerryDiagnosis
import FerryProtocol
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
        guard let target = DiagnosisTarget.parse(target, configuration: configuration) else {
            Failure.printError("'\(self.target)' is not HOST:PORT, an https:// URL or a partner in the config")
            throw ExitCode(1)
        }
        let diagnoser: Diagnoser
        do {
            diagnoser = try Diagnoser(
                target: target,
                sni: sni,
                profile: profileOptions.profile(configuration: configuration, partner: target.partner)
            )
        } catch {
            Failure.printError(String(describing: error))
            throw ExitCode(1)
        }
        let diagnosis = await diagnoser.run()
        if json {
            print(DiagnosisReport.json(diagnosis))
        } else {
            print(
                TerminalText.escaped(DiagnosisReport.text(diagnosis, verbose: verbose), keepingNewlines: true),
                terminator: ""
            )
        }
        throw ExitCode(diagnosis.exitCode)
    }
}
