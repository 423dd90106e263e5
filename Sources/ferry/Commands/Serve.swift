import ArgumentParser
import FerryConfig
import FerryDaemon
import FerryLedger
import FerryProtocol
import FerryServer
import FerryTLS
import Foundation
import Hummingbird
import Logging
import NIOSSL
import ServiceLifecycle
import UnixSignals
import X509

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a Ferry server (HTTPS with mutual TLS, HTTP/1.1 and HTTP/2).",
        discussion: """
            With no TLS settings (no --config, no FERRY_SERVER_TLS_* variables) the server creates and uses a \
            dev PKI in ./.ferry/pki and serves ./ferry-data, and prints the commands that work against it. \
            Stop it with Ctrl-C (SIGINT) or SIGTERM: requests in flight finish within server.shutdown-grace \
            (30 s), then are cut at a checkpoint that a resend resumes from; nothing partial is committed.

            The TLS context reloads on SIGHUP and when a certificate, key or CA file changes: new connections \
            use the new one, connections in flight keep theirs, and a bad file is refused with an error while the \
            old context stays in use. Certificates expiring within server.tls.expiry-warning (30 days) are \
            warned about at startup and daily, and each reload is logged. GET /v1/health tells partners only \
            that the server lives.

            Each client certificate names one partner: through partners.NAME (subject, san, ca: compared with \
            the chain the server verified), or by its CN from server.cn-ca (default: the only trusted CA) for a \
            name no partner or shared area uses. Ambiguous bindings stop the server at startup.

            Connections that hold resources without using them are cut: a TLS handshake must finish within 15 s, \
            a connection that moves less than 1 KiB in 30 s is closed, and at most 512 connections (64 per \
            address) are open at once (server.limits.*). Each partner may have 32 resumable uploads open; \
            quotas.bytes/files (and partners.NAME.quota) limit what it keeps in its home; nodes that \
            share database.url and storage.s3 count them once, in the database.

            The daemon also runs the transfer queue (ferry queue, ferry schedule): sends and gets to configured \
            partners, retried across hours, kept in <root>/.ferry/queue.sqlite and controlled through the socket \
            <root>/.ferry/control.sock (0600, this user only). With --no-listen it runs only the queue, for a \
            site that only sends and fetches. A daemon killed at any moment resumes its transfers from their \
            checkpoints when it starts again.

            Operators reach the admin API, Prometheus metrics (/metrics) and the web console (/console) on the \
            same socket (curl --unix-socket SOCKET http://ferry/v1/health), and with admin.listen and \
            admin.token-file on a TCP address behind a bearer token (admin.tls for any address but loopback); \
            the banner prints both. None of it is on the partner port.

            The ledger is <root>/.ferry/ledger.sqlite, or, with database.url (FERRY_DATABASE_URL), a PostgreSQL \
            database several nodes share: the schema is applied at start (once, whichever node is first), a \
            database that does not answer stops the start after 10 s, and rows it does not take within 5 s wait in \
            <root>/.ferry/ledger-spool.jsonl until it does.

            Every connection's handshake is kept in a small flight recorder; the trace of each failed \
            handshake is logged (--trace-handshakes all logs every one), and --pcapng-dir writes them as \
            captures that tshark and Wireshark open already decrypted.
            """
    )

    @Option(name: .long, help: "Configuration file (YAML). Default: $FERRY_CONFIG, else none.")
    var config: String?

    @Option(name: .long, help: "Folder to serve; each partner gets <root>/<partner>/. Default ./ferry-data.")
    var root: String?

    @Option(name: .long, help: "Address to listen on, HOST:PORT. Default 127.0.0.1:8443.")
    var listen: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "An XCOM configssl.cnf whose RECEIVE_SIDE settings become the server's TLS profile (keys in --config's server.tls override them).",
            valueName: "file"
        )
    )
    var xcomConfig: String?

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel: String = "info"

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Which TLS handshakes are logged with their trace: none, failed (default), all.",
            valueName: "which"
        )
    )
    var traceHandshakes: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Write every connection's handshake (no application data) to a new 0600 pcapng file in this folder, with the TLS 1.3 handshake secrets (tshark and Wireshark show the handshake decrypted). The folder must be this user's and closed to others (created 0700 when missing).",
            valueName: "dir"
        )
    )
    var pcapngDir: String?

    @Flag(
        name: .long,
        help: "Run only the transfer queue and its control socket: no partner listener (a site that only sends)."
    )
    var noListen = false

    func run() async throws {
        var overrides: [String: String] = [:]
        if let root { overrides["root"] = root }
        if let listen { overrides["listen"] = listen }
        if let traceHandshakes { overrides["server.trace.handshakes"] = traceHandshakes }
        if let pcapngDir { overrides["server.trace.pcapng-dir"] = pcapngDir }
        if let xcomConfig { overrides["server.tls.xcom-config"] = xcomConfig }
        var logger = Logger(label: "ferry.serve")
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
        logger.logLevel = level
        do {
            var configuration = try await ConfigLoader.load(file: config, overrides: overrides)
            let grace = Duration.milliseconds(Int64(configuration.shutdownGrace * 1000))
            if noListen {
                try await runQueueOnly(configuration: configuration, logger: logger, grace: grace)
                return
            }
            var devPKI: DevPKI?
            if configuration.serverTLS == nil {
                let pki = DevPKI(directory: DevPKI.defaultDirectory)
                if !pki.exists {
                    try pki.create()
                    logger.notice("created a dev PKI", metadata: ["directory": "\(pki.directory)"])
                }
                configuration.serverTLS = .dev(pki)
                devPKI = pki
            }
            // Checked before anything is opened: a careless admin listener stops the server at once.
            let network = try configuration.admin.map {
                try AdminNetwork.prepare($0, partnerCAs: configuration.serverTLS?.trustedCAs ?? [])
            }
            let server = try await FerryServer.prepare(configuration: configuration)
            for note in configuration.xcomNotes {
                logger.warning(
                    "XCOM configuration note",
                    metadata: ["note": "\(note.message)", "xcom_section": "\(note.section)", "line": "\(note.line)"]
                )
            }
            for warning in server.tls.current.warnings {
                logger.warning("TLS profile warning", metadata: ["warning": "\(warning)"])
            }
            if let folder = configuration.serverTrace.pcapngDirectory {
                logger.warning(
                    "every connection's handshake is written with its TLS secrets; treat the folder as secret",
                    metadata: ["pcapng_dir": "\(folder)"]
                )
            }
            let shownPKI = devPKI
            do {
                let application = try await server.makeApplication(logger: logger) { port in
                    Self.banner(server: server, port: port, pki: shownPKI, admin: network)
                }
                var queue = try await QueueDaemon.open(configuration: configuration)
                queue.readsServerLedger = true
                // SIGTERM/SIGINT: stop accepting, let requests and queued transfers in flight finish, and after the
                // grace period cut them (a resumable upload keeps its last checkpoint).
                try await Self.runGroup(
                    [application]
                        + queue.services(logger: logger, grace: grace, admin: Self.admin(server), network: network),
                    closing: queue,
                    logger: logger,
                    grace: grace
                )
            } catch {
                try? await server.ledger.close()
                throw error
            }
            try await server.ledger.close()
        } catch {
            Failure.printError(String(describing: error))
            throw ExitCode(1)
        }
    }

    /// The operator's API and console: the server's ledger, health, metrics, partners, certificates and the traces
    /// of recent failed handshakes.
    static func admin(_ server: FerryServer) -> AdminPlane {
        let started = Date()
        let configuration = server.configuration
        // Partner CA files are read once: a binding's CA changes only with the configuration (a restart).
        var partnerAuthorities: [(certificate: Certificate, partner: String)] = []
        for partner in configuration.partners.values.sorted(by: { $0.name < $1.name }) {
            for file in partner.certificateAuthorities {
                for certificate in (try? CertificateFiles.loadCertificates(file, what: "CA file")) ?? [] {
                    partnerAuthorities.append((certificate, partner.name))
                }
            }
        }
        let shownAuthorities = partnerAuthorities
        return AdminPlane(
            ledger: server.ledger,
            configuration: configuration,
            metrics: { queue in
                server.metricsText(
                    extra: queue.sorted { $0.key < $1.key }.map {
                        (
                            name: "ferry_queue_entries",
                            help: "Queued transfers not finished, by state",
                            labels: [("state", $0.key)],
                            value: Double($0.value)
                        )
                    }
                )
            },
            health: {
                AdminHealth(
                    version: Ferry.configuration.version,
                    started: started,
                    listen: configuration.listen,
                    root: configuration.root,
                    storage: configuration.objectStorage.map { "s3 \($0.endpoint) bucket \($0.bucket)/\($0.prefix)" }
                        ?? "folder \(configuration.root)",
                    database: configuration.database.map { PostgresDatabase.withoutPassword($0.url) }
                        ?? "sqlite \(configuration.resolvedServerLedger)",
                    partners: configuration.partners.keys.sorted(),
                    certificateExpires: server.certificateExpires
                )
            },
            certificates: {
                let now = Date()
                let current = server.tls.current
                var certificates = [AdminCertificate(role: "server", certificate: current.identity.leaf, now: now)]
                certificates += current.identity.intermediates.map {
                    AdminCertificate(role: "server-chain", certificate: $0, now: now)
                }
                certificates += current.trustedCertificates.map {
                    AdminCertificate(role: "ca", certificate: $0.certificate, now: now)
                }
                return certificates
                    + shownAuthorities.map {
                        AdminCertificate(
                            role: "partner-ca",
                            certificate: $0.certificate,
                            partners: [$0.partner],
                            now: now
                        )
                    }
            },
            handshake: { id in
                server.handshakeTraces.record(id: id).map {
                    AdminHandshakeRecord(trace: $0.trace, findings: $0.findings)
                }
            }
        )
    }

    /// Where the queue is, for the banner: the shared database (its password masked) or the SQLite file.
    static func queueLocation(_ configuration: FerryConfiguration) -> String {
        configuration.database.map { "\(PostgresDatabase.withoutPassword($0.url)) (shared by the nodes)" }
            ?? configuration.resolvedQueueDatabase
    }

    /// `--no-listen`: the queue and its control socket only.
    func runQueueOnly(configuration: FerryConfiguration, logger: Logger, grace: Duration) async throws {
        let queue = try await QueueDaemon.open(configuration: configuration)
        let banner =
            "Ferry daemon (no listener; queue only) root \(configuration.root)\n  queue \(Self.queueLocation(configuration)), control socket \(queue.socketPath)\n"
        let services = try queue.services(logger: logger, grace: grace) {
            FileHandle.standardOutput.write(Data(banner.utf8))
        }
        try await Self.runGroup(services, closing: queue, logger: logger, grace: grace)
    }

    /// Runs the services until a signal stops them, then closes the queue they share (only then: any of them may
    /// use it until the whole group has stopped).
    static func runGroup(
        _ services: [any Service],
        closing queue: QueueDaemon,
        logger: Logger,
        grace: Duration
    ) async throws {
        var group = ServiceGroupConfiguration(
            services: services.map { .init(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
        // The queue's own grace comes first; this one cuts whatever is still running a little later.
        group.maximumGracefulShutdownDuration = grace + .seconds(5)
        do {
            try await ServiceGroup(configuration: group).run()
        } catch {
            await queue.close()
            throw error
        }
        await queue.close()
    }

    static func banner(server: FerryServer, port: Int, pki: DevPKI?, admin: AdminNetwork?) {
        let profile = server.configuration.serverTLS!
        let caNames = server.tls.current.configuration.sendCANameList ? "sent" : "not sent"
        let host = server.host == "0.0.0.0" || server.host == "::" ? "localhost" : server.host
        // The URL's authority: an IPv6 address in brackets.
        let displayHost = host == "127.0.0.1" ? "localhost" : host.contains(":") ? "[\(host)]" : host
        var lines = [
            "Ferry listening on https://\(displayHost):\(port) (root \(server.configuration.root))",
            "  TLS \(TLSVersionSetting.name(profile.minimumVersion))-\(TLSVersionSetting.name(profile.maximumVersion)), client certificates \(profile.clientAuthentication.rawValue), CA names \(caNames); ledger \(server.configuration.database.map { PostgresDatabase.withoutPassword($0.url) } ?? server.configuration.resolvedServerLedger)",
            "  queue \(Self.queueLocation(server.configuration)); operators (queue, transfers, health, metrics, console): unix socket \(server.configuration.resolvedControlSocket)",
        ]
        if let admin {
            lines.append("  console and admin API for operators: \(admin.consoleURL) (admin token)")
        }
        if let pki, let client = pki.clientNames.first {
            lines += [
                "  dev PKI in \(pki.directory) (client '\(client)'). Try, from this folder:",
                "    ferry send FILE https://\(displayHost):\(port)/",
                "    ferry ls https://\(displayHost):\(port)/",
                "    curl --cert \(pki.clientCertificate(client)) --key \(pki.clientKey(client)) --cacert \(pki.caCertificate) -T FILE https://\(displayHost):\(port)\(FerryAPI.files)/FILE",
            ]
        }
        // Unbuffered, so scripts reading a pipe see the banner at once.
        FileHandle.standardOutput.write(Data((lines.joined(separator: "\n") + "\n").utf8))
    }
}
