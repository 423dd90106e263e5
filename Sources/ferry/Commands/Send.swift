import ArgumentParser
import FerryClient
import FerryLedger
import Foundation

struct Send: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Upload files to a partner.",
        discussion: """
            TARGET is https://HOST:PORT/PATH or PARTNER:PATH (partners come from the config file). \
            With several files, or a TARGET ending in '/', each file keeps its name inside that folder; \
            with --recursive a folder is sent with everything under it, under its own name (as scp -r does).

            Each file is streamed, its SHA-256 computed while reading and compared with the server's. \
            Files from --threshold MiB up are resumable: after a drop the upload retries and continues, and \
            rerunning the same command after a crash continues where the server stopped. Files up to 1 MiB \
            going into a folder travel in batches (many files per request, each checked and committed on \
            its own); --mode put sends one request per file. Each file is reported as soon as it is verified.

            Examples:
              ferry send report.csv https://localhost:8443/inbound/
              ferry send -r outbox/ acme:inbound/
              ferry send --text --codepage IBM-1047 --records fb:80 payroll.txt mainframe:in/PAYROLL
            """
    )

    @Argument(help: ArgumentHelp("Files to send, then the TARGET.", valueName: "file-or-target"))
    var arguments: [String]

    @OptionGroup var options: ClientOptions

    @OptionGroup(title: "Text mode") var textMode: TextModeOptions

    @Flag(name: [.short, .long], help: "Send folders with the files under them.")
    var recursive = false

    @Option(
        name: .long,
        help:
            "Upload protocol: auto (small files in batches, resumable from --threshold up), tus (always resumable), put (one request per file)."
    )
    var mode: String = "auto"

    @Option(name: .long, help: "Connections used at once for files below the threshold (each sends its share in turn).")
    var parallel: Int = 4

    @Option(name: .long, help: "Size in MiB from which auto mode uses resumable uploads.")
    var threshold: Int = 8

    @Option(name: .long, help: "Retries after a dropped connection, a timeout or a 5xx (resumable uploads).")
    var retries: Int = 5

    @Option(
        name: .customLong("retry-wait"),
        help: "Seconds before the first retry; doubles each time (with jitter), up to 30 s."
    )
    var retryWait: Double = 1

    func validate() throws {
        guard arguments.count >= 2 else {
            throw ValidationError(
                "give at least one FILE and a TARGET, e.g. `ferry send a.csv https://localhost:8443/in/`"
            )
        }
        guard ["auto", "tus", "put"].contains(mode) else { throw ValidationError("--mode must be auto, tus or put") }
        guard threshold >= 0, retries >= 0, retryWait >= 0 else {
            throw ValidationError("--threshold, --retries and --retry-wait cannot be negative")
        }
        guard (1...64).contains(parallel) else { throw ValidationError("--parallel must be between 1 and 64") }
        _ = try textMode.conversion()
    }

    func run() async throws {
        do {
            let files = Array(arguments.dropLast())
            let mode: TransferClient.UploadMode =
                switch self.mode {
                case "tus": .resumable
                case "put": .whole
                default: .automatic(threshold: Int64(threshold) << 20)
                }
            let retry = RetryPolicy(retries: retries, baseWait: retryWait)
            let json = options.json
            let text = try textMode.conversion()
            _ = try await options.withClient(
                target: arguments.last!,
                operation: .send,
                direction: .outbound,
                adjust: { client in
                    client.uploadMode = mode
                    client.parallelism = parallel
                    client.recursive = recursive
                    client.retry = retry
                    client.text = text
                    // Each file is reported when it is done, so a failure later on does not hide what was sent.
                    client.report = { result in
                        if json { JSONOutput.print(result) } else { print(Report.line(result)) }
                    }
                }
            ) { client, target in
                try await client.send(files: files, to: target)
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
        let resumed =
            result.resumedFrom > 0
            ? " (resumed at \(ByteFormat.size(result.resumedFrom)), sent \(ByteFormat.size(result.sentThisRun)) this run)"
            : ""
        let text = result.conversion.map { "\n  text mode: \($0); local file sha256 \(result.fileSHA256 ?? "?")" } ?? ""
        return
            "\(result.local) \(arrow) \(result.remote)  \(ByteFormat.size(result.bytes)) in \(String(format: "%.2f", result.seconds)) s (\(rate))\(resumed)  sha256 \(result.sha256) verified  [\(result.tlsVersion ?? "?") \(result.cipherSuite ?? "?")]\(text)"
    }
}
