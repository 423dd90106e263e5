public import FerryQueue
public import Foundation

/// What the `ferry queue` and `ferry schedule` commands send to the daemon's control socket, and what they get
/// back: JSON over HTTP/1.1 (`curl --unix-socket SOCKET http://ferry/v1/queue` reads the queue as well).
public enum ControlAPI {
    public static let queue = "/v1/queue"
    public static let schedules = "/v1/schedules"
    public static let deliveries = "/v1/deliveries"

    /// Dates as ISO 8601 with fractional seconds, keys sorted: stable output for scripts.
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true)))
        }
        return encoder
    }

    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let text = try decoder.singleValueContainer().decode(String.self)
            if let date = try? Date(
                text,
                strategy: .iso8601.year().month().day().time(includingFractionalSeconds: true)
            )
                // The common form without a fraction, before the slower formatter-based reader.
                ?? Date(text, strategy: .iso8601) ?? rfc3339(text)
            {
                return date
            }
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "'\(text)' is not an ISO 8601 date and time")
            )
        }
        return decoder
    }

    /// Any RFC 3339 time (an offset instead of `Z`, a fraction of a second or none, a lowercase `t` or `z`).
    static func rfc3339(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let upper = text.uppercased()
        return formatter.date(from: upper) ?? fractional.date(from: upper)
    }
}

/// The retry settings a request may give; absent ones take the partner's (`partners.NAME.queue`, `queue.*`).
public struct RetryRequest: Sendable, Codable, Equatable {
    /// Retries after the first attempt; -1: no count limit.
    public var retries: Int?
    public var retryWait: Double?
    public var retryMaximumWait: Double?
    /// Seconds after queueing after which no attempt starts; 0: none.
    public var deadline: Double?
    public var retryConfigurationErrors: Bool?

    public init(
        retries: Int? = nil,
        retryWait: Double? = nil,
        retryMaximumWait: Double? = nil,
        deadline: Double? = nil,
        retryConfigurationErrors: Bool? = nil
    ) {
        self.retries = retries
        self.retryWait = retryWait
        self.retryMaximumWait = retryMaximumWait
        self.deadline = deadline
        self.retryConfigurationErrors = retryConfigurationErrors
    }
}

/// `POST /v1/queue`: a transfer to queue.
public struct QueueRequest: Sendable, Codable, Equatable {
    public var direction: QueueEntry.Direction
    public var partner: String
    /// Absolute: the daemon does not share the command's working directory.
    public var local: String
    public var remote: String
    public var priority: Int?
    /// Not before this time.
    public var at: Date?
    public var retry: RetryRequest?
    public var rateLimit: Int64?
    /// Text mode, as `QueueEntry.text`.
    public var text: [String: String]?

    public init(
        direction: QueueEntry.Direction,
        partner: String,
        local: String,
        remote: String,
        priority: Int? = nil,
        at: Date? = nil,
        retry: RetryRequest? = nil,
        rateLimit: Int64? = nil,
        text: [String: String]? = nil
    ) {
        self.direction = direction
        self.partner = partner
        self.local = local
        self.remote = remote
        self.priority = priority
        self.at = at
        self.retry = retry
        self.rateLimit = rateLimit
        self.text = text
    }
}

/// `GET /v1/queue/ID`: the entry and its history.
public struct EntryDetail: Sendable, Codable, Equatable {
    public var entry: QueueEntry
    public var events: [QueueEvent]

    public init(entry: QueueEntry, events: [QueueEvent]) {
        self.entry = entry
        self.events = events
    }
}

/// `POST /v1/schedules`: a recurring transfer.
public struct ScheduleRequest: Sendable, Codable, Equatable {
    /// Seconds between occurrences (`--every`), or a cron expression with a time zone.
    public var every: Double?
    public var cron: String?
    public var timeZone: String?
    public var transfer: QueueRequest
    public var holds: [DateInterval]

    public init(every: Double?, cron: String?, timeZone: String?, transfer: QueueRequest, holds: [DateInterval]) {
        self.every = every
        self.cron = cron
        self.timeZone = timeZone
        self.transfer = transfer
        self.holds = holds
    }

    /// `holds` may be left out (none).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        every = try container.decodeIfPresent(Double.self, forKey: .every)
        cron = try container.decodeIfPresent(String.self, forKey: .cron)
        timeZone = try container.decodeIfPresent(String.self, forKey: .timeZone)
        transfer = try container.decode(QueueRequest.self, forKey: .transfer)
        holds = try container.decodeIfPresent([DateInterval].self, forKey: .holds) ?? []
    }
}

/// `POST /v1/queue/purge`: how many finished entries went.
public struct PurgeResult: Sendable, Codable, Equatable {
    public var purged: Int
    public init(purged: Int) { self.purged = purged }
}

/// An error the control API answers with: the status and what to do.
public struct ControlProblem: Sendable, Codable, Equatable {
    public var error: String
    public init(error: String) { self.error = error }
}

/// `GET /v1/deliveries`: what the actions did with each event.
public struct DeliveryView: Sendable, Codable, Equatable {
    public var action: String
    public var state: String
    public var attempts: Int
    public var nextAttempt: Date
    /// A command's exit status and the tail of its output, a webhook's answer, or the error.
    public var detail: String?
    public var event: FerryEvent

    public init(_ delivery: Delivery) {
        action = delivery.action
        state = delivery.state.rawValue
        attempts = delivery.attempts
        nextAttempt = delivery.nextAttempt
        detail = delivery.detail
        event = delivery.event
    }
}
