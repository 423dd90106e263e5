import ArgumentParser
import FerryClient
import FerryLedger
import Foundation

struct Get: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Download a file from a partner.",
        discussion: """
            SOURCE is https://HOST:PORT/PATH or PARTNER:PATH. LOCAL is a file name or an existing folder \
            (default: the remote name in the current folder). The file is written to LOCAL.part and renamed \
            only after its SHA-256 matched the server's.

            With --text the file is converted from the partner's code page (--codepage, --records) to text \
            after it arrived and was verified; an interrupted download resumes on the bytes as received.

            Examples:
              ferry get acme:outbound/rates.csv
              ferry get --text --codepage IBM-037 --records vb mainframe:out/REPORT report.txt
            """
    )

    @Argument(help: "The remote file.")
    var source: String

    @Argument(help: "Where to write it.")
    var local: String?

    @OptionGroup var options: ClientOptions

    @OptionGroup(title: "Text mode") var textMode: TextModeOptions

    func validate() throws { _ = try textMode.conversion() }

    func run() async throws {
        do {
            let local = self.local
            let text = try textMode.conversion()
            let result = try await options.withClient(
                target: source,
                operation: .get,
                direction: .inbound,
                adjust: { $0.text = text }
            ) { client, target in
                try await client.get(target, to: local)
            }
            if options.json { JSONOutput.print(result) } else { print(Report.line(result)) }
        } catch {
            throw Failure.exit(error)
        }
    }
}
