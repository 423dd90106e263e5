public import FerryConfig
public import FerryLedger
import FerryObjectStore
import FerryProtocol
public import FerryTLS
import FerryTrace
import FerryWire
public import Foundation
import HTTPTypes
public import Hummingbird
import HummingbirdCore
import HummingbirdHTTP2
import HummingbirdTLS
public import Logging
public import NIOCore
import NIOSSL
public import Prometheus
import ServiceLifecycle
import X509

/// A Ferry server, ready to run: its TLS context is loaded and checked, its ledger open.
public struct FerryServer: Sendable {
    public let configuration: FerryConfiguration
    /// The receive side's TLS context, reloadable.
    public let tls: ServerTLSContext
    /// The connections' TLS secrets, in memory, for handshake traces.
    let keys: TLSKeyLogStore
    public let ledger: any Ledger
    /// The operator's metrics (`metricsText()`), counted as the ledger is written (`MeteredLedger`).
    public let metrics: PrometheusCollectorRegistry
    /// Gauges read at each scrape (connections open, uploads in flight), registered by the parts that own them.
    let liveGauges = LiveGauges()
    /// Digests of committed files (the embedded ledger keeps them too).
    public let digests: any DigestIndex
    /// The traces and findings of the most recent failed handshakes, for the operator's console.
    public let handshakeTraces = HandshakeTraceBook()
    /// Leases on resumable uploads, with several nodes on one database; nil: one node, its own locks are enough.
    let leases: (any UploadLeases)?
    public let host: String
    public let port: Int

    /// Loads certificates and opens the ledger; every problem is reported with the file and the fix.
    public static func prepare(configuration: FerryConfiguration) async throws -> FerryServer {
        guard let profile = configuration.serverTLS else {
            throw ConfigError(
                "no server TLS profile: set server.tls.certificate, key and ca, or run `ferry serve` without a config to use the dev PKI"
            )
        }
        // Secrets stay in memory, per connection, so a trace can show the encrypted part of a handshake.
        let keys = TLSKeyLogStore()
        var watched = profile
        // A partner's CA file or server.cn-ca changing reloads the context, and with it the partner bindings.
        watched.watchedFiles =
            configuration.partners.values.flatMap(\.certificateAuthorities) + (configuration.commonNameCAs ?? [])
        let tls = try ServerTLSContext(profile: watched, keyLog: keys.callback)
        let (host, port) = try ListenAddress.parse(configuration.listen)
        try FileManager.default.createDirectory(atPath: configuration.root, withIntermediateDirectories: true)
        // The server's own state (ledger, uploads, temporary files) is the server user's alone.
        let state = configuration.root + "/.ferry"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        chmod(state, 0o700)
        let (shared, leases) = try await openState(configuration)
        let metrics = PrometheusCollectorRegistry()
        let ledger = MeteredLedger(shared, registry: metrics)
        return FerryServer(
            configuration: configuration,
            tls: tls,
            keys: keys,
            ledger: ledger,
            metrics: metrics,
            digests: ledger,
            leases: leases,
            host: host,
            port: port
        )
    }

    /// The server's ledger and digest index: in the shared PostgreSQL database when `database.url` is set (several
    /// nodes), else the embedded SQLite file.
    public static func openLedger(_ configuration: FerryConfiguration) async throws -> any Ledger & DigestIndex {
        try await openState(configuration).ledger
    }

    /// The Prometheus exposition: the ledger's counters and histograms, and each certificate in use's days to expiry
    /// (computed now: a reloaded certificate shows at the next scrape).
    /// `extra`: gauges the caller reads (the daemon's queue by state).
    public func metricsText(
        now: Date = .now,
        extra: [(name: String, help: String, labels: [(String, String)], value: Double)] = []
    ) -> String {
        let current = tls.current
        var certificates = [("server", current.identity.leaf.subject.description, current.identity.leaf.notValidAfter)]
        for (_, certificate) in current.trustedCertificates {
            certificates.append(("ca", certificate.subject.description, certificate.notValidAfter))
        }
        for (role, subject, notAfter) in certificates {
            metrics.makeGauge(
                name: "ferry_certificate_expiry_days",
                labels: [("role", role), ("subject", subject)],
                help: "Days until a certificate in use expires (negative: expired)"
            ).set(notAfter.timeIntervalSince(now) / 86_400)
        }
        for reading in liveGauges.read() {
            metrics.makeGauge(name: reading.name, labels: reading.labels, help: reading.help).set(reading.value)
        }
        for gauge in extra {
            metrics.makeGauge(name: gauge.name, labels: gauge.labels, help: gauge.help).set(gauge.value)
        }
        return metrics.emitToString()
    }

    /// When the server's own certificate expires.
    public var certificateExpires: Date { tls.current.identity.leaf.notValidAfter }

    /// The ledger to read (`ferry history`, `ferry ledger`): the SQLite file, or the shared database itself (no spool:
    /// nothing is written).
    public static func openLedgerForReading(_ configuration: FerryConfiguration) async throws -> any ChainedLedger {
        guard let database = configuration.database else {
            return try await SQLiteLedger.open(path: configuration.resolvedServerLedger)
        }
        return try await PostgresLedger.open(
            url: database.url,
            password: try database.filePassword(),
            maximumConnections: 2,
            node: database.node
        )
    }

    /// The ledger, and the upload leases when several nodes share a database.
    static func openState(
        _ configuration: FerryConfiguration
    ) async throws -> (ledger: any Ledger & DigestIndex, leases: (any UploadLeases)?) {
        guard let database = configuration.database else {
            return (try await SQLiteLedger.open(path: configuration.resolvedServerLedger), nil)
        }
        let shared = try await PostgresLedger.open(
            url: database.url,
            password: try database.filePassword(),
            maximumConnections: database.maximumConnections,
            node: database.node
        )
        // Transfers never wait long on the database: rows it does not take at once wait in a local spool.
        try FileManager.default.createDirectory(
            atPath: configuration.root + "/.ferry",
            withIntermediateDirectories: true
        )
        return (SpooledLedger(shared, spool: configuration.root + "/.ferry/ledger-spool.jsonl"), shared)
    }

    /// What serving files over one storage gives the application.
    struct ServedFiles {
        let policy: AccessPolicy
        let mayContinue: @Sendable (HTTPRequest, any Channel) -> Bool
        let sweeper: any Service
    }

    /// The routes for files and resumable uploads over `storage`, added to `router`.
    private func serveFiles<Storage: FileStorage>(
        _ storage: Storage,
        root: String,
        chains: VerifiedChains,
        router: Router<FerryRequestContext>,
        logger: Logger
    ) async throws -> ServedFiles {
        let quotas: QuotaBook
        if let objects = storage as? S3FileStorage {
            // Nodes that share a bucket and a database count quotas in the database, so they admit against one count.
            quotas = QuotaBook(
                root: root,
                configuration: configuration,
                accounts: (leases as? any QuotaAccounts) ?? LocalQuotaAccounts()
            ) {
                let usage = try await objects.usage(ofHome: $0)
                return QuotaUsage(bytes: usage.bytes, files: usage.files)
            }
        } else {
            quotas = QuotaBook(root: root, configuration: configuration)
        }
        await storage.sweepStaged()
        let store = FileStore(
            storage: storage,
            digests: digests,
            quotas: quotas,
            maximumSize: configuration.uploadMaximumSize
        )
        let uploads = UploadStore(
            storage: storage,
            expireAfter: configuration.uploadExpireAfter,
            quotas: quotas,
            leases: leases,
            leaseDuration: configuration.uploadLease
        )
        liveGauges.register {
            let (receiving, open) = quotas.inFlight
            return [
                .init(
                    name: "ferry_transfers_active",
                    help:
                        "Uploads being received now: single requests (put) and resumable requests writing (resumable)",
                    labels: [("kind", "put")],
                    value: Double(receiving)
                ),
                .init(
                    name: "ferry_transfers_active",
                    help:
                        "Uploads being received now: single requests (put) and resumable requests writing (resumable)",
                    labels: [("kind", "resumable")],
                    value: Double(uploads.writing)
                ),
                .init(
                    name: "ferry_resumable_uploads_open",
                    help: "Resumable uploads created and not yet committed or removed (on this node)",
                    labels: [],
                    value: Double(open)
                ),
            ]
        }
        let policy = try AccessPolicy(
            root: root,
            configuration: configuration,
            tls: tls,
            chains: chains,
            logger: logger
        )
        // Resumable uploads from before a restart hold their length and count against their partner's limits.
        let records = await uploads.records()
        try await quotas.startFresh(uploads: Set(records.map(\.id)))
        for record in records {
            guard let path = try? PartnerPath(plain: record.path) else { continue }
            try await quotas.restoreUpload(
                record.id,
                target: policy.resolve(path, partner: record.partner),
                caller: record.partner,
                length: record.length
            )
        }
        router.add(middleware: FileRoutes(policy: policy, store: store, ledger: ledger))
        router.add(
            middleware: UploadRoutes(
                policy: policy,
                files: store,
                uploads: uploads,
                ledger: ledger,
                maximumSize: configuration.uploadMaximumSize
            )
        )
        return ServedFiles(
            policy: policy,
            mayContinue: { request, channel in
                FileRoutes.mayContinue(request, channel: channel, policy: policy, store: store)
            },
            sweeper: UploadSweeper(
                uploads: uploads,
                interval: configuration.uploadSweepInterval,
                ledger: ledger,
                retention: configuration.ledgerRetention,
                logger: logger
            )
        )
    }

    /// The S3 client of `storage.s3`, with credentials from the environment or the credentials file.
    static func objectStore(_ settings: FerryConfiguration.ObjectStorage) throws -> S3Client {
        let credentials: ObjectStoreCredentials
        if let file = settings.credentialsFile {
            credentials = try ObjectStoreCredentials.fromFile(file, profile: settings.credentialsProfile)
        } else if let found = try ObjectStoreCredentials.fromEnvironment(ProcessInfo.processInfo.environment) {
            credentials = found
        } else {
            throw ObjectStoreError(
                "storage.s3 needs credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or storage.s3.credentials-file"
            )
        }
        return try S3Client(
            settings: .init(
                endpoint: settings.endpoint,
                bucket: settings.bucket,
                region: settings.region,
                pathStyle: settings.pathStyle,
                connections: settings.connections
            ),
            credentials: credentials
        )
    }

    /// Lists one key of the bucket before the server listens, so a wrong endpoint, bucket, key or region stops
    /// `ferry serve` with what to fix, rather than failing every partner's request with 503.
    static func checkBucket(_ client: S3Client, _ settings: FerryConfiguration.ObjectStorage) async throws {
        do {
            _ = try await client.list(prefix: settings.prefix, maximum: 1)
        } catch let error as ObjectStoreError {
            throw ObjectStoreError(
                "storage.s3: the bucket \(settings.bucket) at \(settings.endpoint) did not answer a listing at startup: \(error.description)",
                status: error.status,
                code: error.code
            )
        }
    }

    /// Builds the Hummingbird application: HTTP/1.1 and HTTP/2 over TLS with the tap before TLS.
    ///
    /// - Parameter onRunning: called with the bound port once the server listens (useful with port 0).
    public func makeApplication(
        logger: Logger,
        onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) async throws -> some ApplicationProtocol {
        let root = URL(fileURLWithPath: configuration.root).standardizedFileURL.path
        let router = Router(context: FerryRequestContext.self)
        router.add(middleware: RefusalLog(logger: logger))
        let chains = VerifiedChains()
        let local = LocalFileStorage(root: root, fileMode: mode_t(configuration.uploadFileMode))
        let files: ServedFiles
        var services: [any Service] = []
        if let settings = configuration.objectStorage {
            let client = try Self.objectStore(settings)
            try await Self.checkBucket(client, settings)
            if let roster = leases as? any NodeRoster {
                // Shared by the nodes: the first share is taken before the first request (this node counted).
                let share = StoreShare(client: client, budget: settings.connections, roster: roster, logger: logger)
                client.setRequestLimit(
                    StoreShare.share(
                        of: settings.connections,
                        among: try await roster.heartbeat(window: StoreShare.window)
                    )
                )
                services.append(share)
            }
            liveGauges.register {
                [
                    .init(
                        name: "ferry_store_requests_limit",
                        help:
                            "Requests in flight this node allows to the object store (its share of storage.s3.connections)",
                        labels: [],
                        value: Double(client.requestLimit)
                    )
                ]
            }
            files = try await serveFiles(
                S3FileStorage(
                    client: client,
                    prefix: settings.prefix,
                    local: local,
                    locks: (leases as? any NamedLocks) ?? LocalNamedLocks()
                ),
                root: root,
                chains: chains,
                router: router,
                logger: logger
            )
        } else {
            files = try await serveFiles(local, root: root, chains: chains, router: router, logger: logger)
        }
        let registry = FerryRequestContext.registry
        let revalidation = ConnectionRevalidation(registry: registry, owner: tls, logger: logger)
        let lifecycle = CertificateLifecycle(tls: tls, warningWindow: configuration.expiryWarning, logger: logger) {
            revalidation.run(with: $0)
        }
        // Liveness only: a partner learns nothing about files, certificates or reloads (those are in the log and in
        // `ferry config check`).
        router.get(RouterPath(FerryAPI.health)) { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: FerryMediaType.json],
                body: .init(byteBuffer: ByteBuffer(string: #"{"status":"ok"}"#))
            )
        }
        let flightRecorder = try HandshakeFlightRecorder(
            settings: configuration.serverTrace,
            keys: keys,
            ledger: ledger,
            logger: logger,
            book: handshakeTraces,
            metrics: metrics
        ) { [tls] in
            (try? tls.current.identity.chain.first?.toDERBytes()).flatMap { try? TLSCertificateSummary(der: $0) }
        }
        let tls = self.tls
        let counter = ConnectionCounter(limits: configuration.limits)
        liveGauges.register {
            [
                .init(
                    name: "ferry_connections_open",
                    help: "Partner connections open now",
                    labels: [],
                    value: Double(counter.open)
                )
            ]
        }
        FileDescriptorLimit.raise(toServe: configuration.limits, logger: logger)
        let server = HTTPServerBuilder { responder in
            FerryHTTPChannel(
                responder: responder,
                tls: tls,
                registry: registry,
                flightRecorder: flightRecorder,
                chains: chains,
                counter: counter,
                logger: logger,
                mayContinue: files.mayContinue
            )
        }
        return Application(
            router: router,
            server: server,
            configuration: .init(address: .hostname(host, port: port), serverName: "Ferry"),
            services: [files.sweeper, lifecycle] + services,
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) },
            logger: logger
        )
    }
}
