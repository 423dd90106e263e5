import ArgumentParser
import FerryDaemon
import FerryProtocol
import FerryQueue
import Foundation
import NIOHTTP1

/// `ferry actions`: what the daemon's actions did.
struct ActionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "actions",
        abstract: "Show what the daemon's actions (actions.NAME in the config) did with each event.",
        discussion: """
            Each event an action matches is a delivery: pending (with its next attempt), done, or failed after \
            actions.NAME.retries attempts, with a command's exit status and the end of its output, a webhook's \
            answer, or the error. Events: transfer.queued, .started, .retrying, .done, .failed, .cancelled, \
            file.received, handshake.failed, certificate.expiring (docs/queue.md).
            """,
        subcommands: [ActionsList.self]
    )
}

struct ActionsList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List deliveries, newest first.")

    @OptionGroup var daemon: DaemonOptions

    @Option(name: .long, help: "Only deliveries in these states (comma-separated): pending, done, failed.")
    var state: String?

    @Option(name: .long, help: "At most this many (default 100).")
    var limit = 100

    func run() async throws {
        try await daemon.run { client in
            var path = ControlAPI.deliveries + "?limit=\(limit)"
            if let state {
                path +=
                    "&state=" + (state.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union([","])) ?? "")
            }
            let deliveries = try await client.call(.GET, path, as: [DeliveryView].self)
            daemon.print(deliveries) {
                deliveries.isEmpty
                    ? "no deliveries"
                    : deliveries.map { delivery in
                        let event = delivery.event
                        let subject = [event.partner, event.remote ?? event.local].compactMap { $0 }.joined(
                            separator: " "
                        )
                        return
                            "\(QueueText.time(event.time))  \(delivery.action)  \(event.type) \(TerminalText.escaped(subject))  \(delivery.state) (attempts \(delivery.attempts))"
                            + (delivery.detail.map { "\n    " + TerminalText.escaped(String($0.prefix(500))) } ?? "")
                    }.joined(separator: "\n")
            }
        }
    }
}
