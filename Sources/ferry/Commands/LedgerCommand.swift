public import ArgumentParser
import FerryConfig
public import FerryLedger
import FerryProtocol
import FerryServer
import Foundation

struct LedgerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ledger",
        abstract: "Check that the ledger was not altered, and export it for auditors.",
        discussion: """
            Every ledger row carries a SHA-256 chained to the row before it (one chain per server, one per node on a \
            shared database), so a row changed, removed or inserted breaks the chain at that row. `verify` walks \
            every chain and names the first broken row; `export` writes the rows with their hashes and the chains' \
            heads. Keep the heads an export prints: `verify --heads FILE` then also notices rows cut from the end or \
            a chain rewritten whole. The encoding is in docs/ledger.md.
            """,
        subcommands: [Verify.self, Export.self]
    )

    /// Which ledger, as `ferry history` chooses it.
    struct Source: ParsableArguments {
        @Option(name: .long, help: "Configuration file (YAML).")
        var config: String?

        @Flag(name: .long, help: "The server's ledger instead of the client's.")
        var server = false

        @Option(name: .long, help: "With --server: the served root. Default from the config, else ./ferry-data.")
        var root: String?

        @Option(name: .long, help: "This ledger file.")
        var ledger: String?

        func open() async throws -> any ChainedLedger {
            var overrides: [String: String] = [:]
            if let root { overrides["root"] = root }
            let configuration = try await ConfigLoader.load(file: config, overrides: overrides)
            if server, ledger == nil, configuration.database != nil {
                return try await FerryServer.openLedgerForReading(configuration)
            }
            let path = ledger ?? (server ? configuration.resolvedServerLedger : configuration.resolvedClientLedger)
            guard FileManager.default.fileExists(atPath: path) else {
                throw LedgerError(
                    "no ledger at \(path) yet: nothing has been transferred"
                        + (server ? " to this server" : " by this user")
                )
            }
            return try await SQLiteLedger.open(path: path)
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check every chain of the ledger; exit 4 at the first row that breaks one.",
            discussion:
                "Exit status: 0 every chain holds, 4 a chain is broken (the row is named), 1 the ledger cannot be read."
        )

        @OptionGroup var source: Source

        @Option(
            name: .long,
            help:
                "Heads kept from earlier: the JSON Lines file `ferry ledger export` wrote (its {\"head\": ...} lines)."
        )
        var heads: String?

        @Flag(name: .long, help: "Print JSON.")
        var json = false

        func run() async throws {
            let report: LedgerChain.Report
            do {
                let kept = try heads.map(LedgerExport.heads(in:)) ?? []
                let ledger = try await source.open()
                do {
                    report = try await LedgerChain.verify(ledger, heads: kept)
                } catch {
                    try? await ledger.close()
                    throw error
                }
                try await ledger.close()
            } catch {
                Failure.printError(String(describing: error))
                throw ExitCode(1)
            }
            if json {
                JSONOutput.print(report)
            } else {
                for chain in report.chains {
                    let from = chain.start.seq == 0 ? "its first row" : "anchor \(chain.start.seq)"
                    if let broken = chain.broken {
                        print(
                            TerminalText.escaped(
                                "chain \(chain.chain): BROKEN at seq \(broken.seq)"
                                    + (broken.id.isEmpty ? "" : " (row \(broken.id))") + ": \(broken.reason); "
                                    + "\(chain.rows) rows from \(from) hold, up to seq \(chain.head.seq)"
                            )
                        )
                    } else {
                        print(
                            TerminalText.escaped(
                                "chain \(chain.chain): ok, \(chain.rows) rows from \(from); head seq \(chain.head.seq) \(chain.head.hash)"
                            )
                        )
                    }
                }
                if report.chains.isEmpty { print("no chained rows yet") }
                if report.unchained > 0 {
                    print("\(report.unchained) rows from before the ledger was chained are not covered")
                }
            }
            if !report.intact { throw ExitCode(4) }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the ledger as JSON Lines (with the chains' heads) or CSV, in chain order.",
            discussion: """
                JSON Lines has each row's hashed fields (times in whole microseconds too) and one {"head": ...} line \
                per chain at the end: an auditor can recompute the chain from it alone (docs/ledger.md, \
                scripts/ledger-audit) and give it to `ferry ledger verify --heads` later. CSV is for reading. The heads \
                are also printed on standard error.
                """
        )

        @OptionGroup var source: Source

        @Option(name: .long, help: "jsonl (default) or csv.")
        var format: LedgerExport.Format = .jsonl

        @Option(
            name: .long,
            help: "Write to this file (made whole, then renamed into place) instead of standard output."
        )
        var output: String?

        func run() async throws {
            do {
                let ledger = try await source.open()
                let heads: [ChainStart]
                do {
                    heads = try await export(ledger)
                } catch {
                    try? await ledger.close()
                    throw error
                }
                try await ledger.close()
                for head in heads {
                    Failure.printError("chain \(head.chain): head seq \(head.seq) \(head.hash)")
                }
            } catch {
                Failure.printError(String(describing: error))
                throw ExitCode(1)
            }
        }

        private func export(_ ledger: any ChainedLedger) async throws -> [ChainStart] {
            guard let output else {
                let out = FileHandle.standardOutput
                return try await LedgerExport.write(ledger, format: format) { out.write(Data($0.utf8)) }
            }
            // Never a partial export under the final name.
            let partial = output + ".partial"
            guard FileManager.default.createFile(atPath: partial, contents: nil),
                let file = FileHandle(forWritingAtPath: partial)
            else {
                throw LedgerError("cannot create \(partial); check that the folder exists and is writable")
            }
            do {
                let heads = try await LedgerExport.write(ledger, format: format) {
                    try file.write(contentsOf: Data($0.utf8))
                }
                try file.synchronize()
                try file.close()
                guard rename(partial, output) == 0 else {
                    throw LedgerError("cannot rename \(partial) to \(output): \(String(cString: strerror(errno)))")
                }
                return heads
            } catch {
                try? file.close()
                try? FileManager.default.removeItem(atPath: partial)
                throw error
            }
        }
    }
}

extension LedgerExport.Format: ExpressibleByArgument {}
