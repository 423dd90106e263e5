import ArgumentParser
import FerryClient
import FerryLedger
import Foundation

struct Remove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm",
        abstract: "Delete a file (or an empty folder) on a partner's server."
    )

    @Argument(help: "The remote file: https://HOST:PORT/PATH or PARTNER:PATH.")
    var target: String

    @OptionGroup var options: ClientOptions

    func run() async throws {
        do {
            let remote = try await options.withClient(target: target, operation: .delete, direction: .outbound) {
                client,
                remote in
                try await client.remove(remote)
                return remote
            }
            if options.json {
                JSONOutput.print(["deleted": "\(remote.path)"])
            } else {
                print("deleted \(remote.path)")
            }
        } catch {
            throw Failure.exit(error)
        }
    }
}
