public import FerryConfig
import FerryDiagnosis
public import FerryLedger
import FerryProtocol
import FerryQueue
public import Foundation
import Hummingbird
import NIOCore

/// What `ferry serve` shows its operators on the control socket, beside the queue: the server's ledger (transfers
/// and failed handshakes, filtered and paged as `ferry history` does), health, and Prometheus metrics. Partners never
/// reach it: it is served only on the 0600 Unix socket whose peers are checked (`PeerCheck`).
public struct AdminPlane: Sendable {
    /// The server's ledger (read only here).
    public let ledger: any Ledger
    /// The Prometheus text exposition of the server's metrics, given the queue's entries by state (not finished).
    public let metrics: @Sendable (_ queue: [String: Int]) -> String
    /// The server's state for `/v1/health`.
    public let health: @Sendable () -> AdminHealth
    /// The configuration the server runs with (partners, access rules, quotas; never shown whole).
    public let configuration: FerryConfiguration
    /// The certificates in use now (a reload shows at once).
    public let certificates: @Sendable () -> [AdminCertificate]
    /// What the server still holds of a failed handshake's ledger row: its trace and findings with evidence.
    public let handshake: @Sendable (String) -> AdminHandshakeRecord?

    public init(
        ledger: any Ledger,
        configuration: FerryConfiguration,
        metrics: @escaping @Sendable (_ queue: [String: Int]) -> String,
        health: @escaping @Sendable () -> AdminHealth,
        certificates: @escaping @Sendable () -> [AdminCertificate] = { [] },
        handshake: @escaping @Sendable (String) -> AdminHandshakeRecord? = { _ in nil }
    ) {
        self.ledger = ledger
        self.configuration = configuration
        self.metrics = metrics
        self.health = health
        self.certificates = certificates
        self.handshake = handshake
    }

    /// The configured partners, each with the end of its last transfer (one ledger read per partner).
    func partners() async throws -> [AdminPartner] {
        var partners = AdminPartner.all(configuration)
        for index in partners.indices {
            partners[index].lastSeen =
                try await ledger.transfers(LedgerQuery(partner: partners[index].name, limit: 1)).entries.first?.ended
        }
        return partners
    }

    /// A ledger row with what explains it: for a failed handshake its findings (with this case's evidence while the
    /// server holds its trace, else the catalogue's text) and its trace; for a queued transfer's row, its queue entry
    /// and every attempt (while the queue keeps the entry).
    func transfer(id: String, store: any QueueStore) async throws -> TransferDetail? {
        guard let entry = try await ledger.transfers(LedgerQuery(id: id, limit: 1)).entries.first else { return nil }
        let held = entry.operation == .tls ? handshake(id) : nil
        let findings = held?.findings ?? entry.findings.map { Finding.catalogued(id: $0) ?? Finding.unknown(id: $0) }
        var queued: EntryDetail?
        if let queueID = QueueTransfer.queueEntry(ofRow: id), let queueEntry = try await store.entry(id: queueID) {
            queued = EntryDetail(entry: queueEntry, events: try await store.events(id: queueID))
        }
        return TransferDetail(transfer: entry, findings: findings, trace: held?.trace, queued: queued)
    }
}

/// `/v1/transfers/{id}`.
struct TransferDetail: Encodable {
    var transfer: LedgerEntry
    var findings: [Finding]
    /// The handshake as `ferry trace` shows it, while the server still holds it (its most recent failures).
    var trace: String?
    /// For a row of a queued transfer: the entry, and its events (each attempt, each retry with its error).
    var queued: EntryDetail?
}

/// `/v1/health`: whether the server is up and what it serves (no secrets: no keys, no passwords, no URLs with them).
public struct AdminHealth: Codable, Sendable {
    public var status: String
    public var version: String
    public var started: Date
    public var listen: String
    public var root: String
    public var storage: String
    public var database: String
    public var partners: [String]
    public var certificateExpires: Date?

    public init(
        status: String = "ok",
        version: String,
        started: Date,
        listen: String,
        root: String,
        storage: String,
        database: String,
        partners: [String],
        certificateExpires: Date?
    ) {
        self.status = status
        self.version = version
        self.started = started
        self.listen = listen
        self.root = root
        self.storage = storage
        self.database = database
        self.partners = partners
        self.certificateExpires = certificateExpires
    }
}

/// A page of ledger rows and the cursor of the next.
struct TransferPage: Encodable {
    var transfers: [LedgerEntry]
    var next: String?
}

extension ControlAPI {
    public static let transfers = "/v1/transfers"
    public static let partners = "/v1/partners"
    public static let certificates = "/v1/certificates"
    public static let handshakes = "/v1/handshakes"
    public static let health = "/v1/health"
    public static let metrics = "/metrics"
    public static let openAPI = "/openapi.yaml"
}

enum AdminRoutes {
    static func add(_ admin: AdminPlane, store: any QueueStore, to router: Router<ControlContext>) {
        router.get(RouterPath(ControlAPI.transfers)) { request, _ -> Response in
            try await page(request, admin: admin, operation: nil)
        }
        router.get(RouterPath(ControlAPI.transfers + "/:id")) { _, context -> Response in
            let id = try context.parameters.require("id")
            guard let detail = try await admin.transfer(id: id, store: store) else {
                throw ControlFailure(.notFound, "no ledger row \(id): list them with GET \(ControlAPI.transfers)")
            }
            return try ControlRoutes.reply(detail)
        }
        router.get(RouterPath(ControlAPI.partners)) { _, _ -> Response in
            try ControlRoutes.reply(try await admin.partners())
        }
        router.get(RouterPath(ControlAPI.certificates)) { _, _ -> Response in
            try ControlRoutes.reply(admin.certificates())
        }
        router.get(RouterPath(ControlAPI.handshakes)) { request, _ -> Response in
            try await page(request, admin: admin, operation: .tls)
        }
        router.get(RouterPath(ControlAPI.health)) { _, _ -> Response in
            try ControlRoutes.reply(admin.health())
        }
        router.get(RouterPath(ControlAPI.openAPI)) { _, _ -> Response in
            Response(
                status: .ok,
                headers: [.contentType: "application/yaml"],
                body: .init(byteBuffer: ByteBuffer(string: AdminAPIDocument.yaml))
            )
        }
        router.get(RouterPath(ControlAPI.metrics)) { _, _ -> Response in
            Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: admin.metrics(try await queueDepth(store))))
            )
        }
    }

    /// The queue's entries that are not finished, by state (every such state, zero included).
    static func queueDepth(_ store: any QueueStore) async throws -> [String: Int] {
        let waiting: [QueueEntry.State] = QueueEntry.State.allCases.filter { !$0.isFinal }
        var depth = Dictionary(uniqueKeysWithValues: waiting.map { ($0.rawValue, 0) })
        for entry in try await store.entries(in: Set(waiting)) { depth[entry.state.rawValue, default: 0] += 1 }
        return depth
    }

    /// The ledger filtered by the query: partner, direction (in, out), result (ok, failed), operation, path (a prefix),
    /// since and until (ISO 8601), limit (1 to 10,000, default 100) and after (the cursor of the page before).
    static func page(
        _ request: Request,
        admin: AdminPlane,
        operation fixed: LedgerEntry.Operation?
    ) async throws
        -> Response
    {
        let parameters = request.uri.queryParameters
        // A parameter given empty is given: `until=` is not a time, and is refused as one.
        func value(_ name: String) -> String? { parameters.get(name) }
        func date(_ name: String) throws -> Date? {
            guard let text = value(name) else { return nil }
            guard let date = ControlAPI.rfc3339(text) else {
                throw ControlFailure(
                    .badRequest,
                    "\(name)='\(text)' is not an RFC 3339 time, such as 2026-12-01T00:00:00Z or 2026-12-01T09:30:00.5+01:00"
                )
            }
            return date
        }
        var query = LedgerQuery(
            partner: value("partner"),
            pathPrefix: value("path"),
            since: try date("since"),
            until: try date("until")
        )
        if let text = value("limit") {
            guard let limit = Int(text), (1...10_000).contains(limit) else {
                throw ControlFailure(.badRequest, "limit='\(text)' is not a whole number from 1 to 10000")
            }
            query.limit = limit
        }
        if let text = value("direction") {
            guard let direction = LedgerEntry.Direction(rawValue: text) else {
                throw ControlFailure(.badRequest, "direction='\(text)' is not in or out")
            }
            query.direction = direction
        }
        if let text = value("result") {
            guard let result = LedgerEntry.Result(rawValue: text) else {
                throw ControlFailure(.badRequest, "result='\(text)' is not ok or failed")
            }
            query.result = result
        }
        if let fixed {
            query.operation = fixed
        } else if let text = value("operation") {
            guard let operation = LedgerEntry.Operation.named(text) else {
                throw ControlFailure(
                    .badRequest,
                    "operation='\(text)' is not one of \(LedgerEntry.Operation.all.map(\.name).joined(separator: ", "))"
                )
            }
            query.operation = operation
        }
        if let text = value("after") {
            guard text.wholeMatch(of: Self.cursorPattern) != nil, let cursor = LedgerCursor(text) else {
                throw ControlFailure(.badRequest, "after='\(text)' is not a cursor this API handed out (copy `next`)")
            }
            query.after = cursor
        }
        let page = try await admin.ledger.transfers(query)
        return try ControlRoutes.reply(TransferPage(transfers: page.entries, next: page.next?.description))
    }
}

extension AdminRoutes {
    /// The cursors this API hands out (`next`), as docs/admin-api.yaml describes them: a positive time's bits in
    /// hexadecimal, a dot, a row id.
    nonisolated(unsafe) static let cursorPattern = /(?:[0-6][0-9a-f]{15}|[0-9a-f]{1,15})\.[0-9a-f-]{1,64}/
}
