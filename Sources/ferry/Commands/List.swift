import ArgumentParser
import FerryClient
import FerryLedger
import FerryProtocol
import Foundation

struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls",
        abstract: "List a folder on a partner's server.",
        discussion:
            "TARGET is https://HOST:PORT/PATH or PARTNER:PATH; the top of your area is https://HOST:PORT/. Folders end in /, symbolic links (which the server never follows) in @; --json prints the listing as the server sent it."
    )

    @Argument(help: "The remote folder.")
    var target: String

    @OptionGroup var options: ClientOptions

    func run() async throws {
        do {
            let listing = try await options.withClient(target: target, operation: .list, direction: .inbound) {
                client,
                remote in
                try await client.list(remote)
            }
            if options.json {
                JSONOutput.print(listing)
                return
            }
            for entry in listing.entries {
                let size = entry.size.map { ByteFormat.size($0) } ?? "-"
                // As `ls -F`: a folder ends in /, a symbolic link (which the server never follows) in @.
                let name = entry.name + (entry.type == "directory" ? "/" : entry.type == "link" ? "@" : "")
                print(
                    TerminalText.escaped(
                        "\(size.padding(toLength: 12, withPad: " ", startingAt: 0)) \((entry.modified ?? "").padding(toLength: 21, withPad: " ", startingAt: 0)) \(name)"
                    )
                )
            }
        } catch {
            throw Failure.exit(error)
        }
    }
}
