public import Foundation

/// Something that happened, as actions and webhooks see it: a queued transfer's state change, a partner's file
/// committed, a failed handshake, a certificate about to expire. `id` is unique: a receiver that sees an id twice
/// (a delivery retried after a crash) knows it is the same event.
public struct FerryEvent: Sendable, Codable, Equatable {
    public var id: String
    /// `transfer.queued`, `.started`, `.retrying`, `.done`, `.failed`, `.cancelled`, `.held`, `file.received`,
    /// `handshake.failed`, `certificate.expiring`.
    public var type: String
    public var time: Date
    public var partner: String?
    /// `send`, `get` (queued transfers) or `inbound` (what a partner sent).
    public var direction: String?
    /// The queue entry, for transfer events.
    public var entry: String?
    public var state: String?
    public var attempt: Int?
    /// The local file (a send's source, a get's destination, a received file's stored path).
    public var local: String?
    /// The partner's path (queued transfers), or the path under the root (a received file).
    public var remote: String?
    public var bytes: Int64?
    public var sha256: String?
    /// The result or the error, in words.
    public var message: String?
    public var findings: [String]?
    public var exitCode: Int?
    /// What queued the transfer: `watch:NAME`, `schedule:ID`, `action:NAME`, or nothing for `ferry queue add`.
    public var origin: String?

    public init(id: String = UUID().uuidString.lowercased(), type: String, time: Date) {
        self.id = id
        self.type = type
        self.time = time
    }

    /// The event of an entry's state change.
    public init(entry: QueueEntry) {
        let type: String
        switch entry.state {
        case .scheduled, .queued: type = "transfer.queued"
        case .active: type = "transfer.started"
        case .retrying: type = "transfer.retrying"
        case .held: type = "transfer.held"
        case .done: type = "transfer.done"
        case .failed: type = "transfer.failed"
        case .cancelled: type = "transfer.cancelled"
        }
        self.init(type: type, time: entry.updated)
        partner = entry.partner
        direction = entry.direction.rawValue
        self.entry = entry.id
        state = entry.state.rawValue
        attempt = entry.attempts
        local = entry.local
        remote = entry.remote
        message =
            [.retrying, .failed].contains(entry.state) ? entry.lastError : entry.state == .done ? entry.result : nil
        findings = entry.findings.isEmpty ? nil : entry.findings
        exitCode = entry.exitCode
        origin = entry.origin
    }
}

/// One action's delivery of one event, as the outbox keeps it.
public struct Delivery: Sendable, Equatable {
    public enum State: String, Sendable, Codable, CaseIterable {
        case pending, done, failed
    }

    public var sequence: Int64
    public var action: String
    public var event: FerryEvent
    public var state: State
    public var attempts: Int
    public var nextAttempt: Date
    /// The last outcome: a command's exit status and output tail, a webhook's status, an error.
    public var detail: String?

    public init(
        sequence: Int64,
        action: String,
        event: FerryEvent,
        state: State,
        attempts: Int,
        nextAttempt: Date,
        detail: String?
    ) {
        self.sequence = sequence
        self.action = action
        self.event = event
        self.state = state
        self.attempts = attempts
        self.nextAttempt = nextAttempt
        self.detail = detail
    }
}
