import ArgumentParser
import FerryConfig
import FerryDiagnosis
import Foundation

#if canImport(Glibc)
import Glibc
#endif

struct Config: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a configuration, or import an XCOM configssl.cnf.",
        subcommands: [Check.self, Import.self]
    )

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Lint a Ferry configuration (YAML) or an XCOM configssl.cnf.",
            discussion: """
                Reads every certificate, key and CA file the TLS profiles name and reports all problems at once, \
                in the diagnoser's format (most severe first; evidence, the rule and the fixes): unreadable or \
                missing files, keys that do not match their certificate, encrypted keys without the right pass \
                phrase, certificates expired or expiring within --days, missing serverAuth/clientAuth EKU, CA files \
                holding non-CA certificates, chains deeper than verify-depth, '$' problems in a configssl.cnf, \
                SSLv3/TLS 1.0 enabled, verification off, and CA names off while client certificates are requested.

                An XCOM file is recognised by its .cnf extension or by a [SECTION] as its first setting. \
                Exit status: 0 nothing found, 1 warnings only, 2 errors.
                """
        )

        @Argument(help: "The file to check. Default: $FERRY_CONFIG.")
        var file: String?

        @Option(name: .long, help: "Warn about certificates that expire within this many days.")
        var days: Int = 30

        @Flag(name: .long, help: "Print JSON.")
        var json = false

        func run() async throws {
            guard
                let file = file
                    ?? ProcessInfo.processInfo.environment["FERRY_CONFIG"].flatMap({ $0.isEmpty ? nil : $0 })
            else {
                throw ValidationError(
                    "name the file to check (a Ferry YAML or an XCOM configssl.cnf), or set FERRY_CONFIG"
                )
            }
            let report = await ConfigCheck.check(file: file, warningWindow: Double(days) * 86_400)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
            } else {
                print(report.text, terminator: "")
            }
            throw ExitCode(report.exitCode)
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the Ferry YAML equivalent of an XCOM configssl.cnf.",
            discussion: """
                RECEIVE_SIDE becomes server.tls, INITIATE_SIDE client.tls; each key carries a comment naming the \
                XCOM section it came from. Pass phrases are not copied: the YAML names an environment variable \
                instead. Relative paths are resolved against the file's folder. SSLv3-only methods are refused \
                with the reason; z/OS key ring sections are explained in comments.
                """
        )

        @Argument(help: "The configssl.cnf file.")
        var file: String

        @Option(
            name: [.short, .long],
            help: "Write the YAML to this file instead of standard output (refuses to overwrite)."
        )
        var output: String?

        func run() async throws {
            let yaml: String
            do {
                yaml = try XCOMSSLConfig.load(file).ferryYAML()
            } catch {
                Failure.printError(String(describing: error))
                throw ExitCode(1)
            }
            guard let output else {
                print(yaml, terminator: "")
                return
            }
            let descriptor = open(output, O_WRONLY | O_CREAT | O_EXCL, 0o600)
            guard descriptor >= 0 else {
                Failure.printError(
                    errno == EEXIST
                        ? "\(output) exists; choose another name or remove it first"
                        : "cannot create \(output): \(String(cString: strerror(errno)))"
                )
                throw ExitCode(1)
            }
            let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
            handle.write(Data(yaml.utf8))
            print("wrote \(output); check it with `ferry config check \(output)`")
        }
    }
}
