import ArgumentParser
import FerryProtocol
import FerryTrace
import FerryWire
import Foundation
import NIOCore

struct Trace: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Decode the TLS handshakes in a capture file (pcap or pcapng).",
        discussion: """
            Reads pcap and pcapng files (Ethernet, Linux cooked v1/v2, raw IP, BSD loopback; IPv4 and IPv6), \
            reassembles every TCP connection, and prints each TLS connection's handshake: one line per \
            record or flight, `->` for what the client sent. Encrypted records are decrypted with keys from \
            the file's Decryption Secrets Blocks or --keylog (an NSS key log, as written by SSLKEYLOGFILE or \
            `ferry send --pcapng`); without keys they are shown as encrypted, with the reason.

            Exit status: 0 when at least one TLS connection was found, 1 otherwise.
            """
    )

    @Argument(help: "The capture file (pcap or pcapng).")
    var file: String

    @Option(name: .long, help: "An NSS key log file (SSLKEYLOGFILE format) with the connections' secrets.")
    var keylog: String?

    @Flag(name: .long, help: "Print every field of every message.")
    var verbose = false

    @Flag(name: .long, help: "Print JSON Lines (one object per record; see docs/trace.md).")
    var json = false

    @Option(name: .long, help: "Only connections with this endpoint: HOST:PORT, or :PORT.")
    var filter: String?

    func validate() throws {
        if verbose && json { throw ValidationError("choose one of --verbose and --json") }
    }

    func run() async throws {
        guard let data = FileManager.default.contents(atPath: file) else {
            Failure.printError("cannot read \(file): no such file or not readable")
            throw ExitCode(1)
        }
        let capture: CaptureFile
        do {
            capture = try CaptureFile(bytes: ByteBuffer(bytes: data))
        } catch {
            Failure.printError("\(file): \(error.description)")
            throw ExitCode(1)
        }
        var keys = TLSKeyLog()
        if let keylog {
            guard let text = try? String(contentsOfFile: keylog, encoding: .utf8) else {
                Failure.printError("cannot read the key log \(keylog)")
                throw ExitCode(1)
            }
            keys = TLSKeyLog(text: text)
            if keys.lines.isEmpty {
                Failure.printError(
                    "\(keylog) holds no key-log lines (expected 'CLIENT_RANDOM <random> <secret>' and the like)"
                )
                throw ExitCode(1)
            }
        }
        let trace = CaptureTrace(file: capture, extraKeys: keys, filter: filter)
        let rendered = trace.render(format: json ? .json : verbose ? .verbose : .summary)
        // JSON escapes control characters itself; text is made safe for the terminal.
        print(json ? rendered : TerminalText.escaped(rendered, keepingNewlines: true), terminator: "")
        if trace.tlsConnectionCount == 0 {
            Failure.printError(
                "no TLS connection in \(file)" + (filter.map { " matching \($0)" } ?? "")
                    + " (\(trace.connections.count) TCP connections, \(capture.packets.count) packets)"
            )
            throw ExitCode(1)
        }
    }
}
