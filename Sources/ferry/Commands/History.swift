import ArgumentParser
import FerryConfig
import FerryDaemon
import FerryLedger
import FerryProtocol
import FerryServer
import Foundation
import NIOHTTP1

struct History: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the transfer ledger, newest first.",
        discussion:
            "By default the client ledger; --server reads the server's: through the running server's control socket (<root>/.ferry/control.sock) when it answers, so no database credentials or file access are needed, else from <root>/.ferry/ledger.sqlite or the PostgreSQL database that database.url names. --ledger FILE reads that file."
    )

    /// Which ledger: the same options and choice as `ferry ledger`.
    @OptionGroup var source: LedgerCommand.Source

    @Option(name: .long, help: "How many transfers to show (at most 10000).")
    var limit = 20

    @Option(name: .long, help: "Only this partner's transfers.")
    var partner: String?

    @Option(
        name: .long,
        help:
            "Only this operation: PUT, GET, DELETE, TUS, LIST, SEND, TLS (failed handshakes) or ACTION (what actions did)."
    )
    var operation: String?

    @Flag(name: .long, help: "Only failed transfers and handshakes.")
    var failed = false

    @Option(
        name: .long,
        help:
            "Only transfers that ended in this past period (24h, 7d) or since this time (ISO 8601, e.g. 2026-12-01T00:00:00Z)."
    )
    var since: String?

    @Option(name: .long, help: "Only paths that start with this text.")
    var path: String?

    @Option(name: .long, help: "Continue after the last row of an earlier page (the cursor `--json` prints as `next`).")
    var after: String?

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func run() async throws {
        do {
            let query = try self.query()
            let page: (entries: [LedgerEntry], next: String?)
            if let answered = try await throughDaemon(query) {
                page = answered
            } else {
                let store = try await source.open()
                let read = try await store.transfers(query)
                try await store.close()
                page = (read.entries, read.next?.description)
            }
            let entries = page.entries
            if json {
                JSONOutput.print(entries)
                if let next = page.next { Failure.printError("more rows: continue with --after \(next)") }
                return
            }
            let formatter = ISO8601DateFormatter()
            for entry in entries {
                let status = entry.result == .ok ? "ok" : "FAILED"
                print(
                    TerminalText.escaped(
                        "\(formatter.string(from: entry.ended)) \(entry.direction.rawValue.padding(toLength: 3, withPad: " ", startingAt: 0)) \(entry.operation.name.padding(toLength: 6, withPad: " ", startingAt: 0)) \(status.padding(toLength: 6, withPad: " ", startingAt: 0)) \(entry.partner) \(entry.path) \(entry.bytes) B \(entry.tlsVersion ?? "-") \(entry.cipherSuite ?? "-")"
                            + (entry.error.map { "  error: \($0)" } ?? "")
                            + (entry.findings.isEmpty ? "" : "  findings: \(entry.findings.joined(separator: ", "))")
                    )
                )
            }
            if let next = page.next { print("more: ferry history --after \(next) (with the same filters)") }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            Failure.printError(String(describing: error))
            throw ExitCode(1)
        }
    }

    /// The server's ledger as its running daemon serves it (`GET /v1/transfers` on the control socket); nil when no
    /// daemon with the admin plane answers there (none runs, or `--no-listen`), or for the client's ledger or a file.
    func throughDaemon(_ query: LedgerQuery) async throws -> (entries: [LedgerEntry], next: String?)? {
        guard source.server, source.ledger == nil else { return nil }
        var overrides: [String: String] = [:]
        if let root = source.root { overrides["root"] = root }
        let socket = try await ConfigLoader.load(file: source.config, overrides: overrides).resolvedControlSocket
        guard FileManager.default.fileExists(atPath: socket) else { return nil }
        var items: [URLQueryItem] = [URLQueryItem(name: "limit", value: String(query.limit))]
        if let partner = query.partner { items.append(URLQueryItem(name: "partner", value: partner)) }
        if let result = query.result { items.append(URLQueryItem(name: "result", value: result.rawValue)) }
        if let operation = query.operation { items.append(URLQueryItem(name: "operation", value: operation.name)) }
        if let path = query.pathPrefix { items.append(URLQueryItem(name: "path", value: path)) }
        if let since = query.since {
            items.append(URLQueryItem(name: "since", value: ISO8601DateFormatter().string(from: since)))
        }
        if let after = query.after { items.append(URLQueryItem(name: "after", value: after.description)) }
        var components = URLComponents()
        components.path = ControlAPI.transfers
        components.queryItems = items
        // `+` is a space in a query: a partner or path with one must keep it.
        let target = (components.string ?? ControlAPI.transfers).replacingOccurrences(of: "+", with: "%2B")
        do {
            let page = try await ControlClient(socketPath: socket).call(.GET, target, as: DaemonPage.self)
            return (page.transfers, page.next)
        } catch let failure as ControlClient.Failure where failure.status == nil || failure.status == 404 {
            return nil
        }
    }

    /// `GET /v1/transfers`'s answer.
    struct DaemonPage: Decodable {
        var transfers: [LedgerEntry]
        var next: String?
    }

    /// The filters as a ledger query; a value that means nothing is refused with what would.
    func query() throws -> LedgerQuery {
        var query = LedgerQuery(partner: partner, result: failed ? .failed : nil, pathPrefix: path, limit: limit)
        if let operation {
            guard let known = LedgerEntry.Operation.named(operation) else {
                throw ValidationError(
                    "--operation '\(operation)' is not one of \(LedgerEntry.Operation.all.map(\.name).joined(separator: ", "))"
                )
            }
            query.operation = known
        }
        if let since {
            if let seconds = try? ConfigLoader.duration(since, key: "--since") {
                query.since = Date(timeIntervalSinceNow: -seconds)
            } else if let date = ISO8601DateFormatter().date(from: since) {
                query.since = date
            } else {
                throw ValidationError(
                    "--since '\(since)' is neither a period (90m, 24h, 7d) nor an ISO 8601 time (2026-12-01T00:00:00Z)"
                )
            }
        }
        if let after {
            guard let cursor = LedgerCursor(after) else {
                throw ValidationError(
                    "--after '\(after)' is not a cursor this ledger printed; copy it from the `more:` line"
                )
            }
            query.after = cursor
        }
        return query
    }
}
