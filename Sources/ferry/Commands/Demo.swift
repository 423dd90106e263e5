import ArgumentParser
import Crypto
import FerryClient
import FerryConfig
import FerryDiagnosis
import FerryLedger
import FerryProtocol
import FerryServer
import FerryTLS
import FerryWire
import Foundation
import Logging
import NIOSSL

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Run a complete transfer locally: throwaway PKI, server, upload, download, verification, then a diagnosis of a misconfigured partner.",
        discussion: """
            After the verified round trip, starts a second local server set up the way the partner in Ferry's founding \
            incident was (TLS 1.0 only, client certificates requested with no CA names) and runs ferry diagnose against \
            it. Exits 0 only when every step worked, every digest matched and the diagnosis named the incident's cause \
            (ca-names-empty-illegal) first.
            """
    )

    @Option(name: .long, help: "Size of the generated file in MiB.")
    var size = 4

    @Flag(name: .long, help: "Keep the temporary folder (PKI, served root, ledgers) and print its path.")
    var keep = false

    @Flag(name: .long, help: "Print the report as JSON.")
    var json = false

    func validate() throws {
        guard (1...4096).contains(size) else { throw ValidationError("--size must be 1...4096 MiB") }
    }

    struct Outcome: Codable {
        var ok: Bool
        var port: Int
        var upload: TransferResult
        var download: TransferResult
        var serverLedgerRows: Int
        var serverLedgerTLSVersion: String?
        var partner: String
        var folder: String?
        /// The findings ferry diagnose reported against the misconfigured partner, most severe first.
        var diagnosis: [String]
    }

    func run() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-demo-\(UUID().uuidString.prefix(8))"
        ).path
        defer { if !keep { try? FileManager.default.removeItem(atPath: folder) } }
        var logger = Logger(label: "ferry.demo")
        logger.logLevel = .warning
        do {
            let outcome = try await demo(folder: folder, logger: logger)
            if json {
                JSONOutput.print(outcome)
            }
            if !outcome.ok { throw ExitCode(4) }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            throw Failure.exit(error)
        }
    }

    private func demo(folder: String, logger: Logger) async throws -> Outcome {
        let say: (String) -> Void = { line in if !json { print(line) } }
        let partner = "demo-partner"
        let pki = DevPKI(directory: folder + "/pki")
        try pki.create(clients: [partner])
        say("1. PKI          throwaway CA, server and client certificates (P-256) in \(pki.directory)")

        var configuration = FerryConfiguration()
        configuration.root = folder + "/served"
        configuration.listen = "127.0.0.1:0"
        configuration.serverTLS = .dev(pki)
        let server = try await FerryServer.prepare(configuration: configuration)
        let running = try await RunningServer.start(server, logger: logger)
        say(
            "2. server       https://localhost:\(running.port)  TLS 1.2-1.3, client certificate required, CA names sent"
        )
        do {
            let source = folder + "/source.bin"
            let sourceDigest = try Self.writeRandomFile(source, mebibytes: size)
            say("3. file         \(source) (\(size) MiB, sha256 \(sourceDigest.hex))")

            let tls = try ClientTLSProfile.dev(pki, client: partner).makeConfiguration()
            let clientLedger = try await SQLiteLedger.open(path: folder + "/client-ledger.sqlite")
            let client = TransferClient(tls: tls, ledger: clientLedger)
            let target = RemoteTarget(
                host: "localhost",
                port: running.port,
                path: try PartnerPath(plain: "inbound/source.bin")
            )
            let upload = try await client.send(files: [source], to: target)[0]
            say(
                "4. upload       \(ByteFormat.size(upload.bytes)) in \(String(format: "%.3f", upload.seconds)) s (\(ByteFormat.size(Int64(upload.bytesPerSecond)))/s), server's Repr-Digest matches"
            )
            say("   handshake    \(upload.tlsVersion ?? "?") \(upload.cipherSuite ?? "?")")
            say("   server       \(upload.serverSubject ?? "?") issued by \(upload.serverIssuer ?? "?")")
            say(
                "   client       \(upload.clientSubject ?? "?") -> partner '\(partner)', area \(configuration.root)/\(partner)/"
            )

            let fetched = folder + "/fetched.bin"
            let download = try await client.get(target, to: fetched)
            say(
                "5. download     \(ByteFormat.size(download.bytes)) in \(String(format: "%.3f", download.seconds)) s (\(ByteFormat.size(Int64(download.bytesPerSecond)))/s) into \(fetched)"
            )

            let fetchedDigest = try FileDigest.of(fileAt: fetched)
            let rows = try await server.ledger.recent(limit: 10)
            let ok =
                upload.sha256 == sourceDigest.hex && download.sha256 == sourceDigest.hex
                && fetchedDigest == sourceDigest
                && rows.count == 2 && rows.allSatisfy { $0.result == .ok && $0.tlsVersion != nil }
            say(
                "6. verify       source \(sourceDigest.hex.prefix(16))... = uploaded \(upload.sha256.prefix(16))... = downloaded \(fetchedDigest.hex.prefix(16))...: \(ok ? "match" : "MISMATCH")"
            )
            say(
                "   ledger       server recorded \(rows.count) transfers: \(rows.reversed().map { "\($0.operation) \($0.path) \($0.result.rawValue) \($0.tlsVersion ?? "-")" }.joined(separator: "; "))"
            )
            try await clientLedger.close()
            try await running.stop()

            // The reason Ferry exists: a partner whose handshake fails, and one step that says why.
            let diagnosis = try await Self.diagnoseIncident(pki: pki, folder: folder, logger: logger)
            say(
                "7. diagnose     a second server set up like the incident's partner: TLS 1.0 only, client certificates requested, no CA names"
            )
            say("   ferry diagnose 127.0.0.1:\(diagnosis.port):")
            if let first = diagnosis.report.findings.first {
                say(first.text.split(separator: "\n").map { "     " + $0 }.joined(separator: "\n"))
            }
            let others = diagnosis.report.findings.dropFirst().map(\.id)
            if !others.isEmpty { say("     also: \(others.joined(separator: ", "))") }
            let diagnosed = diagnosis.report.findings.first?.id == "ca-names-empty-illegal"
            say(
                diagnosed
                    ? "   The diagnosis names the empty CA list under TLS 1.0 and fixes it without switching verification off."
                    : "   Diagnosis FAILED: expected ca-names-empty-illegal first."
            )
            let passed = ok && diagnosed
            say(passed ? "Demo passed." : "Demo FAILED: see above.")
            if keep { say("Kept \(folder)") }
            return Outcome(
                ok: passed,
                port: running.port,
                upload: upload,
                download: download,
                serverLedgerRows: rows.count,
                serverLedgerTLSVersion: rows.first?.tlsVersion,
                partner: partner,
                folder: keep ? folder : nil,
                diagnosis: diagnosis.report.findings.map(\.id)
            )
        } catch {
            try? await running.stop()
            throw error
        }
    }

    /// Starts a Ferry server configured like the incident's partner (TLS 1.0 only, client certificates requested,
    /// no CA names) and diagnoses it with the demo partner's certificate.
    static func diagnoseIncident(
        pki: DevPKI,
        folder: String,
        logger: Logger
    ) async throws -> (port: Int, report: Diagnosis) {
        var configuration = FerryConfiguration()
        configuration.root = folder + "/incident"
        configuration.listen = "127.0.0.1:0"
        var tls = ServerTLSProfile.dev(pki)
        tls.minimumVersion = .tlsv1
        tls.maximumVersion = .tlsv1
        tls.sendCANames = false
        configuration.serverTLS = tls
        let server = try await FerryServer.prepare(configuration: configuration)
        // Its failed handshakes are the point; the diagnosis reports them, its log need not.
        var quiet = logger
        quiet.logLevel = .critical
        let running = try await RunningServer.start(server, logger: quiet)
        do throws(any Error) {
            let client = try ClientTLSProfile.dev(pki, client: "demo-partner").makeConfiguration()
            let leaf = try NIOSSLCertificate.fromPEMFile(pki.clientCertificate("demo-partner")).first.map {
                try TLSCertificateSummary(der: $0.toDERBytes())
            }
            let trusted = try NIOSSLCertificate.fromPEMFile(pki.caCertificate).map {
                try TLSCertificateSummary(der: $0.toDERBytes())
            }
            let diagnoser = Diagnoser(
                host: "127.0.0.1",
                port: running.port,
                serverName: "localhost",
                tls: client.configuration,
                clientCertificate: leaf,
                trustedCAs: trusted
            )
            let report = await diagnoser.run()
            try await running.stop()
            return (running.port, report)
        } catch {
            try? await running.stop()
            throw error
        }
    }

    /// Writes `mebibytes` of random data in 1 MiB blocks, returning its digest.
    static func writeRandomFile(_ path: String, mebibytes: Int) throws -> FileDigest {
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw TransferError(.localIO, "cannot create \(path)")
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        var hasher = SHA256()
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<mebibytes {
            let block = Data(
                (0..<(1 << 17)).flatMap { _ in withUnsafeBytes(of: generator.next() as UInt64) { Array($0) } }
            )
            hasher.update(data: block)
            try handle.write(contentsOf: block)
        }
        return FileDigest(bytes: Array(hasher.finalize()))!
    }
}
