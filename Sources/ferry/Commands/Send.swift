import ArgumentParser
import FerryClient
import Foundation

struct Send: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Upload files to a partner.",
        discussion: """
            TARGET is https://HOST:PORT/PATH or PARTNER:PATH (partners come from the config file).
            With several files, or a TARGET ending in '/', each file keeps its name inside that folder.
            Each file is streamed, its SHA-256 computed while reading and compared with the server's.

            Example: ferry send report.csv https://localhost:8443/inbound/
            """
    )

    @Argument(help: ArgumentHelp("Files to send, then the TARGET.", valueName: "file-or-target"))
    var arguments: [String]

    @OptionGroup var options: ClientOptions

    func validate() throws {
        guard arguments.count >= 2 else {
            throw ValidationError("give at least one FILE and a TARGET, e.g. `ferry send a.csv https://localhost:8443/in/`")
        }
    }

    func run() async throws {
        do {
            let files = Array(arguments.dropLast())
            let results = try await options.withClient(target: arguments.last!) { client, target in
                try await client.send(files: files, to: target)
            }
            for result in results {
                if options.json { JSONOutput.print(result) } else { print(Report.line(result)) }
            }
        } catch {
            throw Failure.exit(error)
        }
    }
}

/// One-line human reports of transfers.
enum Report {
    static func line(_ result: TransferResult) -> String {
        let arrow = result.operation == "send" ? "->" : "<-"
        let rate = ByteFormat.size(Int64(result.bytesPerSecond)) + "/s"
        return "\(result.local) \(arrow) \(result.remote)  \(ByteFormat.size(result.bytes)) in \(String(format: "%.2f", result.seconds)) s (\(rate))  sha256 \(result.sha256) verified  [\(result.tlsVersion ?? "?") \(result.cipherSuite ?? "?")]"
    }
}
