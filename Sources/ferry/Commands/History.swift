import FerryProtocol
import ArgumentParser
import FerryConfig
import FerryLedger
import Foundation

struct History: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the transfer ledger, newest first.",
        discussion: "By default the client ledger; --server reads the server's (<root>/.ferry/ledger.sqlite)."
    )

    @Option(name: .long, help: "Configuration file (YAML).")
    var config: String?

    @Flag(name: .long, help: "Read the server's ledger instead of the client's.")
    var server = false

    @Option(name: .long, help: "With --server: the served root. Default from the config, else ./ferry-data.")
    var root: String?

    @Option(name: .long, help: "Read this ledger file.")
    var ledger: String?

    @Option(name: .long, help: "How many transfers to show.")
    var limit = 20

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func run() async throws {
        do {
            var overrides: [String: String] = [:]
            if let root { overrides["root"] = root }
            let configuration = try await ConfigLoader.load(file: config, overrides: overrides)
            let path = ledger ?? (server ? configuration.resolvedServerLedger : configuration.resolvedClientLedger)
            guard FileManager.default.fileExists(atPath: path) else {
                Failure.printError("no ledger at \(path) yet: nothing has been transferred" + (server ? " to this server" : " by this user"))
                throw ExitCode(1)
            }
            let store = try await Ledger.open(path: path)
            let entries = try await store.recent(limit: limit)
            try await store.close()
            if json {
                JSONOutput.print(entries)
                return
            }
            let formatter = ISO8601DateFormatter()
            for entry in entries {
                let status = entry.result == .ok ? "ok" : "FAILED"
                print(TerminalText.escaped("\(formatter.string(from: entry.ended)) \(entry.direction.rawValue.padding(toLength: 3, withPad: " ", startingAt: 0)) \(entry.operation.padding(toLength: 6, withPad: " ", startingAt: 0)) \(status.padding(toLength: 6, withPad: " ", startingAt: 0)) \(entry.partner) \(entry.path) \(entry.bytes) B \(entry.tlsVersion ?? "-") \(entry.cipherSuite ?? "-")" + (entry.error.map { "  error: \($0)" } ?? "") + (entry.findings.isEmpty ? "" : "  findings: \(entry.findings.joined(separator: ", "))")))
            }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            Failure.printError(String(describing: error))
            throw ExitCode(1)
        }
    }
}
