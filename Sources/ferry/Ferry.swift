import ArgumentParser
import FerryClient
import FerryProtocol
import Foundation

/// The `ferry` command: secure file transfer over mutual TLS.
@main
struct Ferry: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ferry",
        abstract: "Secure file transfer between partners over mutually authenticated TLS.",
        discussion: """
            Quick start: `ferry demo` runs a local server, a transfer and its verification.

            Exit codes of send, get, ls and rm:
              0  success
              1  usage or configuration error
              2  TLS handshake failed (the cause is printed)
              3  rejected by the server (4xx)
              4  integrity failure (SHA-256 mismatch; nothing is kept under the final name)
              5  network or server failure
              6  local I/O error
              7  ferry queue add --wait: the entry was cancelled
            """,
        version: "0.1.0",
        subcommands: [
            Demo.self, Serve.self, Send.self, Get.self, List.self, Remove.self, History.self, Trace.self, Diagnose.self,
            Explain.self, Config.self, Certs.self, Queue.self, ScheduleCommand.self, ActionsCommand.self, Convert.self,
            LedgerCommand.self,
        ]
    )
}

extension Ferry {
    /// `--trace` may stand alone (meaning `--trace=summary`) or take a value with `=`.
    static func main() async {
        let arguments = CommandLine.arguments.dropFirst().map { $0 == "--trace" ? "--trace=summary" : $0 }
        do {
            var command = try parseAsRoot(Array(arguments))
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            // A usage error exits 1 as the exit codes above say (ArgumentParser's own is 64).
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(FerryExitCode.usage.rawValue)
            }
            exit(withError: error)
        }
    }
}

/// Prints an error the way every command does and picks the exit code.
enum Failure {
    static func exit(_ error: any Error) -> ExitCode {
        if let error = error as? TransferError {
            printError(error.message)
            return ExitCode(FerryExitCode(error.code).rawValue)
        }
        printError(String(describing: error))
        return ExitCode(FerryExitCode.usage.rawValue)
    }

    static func printError(_ message: String) {
        FileHandle.standardError.write(Data(("ferry: " + message + "\n").utf8))
    }
}
