public import ArgumentParser
import FerryClient
import FerryConfig
import FerryLedger
import FerryProtocol
import FerryTLS
import FerryTrace
import Foundation
import NIOCore

/// The options that pick the client's TLS profile: the configuration, and flags that override it.
struct ProfileOptions: ParsableArguments {
    @Option(name: .long, help: "Configuration file (YAML). Default: $FERRY_CONFIG, else none.")
    var config: String?

    @Option(name: .long, help: "Client certificate (PEM), the identity presented to the server.")
    var cert: String?

    @Option(name: .long, help: "Private key (PEM) of --cert.")
    var key: String?

    @Option(name: .long, help: "CA file (PEM) trusted for the server's certificate.")
    var ca: String?

    func validate() throws {
        if (cert == nil) != (key == nil) {
            throw ValidationError("--cert and --key go together")
        }
    }

    /// The client TLS profile for a partner (or none); the precedence is `FerryConfiguration.clientProfile`'s.
    func profile(configuration: FerryConfiguration, partner: String?) -> ClientTLSProfile {
        configuration.clientProfile(
            partner: partner,
            overrides: ClientProfileOverrides(certificate: cert, privateKey: key, trustedCA: ca)
        )
    }
}

/// Options shared by the client commands.
struct ClientOptions: ParsableArguments {
    @OptionGroup var profileOptions: ProfileOptions

    @Flag(name: .long, help: "Print results as JSON for scripts.")
    var json = false

    @Flag(name: .long, help: "Do not record the transfer in the client ledger.")
    var noLedger = false

    @Option(
        name: .long,
        help: ArgumentHelp(
            "The server name to send in SNI and to check the server's certificate against, when it differs from the host in the URL (e.g. connecting by IP address or through a tunnel).",
            valueName: "name"
        )
    )
    var sni: String?

    @Option(
        name: .long,
        help: "Seconds with nothing moving on a connection before it counts as stalled (then retried)."
    )
    var timeout: Int = 300

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Print each connection's TLS handshake trace on standard error: --trace (summary), --trace=verbose (every field) or --trace=json (JSON Lines).",
            valueName: "format"
        )
    )
    var trace: TLSTraceRenderer.Format?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Write the connections' handshakes (up to each side's Finished, no application data) to a new pcapng file (mode 0600, never over an existing file), with the TLS 1.3 handshake secrets in a Decryption Secrets Block: tshark and Wireshark show the handshake decrypted.",
            valueName: "file"
        )
    )
    var pcapng: String?

    @Option(
        name: .customLong("limit-rate"),
        help: "Bandwidth limit per file, up or down, in bytes per second; K, M, G suffixes (binary)."
    )
    var limitRate: String?

    var rateLimit: Int64? { limitRate.flatMap(Self.rate) }

    /// A `--limit-rate` value in bytes per second: a number with an optional K, M or G (binary); nil when not one.
    static func rate(_ text: String) -> Int64? {
        guard let last = text.uppercased().last else { return nil }
        let factors: [Character: Int64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
        if let factor = factors[last] { return Int64(text.dropLast()).map { $0 * factor } }
        return Int64(text)
    }

    func validate() throws {
        guard timeout > 0 else { throw ValidationError("--timeout must be a positive number of seconds") }
        if limitRate != nil, (rateLimit ?? 0) <= 0 {
            throw ValidationError("--limit-rate must be a positive number of bytes per second, e.g. 500K or 20M")
        }
        if let pcapng {
            // Checked before anything is sent: the capture is created new (0600, O_EXCL) once the command ends.
            do { try SecretCaptureFile.checkTarget(pcapng) } catch { throw ValidationError("--pcapng: \(error)") }
        }
    }

    /// Loads the configuration and picks the TLS profile for a target: flags, then the partner's profile, then
    /// the config's client profile, then the dev PKI in `./.ferry/pki` when run next to a dev server.
    func withClient<Result>(
        target text: String,
        operation: LedgerEntry.Operation,
        direction: LedgerEntry.Direction,
        adjust: (inout TransferClient) -> Void = { _ in },
        _ body: (TransferClient, RemoteTarget) async throws -> Result
    ) async throws -> Result {
        var (client, target) = try await prepare(target: text)
        adjust(&client)
        return try await client.session(target: target, operation: operation, direction: direction, body)
    }

    private func prepare(target text: String) async throws -> (TransferClient, RemoteTarget) {
        let configuration = try await ConfigLoader.load(file: profileOptions.config)
        var target = try RemoteTarget.parse(text, configuration: configuration)
        if let sni { target.serverName = sni }
        let profile = profileOptions.profile(configuration: configuration, partner: target.partner)
        let tls: ResolvedClientTLS
        do {
            tls = try profile.makeConfiguration()
        } catch {
            throw TransferError(.usage, error.description)
        }
        for warning in tls.warnings { Failure.printError("warning: \(warning)") }
        for note in configuration.xcomNotes { Failure.printError("note: \(note.message)") }
        var ledger: (any Ledger)?
        if !noLedger {
            ledger = try? await SQLiteLedger.open(path: configuration.resolvedClientLedger)
        }
        var client = TransferClient(tls: tls, ledger: ledger, progress: ProgressDisplay(enabled: json ? false : nil))
        client.resumeDirectory = configuration.resolvedClientResumeDirectory
        client.stallTimeout = .seconds(Int64(timeout))
        client.rateLimit = rateLimit
        client.notify = { message in Failure.printError(message) }
        if trace != nil || pcapng != nil {
            client.trace = TraceCollector(format: trace, pcapngPath: pcapng) { text in
                FileHandle.standardError.write(
                    Data((trace == .json ? text : TerminalText.escaped(text, keepingNewlines: true)).utf8)
                )
            }
        }
        return (client, target)
    }
}

/// JSON output helpers.
enum JSONOutput {
    static func print<T: Encodable>(_ value: T) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        do {
            Swift.print(String(decoding: try encoder.encode(value), as: UTF8.self))
        } catch {
            // Never silence: a value JSON cannot hold is a bug to see, not an empty answer.
            Failure.printError("cannot write this as JSON: \(error)")
        }
    }
}

extension TLSTraceRenderer.Format: ExpressibleByArgument {}
