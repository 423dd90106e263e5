import ArgumentParser
import FerryTLS
import Foundation

struct Certs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make certificates.",
        subcommands: [Init.self]
    )

    struct Init: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a dev PKI: a CA, a server certificate and client certificates (P-256).",
            discussion: """
                Writes ca.pem, ca-key.pem, server.pem, server-key.pem and clients/NAME.pem, clients/NAME-key.pem. \
                The server certificate names localhost, 127.0.0.1, ::1 and every --server-name (EKU serverAuth); \
                each client certificate has CN=NAME (its partner name) and EKU clientAuth. Keys are mode 0600.
                """
        )

        @Option(name: .long, help: "Folder for the files.")
        var dir = DevPKI.defaultDirectory

        @Option(
            name: .customLong("server-name"),
            help: "Extra DNS name or IP address for the server certificate (repeatable)."
        )
        var serverNames: [String] = []

        @Option(
            name: .customLong("client"),
            help: "Client (partner) name to issue a certificate for (repeatable). Default: dev."
        )
        var clients: [String] = []

        @Flag(name: .long, help: "Overwrite existing files.")
        var force = false

        func run() async throws {
            let pki = DevPKI(directory: dir)
            do {
                let written = try pki.create(
                    serverNames: serverNames,
                    clients: clients.isEmpty ? [DevPKI.defaultClient] : clients,
                    force: force
                )
                print("wrote \(written.count) files in \(dir):")
                for file in written { print("  \(file)") }
            } catch {
                Failure.printError(String(describing: error))
                throw ExitCode(1)
            }
        }
    }
}
