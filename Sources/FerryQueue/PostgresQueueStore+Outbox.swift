public import FerryLedger
public import Foundation
import PostgresNIO

/// The outbox of the queue in PostgreSQL: events in commit order, their deliveries to actions, and readers'
/// positions.
extension PostgresQueueStore {
    // MARK: Events and the outbox

    static func decodeEvent(_ row: PostgresRow) -> FerryEvent? {
        (try? row.makeRandomAccess()["event"].decode(String.self)).flatMap {
            try? decoder.decode(FerryEvent.self, from: Data($0.utf8))
        }
    }

    @discardableResult
    func insert(_ event: FerryEvent, key: String?, in transaction: Transaction) async throws -> Bool {
        // Shared: events insert side by side; `fanOut` waits for their commits (see the type's notes).
        try await transaction.run("SELECT pg_advisory_xact_lock_shared(\(Self.eventsLock))")
        return
            !(try await transaction.rows(
                """
                INSERT INTO queue_events (id, key, time, type, entry, event) VALUES ($1, $2, $3, $4, $5, $6)
                ON CONFLICT DO NOTHING RETURNING seq
                """,
                Self.bindings([
                    event.id, key, event.time.timeIntervalSince1970, event.type, event.entry, try Self.json(event),
                ])
            ).isEmpty)
    }

    public func record(_ event: FerryEvent, key: String?) async throws -> Bool {
        try await transaction { try await self.insert(event, key: key, in: $0) }
    }

    public func fanOut(limit: Int, route: @escaping @Sendable (FerryEvent) -> [String]) async throws -> Int {
        try await transaction { transaction in
            try await transaction.run("SELECT pg_advisory_xact_lock(\(Self.eventsLock))")
            let cursor = Int64(
                try await transaction.rows("SELECT value FROM queue_positions WHERE name = 'outbox:actions'")
                    .first?.decode(Double.self) ?? 0
            )
            let rows = try await transaction.rows(
                "SELECT seq, event FROM queue_events WHERE seq > $1 ORDER BY seq LIMIT $2",
                Self.bindings([cursor, limit])
            )
            var last = cursor
            for row in rows {
                let seq = try row.makeRandomAccess()["seq"].decode(Int64.self)
                last = seq
                guard let event = Self.decodeEvent(row) else { continue }
                for action in route(event) {
                    try await transaction.run(
                        """
                        INSERT INTO queue_deliveries (seq, action, state, attempts, next) VALUES ($1, $2, 'pending', 0, $3)
                        ON CONFLICT DO NOTHING
                        """,
                        Self.bindings([seq, action, event.time.timeIntervalSince1970])
                    )
                }
            }
            if last != cursor {
                try await transaction.run(
                    "UPDATE queue_positions SET value = $1 WHERE name = 'outbox:actions'",
                    Self.bindings([Double(last)])
                )
            }
            return rows.count
        }
    }

    /// A reader's position; several nodes reading the same source keep the furthest one.
    public func position(_ name: String) async throws -> Double? {
        try await transaction { transaction in
            try await transaction.rows(
                "SELECT value FROM queue_positions WHERE name = $1",
                Self.bindings(["position:" + name])
            ).first?.decode(Double.self)
        }
    }

    public func setPosition(_ name: String, _ value: Double) async throws {
        try await transaction { transaction in
            try await transaction.run(
                """
                INSERT INTO queue_positions (name, value) VALUES ($1, $2)
                ON CONFLICT (name) DO UPDATE SET value = greatest(queue_positions.value, excluded.value)
                """,
                Self.bindings(["position:" + name, value])
            )
        }
    }

    private static let deliveryColumns = """
        SELECT d.seq, d.action, d.state, d.attempts, d.next, d.detail, e.event
        FROM queue_deliveries d JOIN queue_events e ON e.seq = d.seq
        """

    private static func decodeDelivery(_ row: PostgresRow) -> Delivery? {
        let columns = row.makeRandomAccess()
        guard let seq = try? columns["seq"].decode(Int64.self), let action = try? columns["action"].decode(String.self),
            let state = (try? columns["state"].decode(String.self)).flatMap(Delivery.State.init(rawValue:)),
            let event = decodeEvent(row)
        else { return nil }
        return Delivery(
            sequence: seq,
            action: action,
            event: event,
            state: state,
            attempts: Int((try? columns["attempts"].decode(Int32.self)) ?? 0),
            nextAttempt: Date(timeIntervalSince1970: (try? columns["next"].decode(Double.self)) ?? 0),
            detail: try? columns["detail"].decode(String?.self)
        )
    }

    /// The due deliveries, claimed for this node: their next attempt is pushed `deliveryClaim` ahead, so another
    /// node does not carry them out too (and does, after that time, when this node died on the way).
    public func dueDeliveries(now: Date, limit: Int) async throws -> [Delivery] {
        try await transaction { transaction in
            let claimed = try await transaction.rows(
                """
                UPDATE queue_deliveries SET next = $3 WHERE (seq, action) IN (
                  SELECT seq, action FROM queue_deliveries WHERE state = 'pending' AND next <= $1
                  ORDER BY next, seq LIMIT $2 FOR UPDATE SKIP LOCKED)
                RETURNING seq, action
                """,
                Self.bindings([
                    now.timeIntervalSince1970, limit, now.addingTimeInterval(self.deliveryClaim).timeIntervalSince1970,
                ])
            )
            guard !claimed.isEmpty else { return [] }
            let keys = try claimed.map { try $0.decode((Int64, String).self) }
            return try await transaction.rows(
                Self.deliveryColumns
                    + " WHERE (d.seq, d.action) IN (SELECT * FROM unnest($1::bigint[], $2::text[])) ORDER BY d.seq",
                Self.bindings([keys.map(\.0), keys.map(\.1)])
            ).compactMap(Self.decodeDelivery)
        }
    }

    public func update(_ delivery: Delivery) async throws {
        try await transaction { transaction in
            try await transaction.run(
                "UPDATE queue_deliveries SET state = $1, attempts = $2, next = $3, detail = $4 WHERE seq = $5 AND action = $6",
                Self.bindings([
                    delivery.state.rawValue, Int32(delivery.attempts), delivery.nextAttempt.timeIntervalSince1970,
                    delivery.detail, delivery.sequence, delivery.action,
                ])
            )
        }
    }

    public func deliveries(in states: Set<Delivery.State>?, limit: Int) async throws -> [Delivery] {
        try await transaction { transaction in
            if let states {
                return try await transaction.rows(
                    Self.deliveryColumns + " WHERE d.state = ANY($1) ORDER BY d.seq DESC LIMIT $2",
                    Self.bindings([states.map(\.rawValue), limit])
                ).compactMap(Self.decodeDelivery)
            }
            return try await transaction.rows(
                Self.deliveryColumns + " ORDER BY d.seq DESC LIMIT $1",
                Self.bindings([limit])
            ).compactMap(Self.decodeDelivery)
        }
    }
}
