import ArgumentParser
import FerryDiagnosis
import Foundation

struct Explain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Explain a TLS alert, an IBM System SSL return code, or a TLS error message.",
        discussion: """
            Accepts an alert number or name (47, illegal_parameter), a System SSL return code in any usual form \
            (410, RC = 410, 0000019A, a whole gsk_secure_socket_init line), an OpenSSL/BoringSSL/GnuTLS/Java \
            error string, or a whole log line with several codes. Prints the meaning, usual causes, how to \
            confirm with a ferry command, and fixes. Wording not confirmed from IBM's documentation is marked.
            """
    )

    @Argument(parsing: .remaining, help: "The code, message or log line.")
    var text: [String]

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func validate() throws {
        if text.isEmpty { throw ValidationError("give a code, an alert or an error message to explain") }
    }

    func run() async throws {
        let input = text.joined(separator: " ")
        let explanations = Explainer.explain(input)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            print((try? encoder.encode(explanations)).map { String(decoding: $0, as: UTF8.self) } ?? "[]")
        } else {
            for explanation in explanations { print(explanation.text) }
        }
        if explanations.isEmpty {
            Failure.printError(
                "nothing in '\(input)' is a TLS alert, a System SSL return code or a known TLS error message"
            )
            throw ExitCode(1)
        }
    }
}
