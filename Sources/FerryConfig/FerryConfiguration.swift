public import FerryTLS
public import FerryText
public import Foundation
public import NIOSSL

/// Everything `ferry` reads from its YAML file, `FERRY_*` variables and flags, with safe defaults.
public struct FerryConfiguration: Sendable {
    /// `HOST:PORT` the server listens on.
    public var listen = "127.0.0.1:8443"
    /// The served tree.
    public var root = "./ferry-data"
    /// The server's ledger; default `<root>/.ferry/ledger.sqlite`.
    public var serverLedger: String?
    /// A shared PostgreSQL database for the server's state (`database.*`); nil: the embedded SQLite files.
    public var database: Database?
    /// An S3-compatible bucket for committed files (`storage.s3.*`); nil: the local folder under `root`.
    public var objectStorage: ObjectStorage?
    /// Seconds a stopping server (SIGTERM, SIGINT) lets requests in flight finish before it cuts them; a cut
    /// resumable upload keeps its last checkpoint.
    public var shutdownGrace: Double = 30
    /// Seconds the server's ledger keeps a transfer's row (400 days by default).
    public var ledgerRetention: Double = 400 * 86_400
    /// The receive side; `nil` until certificate, key and CA are known (the dev PKI fills it in).
    public var serverTLS: ServerTLSProfile?
    /// The initiate side.
    public var clientTLS = ClientTLSProfile(certificate: nil, privateKey: nil, trustedCAs: [])
    /// The client's ledger; default `$XDG_STATE_HOME/ferry/ledger.sqlite` (or `~/.local/state/...`).
    public var clientLedger: String?
    /// Resumable uploads left untouched this long (seconds) are removed by the sweep.
    public var uploadExpireAfter: Double = 86_400
    /// Seconds a node's lease on a resumable upload lasts unless renewed (several nodes on one database): how long
    /// a dead node's upload waits before another node takes it over.
    public var uploadLease: Double = 30
    /// How often (seconds) the sweep looks for expired uploads.
    public var uploadSweepInterval: Double = 600
    /// The largest upload accepted, in bytes.
    public var uploadMaximumSize: Int64 = 1 << 44
    /// The permission bits of committed files (`uploads.file-mode`, octal).
    public var uploadFileMode: UInt16 = 0o640
    public var partners: [String: Partner] = [:]
    /// What each partner may keep in its home area and have open as resumable uploads (`quotas`), unless its
    /// `partners.NAME.quota` says otherwise.
    public var quota = Quota(uploads: 32)

    /// Limits on what one partner stores; `nil` is no limit.
    public struct Quota: Sendable, Equatable {
        /// Bytes of files in the partner's home, counting resumable uploads in progress at their full length.
        public var bytes: Int64?
        /// Files in the partner's home.
        public var files: Int?
        /// Resumable uploads the partner has open at once (in any area).
        public var uploads: Int?

        public init(bytes: Int64? = nil, files: Int? = nil, uploads: Int? = nil) {
            self.bytes = bytes
            self.files = files
            self.uploads = uploads
        }

        /// This quota with the limits `other` sets in place of its own.
        public func overridden(by other: Quota?) -> Quota {
            guard let other else { return self }
            return Quota(bytes: other.bytes ?? bytes, files: other.files ?? files, uploads: other.uploads ?? uploads)
        }
    }

    /// The quota of a partner: `quotas` with its own `partners.NAME.quota` on top.
    public func quota(for partner: String) -> Quota {
        quota.overridden(by: partners.first { $0.key.lowercased() == partner.lowercased() }?.value.quota)
    }
    public var accessRules: [AccessRule] = []
    /// CA files whose client certificates may name a partner that is not configured by their subject CN.
    /// `nil`: the trusted CA when the server trusts exactly one (dev mode), else none; empty: none.
    public var commonNameCAs: [String]?
    /// What the server does with handshake traces.
    public var serverTrace = ServerTrace()
    /// Deadlines and caps that keep connections from holding the server's resources.
    public var limits = ConnectionLimits()
    /// Certificates in use that expire within this many seconds are warned about at startup and daily.
    public var expiryWarning: Double = 30 * 86_400
    /// The daemon's transfer queue (`queue.*`).
    public var queue = QueueSettings()
    /// Hot folders: local folders whose complete files are queued to a partner (`watch.NAME.*`).
    public var watches: [WatchRule] = []
    /// What the daemon does when something happens (`actions.NAME.*`).
    public var actions: [ActionRule] = []
    /// The operators' TCP listener (`admin.*`): the admin API, metrics and the web console for other machines and
    /// browsers; nil: the control socket only.
    public var admin: AdminListener?
    /// What the XCOM files the configuration points at want the operator to know.
    public var xcomNotes: [XCOMSSLConfig.Note] = []
    /// The file the configuration came from, if any.
    public var source: String?

    public init() {}

    /// A partner: where to reach it (client side) and how to recognise it (server side).
    public struct Partner: Sendable, Equatable {
        public var name: String
        /// `https://host:port` for `ferry send FILE name:path`.
        public var url: String?
        /// The initiate side for this partner: the client profile with the partner's `tls` keys on top; `nil`
        /// when the partner has none.
        public var tls: ClientTLSProfile?
        /// Server side: a client certificate whose subject DN (RFC 4514) equals this is this partner.
        public var subject: String?
        /// Server side: a client certificate with this SAN (`dns:NAME` or `uri:URI`) is this partner.
        public var alternativeName: String?
        /// Server side: CA files; a client certificate is this partner only when the chain the server verified
        /// holds one of these CAs (compared by name and key). With no subject or SAN, the CN must be the name.
        public var certificateAuthorities: [String] = []
        /// Server side: this partner's limits in place of the `quotas` defaults (`partners.NAME.quota`).
        public var quota: Quota?
        /// Queued transfers to this partner: its limit of transfers at once and its retries, in place of the
        /// `queue.*` defaults (`partners.NAME.queue`).
        public var queue = PartnerQueueSettings()
        /// Server side: text mode for this partner's files (`partners.NAME.text`): what it sends is converted to
        /// text before it is stored, what it fetches is converted from text as it goes.
        public var text: TextProfile?

        /// Whether the server can recognise this partner at all (a subject, SAN or CA is configured).
        public var hasBinding: Bool { subject != nil || alternativeName != nil || !certificateAuthorities.isEmpty }

        public init(name: String) { self.name = name }
    }

    /// A partner's text mode: the conversion (from the partner's code page to the stored text encoding) and the
    /// file names it applies to (`match`, patterns such as `*.txt`; every file by default).
    public struct TextProfile: Sendable, Equatable {
        public var conversion: TextConversion
        public var match: [String] = ["*"]

        public init(conversion: TextConversion, match: [String] = ["*"]) {
            self.conversion = conversion
            self.match = match
        }

        /// Whether a file of this name (the last segment of its path) is converted.
        public func applies(toFileNamed name: String) -> Bool {
            match.contains { fnmatch($0, name, 0) == 0 }
        }
    }

    /// Rights in an area.
    public enum Right: String, Sendable, CaseIterable {
        case read, write, delete
    }

    /// Grants partners rights in an area of the root outside their own.
    public struct AccessRule: Sendable, Equatable {
        public var name: String
        /// Partner names, or `*` for every partner.
        public var partners: [String]
        /// The folder under the root, e.g. `shared/outbound`.
        public var area: String
        /// The first path segment under which granted partners see the area; default the area's last segment.
        public var mount: String
        public var rights: Set<Right>

        public init(name: String, partners: [String], area: String, mount: String, rights: Set<Right>) {
            self.name = name
            self.partners = partners
            self.area = area
            self.mount = mount
            self.rights = rights
        }
    }

    /// The server ledger path after defaults.
    public var resolvedServerLedger: String { serverLedger ?? root + "/.ferry/ledger.sqlite" }

    /// Where the client remembers unfinished resumable uploads: beside the client ledger.
    public var resolvedClientResumeDirectory: String {
        (resolvedClientLedger as NSString).deletingLastPathComponent + "/uploads"
    }

    /// The client ledger path after defaults.
    public var resolvedClientLedger: String {
        if let clientLedger { return clientLedger }
        let environment = ProcessInfo.processInfo.environment
        let state =
            environment["XDG_STATE_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (environment["HOME"] ?? NSTemporaryDirectory()) + "/.local/state"
        return state + "/ferry/ledger.sqlite"
    }
}

extension FerryConfiguration {
    /// The daemon's queue: where it keeps its state, how it is reached, how much runs at once, how entries retry.
    public struct QueueSettings: Sendable, Equatable {
        /// The queue's database; default `<root>/.ferry/queue.sqlite`.
        public var database: String?
        /// The control socket the `ferry queue` and `ferry schedule` commands talk to; default
        /// `<root>/.ferry/control.sock`.
        public var controlSocket: String?
        /// Transfers running at once, all partners together.
        public var maximumActive = 8
        /// Seconds finished entries (done, failed, cancelled) are kept before they are purged.
        public var keep: Double = 7 * 86_400
        /// Seconds a node's claim on a running transfer lasts unless its loop renews it (several nodes on one
        /// database): after a node dies, another takes its transfers over this long after its last renewal.
        public var lease: Double = 60
        /// Every partner's defaults (transfers at once, retries); `partners.NAME.queue` overrides them.
        public var partnerDefaults = PartnerQueueSettings(
            sessions: 2,
            retries: .some(10),
            retryWait: 60,
            retryMaximumWait: 3600,
            deadline: .some(nil),
            retryConfigurationErrors: false
        )

        public init() {}
    }

    /// A hot folder: files matching `glob` that appear in `folder` are queued to `partner:remote` once complete,
    /// then moved to `sent/` (or deleted, or left) when the partner has verified them, or to `failed/` with a
    /// reason file.
    public struct WatchRule: Sendable, Equatable {
        public enum Completion: String, Sendable, CaseIterable {
            /// Size and modification time unchanged for `stableFor`.
            case stable
            /// A marker file `NAME<marker>` says NAME is complete (the marker is removed with it).
            case marker
            /// Files are renamed into the folder when complete: whatever is there is complete.
            case rename
        }

        public enum After: String, Sendable, CaseIterable {
            case move, delete, leave
        }

        public var name: String
        public var folder: String
        public var glob = "*"
        public var partner: String
        public var remote: String
        public var completion = Completion.stable
        public var stableFor: Double = 5
        public var marker = ".done"
        public var after = After.move
        public var priority = 0
        /// Text mode for the files this folder sends (`watch.NAME.text`): converted from text to the code page.
        public var text: TextConversion?

        public init(name: String, folder: String, partner: String, remote: String) {
            self.name = name
            self.folder = folder
            self.partner = partner
            self.remote = remote
        }
    }

    /// An action: when an event of one of `events` matches the filters, run a command, call a webhook, move or
    /// copy the file, or forward it to another partner.
    public struct ActionRule: Sendable, Equatable {
        public enum Kind: Sendable, Equatable {
            /// argv, no shell.
            case run([String])
            /// POST the event as JSON, signed with HMAC-SHA256 by the secret in `secretFile`.
            case webhook(url: String, secretFile: String)
            case move(to: String)
            case copy(to: String)
            /// Queue a send of the file to `partner:path`.
            case forward(partner: String, path: String)
        }

        public static let eventTypes = [
            "transfer.queued", "transfer.started", "transfer.retrying", "transfer.done", "transfer.failed",
            "transfer.cancelled", "file.received", "handshake.failed", "certificate.expiring",
        ]

        public var name: String
        public var events: [String]
        public var kind: Kind
        /// Filters: partner names (case-insensitive), a direction (`send`, `get`, `inbound`), a path glob.
        public var partners: [String] = []
        public var direction: String?
        public var path: String?
        /// A command's time limit, in seconds.
        public var timeout: Double = 60
        /// Deliveries tried before the action gives up on an event.
        public var retries = 10

        public init(name: String, events: [String], kind: Kind) {
            self.name = name
            self.events = events
            self.kind = kind
        }
    }

    /// A partner's queue settings; `nil` fields take the `queue.*` defaults.
    public struct PartnerQueueSettings: Sendable, Equatable {
        /// Transfers to or from the partner at once (XCOM's xcom.ses).
        public var sessions: Int?
        /// Retries after the first attempt; `.some(nil)`: no count limit (`none`).
        public var retries: Int??
        /// Seconds before the first retry; doubles each time up to `retryMaximumWait`.
        public var retryWait: Double?
        public var retryMaximumWait: Double?
        /// No attempt starts later than this many seconds after the entry was queued; `.some(nil)`: no deadline.
        public var deadline: Double??
        /// Whether a handshake diagnosed as a configuration problem is retried too (default: no, it fails).
        public var retryConfigurationErrors: Bool?

        public init(
            sessions: Int? = nil,
            retries: Int?? = nil,
            retryWait: Double? = nil,
            retryMaximumWait: Double? = nil,
            deadline: Double?? = nil,
            retryConfigurationErrors: Bool? = nil
        ) {
            self.sessions = sessions
            self.retries = retries
            self.retryWait = retryWait
            self.retryMaximumWait = retryMaximumWait
            self.deadline = deadline
            self.retryConfigurationErrors = retryConfigurationErrors
        }

        /// These settings with `other`'s where it has them.
        public func overridden(by other: PartnerQueueSettings) -> PartnerQueueSettings {
            PartnerQueueSettings(
                sessions: other.sessions ?? sessions,
                retries: other.retries ?? retries,
                retryWait: other.retryWait ?? retryWait,
                retryMaximumWait: other.retryMaximumWait ?? retryMaximumWait,
                deadline: other.deadline ?? deadline,
                retryConfigurationErrors: other.retryConfigurationErrors ?? retryConfigurationErrors
            )
        }
    }

    /// A partner's queue settings after the defaults (for a name no partner has: the defaults).
    public func queueSettings(for partner: String) -> PartnerQueueSettings {
        let own = partners.first { $0.key.lowercased() == partner.lowercased() }?.value.queue
        return queue.partnerDefaults.overridden(by: own ?? PartnerQueueSettings())
    }

    /// The queue database after defaults.
    public var resolvedQueueDatabase: String { queue.database ?? root + "/.ferry/queue.sqlite" }

    /// The control socket after defaults.
    public var resolvedControlSocket: String { queue.controlSocket ?? root + "/.ferry/control.sock" }

    /// Deadlines and caps for the server's connections (`server.limits.*`).
    public struct ConnectionLimits: Sendable, Equatable {
        /// Seconds a connection has to complete its TLS handshake.
        public var handshakeTimeout: Double = 15
        /// A connection that moves fewer than `minimumBytes` in either direction during this many seconds is closed.
        public var stallTimeout: Double = 30
        public var minimumBytes = 1024
        /// Seconds an HTTP keep-alive connection (or an HTTP/2 connection without streams) may stay idle.
        public var idleTimeout: Double = 30
        /// Open connections in all, and from one address.
        public var maximumConnections = 512
        public var maximumPerSource = 64

        public init() {}
    }

    /// The server's handshake flight recorder: which traces it logs, at what level, and where it writes captures.
    public struct ServerTrace: Sendable, Equatable {
        public enum Handshakes: String, Sendable, CaseIterable {
            case none, failed, all
        }

        /// Which handshakes are logged with their trace (default: the failed ones).
        public var handshakes: Handshakes = .failed
        /// The log level of those lines: trace, debug, info, notice, warning, error.
        public var level = "warning"
        /// When set, every connection's handshake is written there as a pcapng file (with its TLS secrets).
        public var pcapngDirectory: String?
        /// The most capture files and bytes the folder may hold; beyond, no more are written (one warning).
        public var pcapngMaximumFiles = 1000
        public var pcapngMaximumBytes = 256 << 20
        /// Whether connections pass through the handshake tap at all. Off only to measure its cost: without it
        /// there are no handshake traces, and the ledger has no TLS version or cipher suite.
        public var tap = true

        public init() {}

        static let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
    }
}

extension FerryConfiguration {
    /// `storage.s3.*`: the bucket several nodes share for committed files. Credentials come from
    /// `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`), or from `credentials-file` (the INI
    /// form of `~/.aws/credentials`).
    public struct ObjectStorage: Sendable, Equatable {
        /// `https://s3.eu-central-1.amazonaws.com`, `http://127.0.0.1:8333`, ...
        public var endpoint: String
        public var bucket: String
        /// Every key starts with it (`ferry/`); empty: the bucket's top.
        public var prefix = ""
        public var region = "us-east-1"
        /// The bucket in the path (most S3-compatible servers) rather than in the host name.
        public var pathStyle = true
        /// A credentials file, when the environment has no keys.
        public var credentialsFile: String?
        /// Its profile.
        public var credentialsProfile = "default"
        /// Requests to the store in flight at most; more wait their turn rather than fail.
        public var connections = 32

        public init(endpoint: String, bucket: String) {
            self.endpoint = endpoint
            self.bucket = bucket
        }
    }

    /// `database.*`: the PostgreSQL database several nodes share.
    public struct Database: Sendable, Equatable {
        /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE?sslmode=...` (`FERRY_DATABASE_URL` keeps a password out
        /// of the file).
        public var url: String
        /// A file holding the password (one line), when the URL has none.
        public var passwordFile: String?
        /// Connections each node keeps at most.
        public var maximumConnections = 10
        /// This node's name in the ledger (the host name by default).
        public var node: String?

        public init(url: String) { self.url = url }

        /// The password in `password-file` (its one line); nil when no file is named.
        public func filePassword() throws(ConfigError) -> String? {
            guard let passwordFile else { return nil }
            guard let text = try? String(contentsOfFile: passwordFile, encoding: .utf8) else {
                throw ConfigError(
                    "cannot read database.password-file \(passwordFile): check that it exists and is readable"
                )
            }
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }
}

extension FerryConfiguration {
    /// `admin.*`: where operators reach the admin plane over TCP, with a bearer token and optionally TLS.
    public struct AdminListener: Sendable, Equatable {
        /// `HOST:PORT`.
        public var listen: String
        /// The file holding the bearer token (one line, at least 32 characters, not readable by others); nil when
        /// operators present certificates from `clientCA` instead.
        public var tokenFile: String?
        /// TLS: the listener's certificate chain and key (PEM); nil: plain HTTP, allowed on loopback only.
        public var certificate: String?
        public var privateKey: String?
        /// The operators' own CA (PEM): with it, the listener requires a client certificate it issued, and that
        /// certificate is the operator's credential. Never a CA trusted for partners.
        public var clientCA: String?

        public init(
            listen: String,
            tokenFile: String?,
            certificate: String? = nil,
            privateKey: String? = nil,
            clientCA: String? = nil
        ) {
            self.listen = listen
            self.tokenFile = tokenFile
            self.certificate = certificate
            self.privateKey = privateKey
            self.clientCA = clientCA
        }

        /// Whether a listen host is reachable from this machine only.
        public static func isLoopback(_ host: String) -> Bool {
            host == "localhost" || host == "::1" || host.hasPrefix("127.")
        }
    }
}
