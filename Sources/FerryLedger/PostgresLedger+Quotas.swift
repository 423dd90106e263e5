import Logging
import NIOConcurrencyHelpers
import PostgresNIO

/// Quotas counted once for every node (docs/scaling.md): each home's count and every upload's hold are rows, and a
/// decision on a home runs in one transaction holding that home's advisory lock, so two nodes cannot both admit the
/// last room. A node that dies drops its lock with its connection; its holds of single requests stop counting once
/// it has been silent in `nodes` for `aliveWindow`.
extension PostgresLedger: QuotaAccounts, NamedLocks {
    /// The first key of the advisory locks of quota decisions and `NamedLocks` (the second is the hash of the name:
    /// `home:NAME`, `uploads:PARTNER`, `key:OBJECT-KEY`).
    static let namedLock = 0x4671_7561
    /// How long a node silent in `nodes` still counts as alive (its heartbeat comes every 10 s).
    public static let aliveWindow: Double = 30

    static let quotaMigration: (version: Int, sql: [String]) = (
        5,
        [
            "CREATE TABLE quota_usage (owner TEXT PRIMARY KEY, bytes BIGINT NOT NULL, files BIGINT NOT NULL)",
            """
            CREATE TABLE quota_holds (
                id TEXT PRIMARY KEY, node TEXT NOT NULL, owner TEXT, partner TEXT NOT NULL, bytes BIGINT NOT NULL,
                files BIGINT NOT NULL, resumable BOOLEAN NOT NULL, created DOUBLE PRECISION NOT NULL)
            """,
            "CREATE INDEX quota_holds_owner ON quota_holds (owner)",
        ]
    )

    public func deciding<T: Sendable>(
        _ keys: [String],
        _ decide: @escaping @Sendable (any QuotaDecision) async throws -> T
    ) async throws -> T {
        // A decision may count a home from the bucket's listing while it holds the lock.
        try await transaction(locking: keys, within: .seconds(120)) { try await decide($0) }
    }

    /// Once `body` has run, its outcome is the answer, whatever the database says after it (the transaction only
    /// held the locks); a `LedgerError` means that the locks were not taken and `body` did not run, `LocksLost`
    /// that it was cut while it ran.
    public func withLocks<T: Sendable>(
        shared: [String],
        exclusive: [String],
        _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let state = NIOLockedValueBox<(running: Bool, outcome: Result<T, any Error>?)>((false, nil))
        do {
            return try await transaction(sharing: shared, locking: exclusive, within: .seconds(120)) { _ in
                state.withLockedValue { $0.running = true }
                let result: Result<T, any Error>
                do { result = .success(try await body()) } catch { result = .failure(error) }
                state.withLockedValue { $0.outcome = result }
                return try result.get()
            }
        } catch {
            let (running, outcome) = state.withLockedValue { $0 }
            if let outcome { return try outcome.get() }
            if running {
                throw LocksLost(description: "the database stopped answering while the locked work ran: \(error)")
            }
            throw error
        }
    }

    @discardableResult
    public func release(_ id: String, change: QuotaUsage?) async throws -> String? {
        try await transaction { decision in
            let owner = try await decision.rows("DELETE FROM quota_holds WHERE id = $1 RETURNING owner", [id]).first
                .flatMap { try $0.decode(String?.self) }
            if let owner, let change { try await decision.add(owner, change) }
            return owner
        }
    }

    public func restore(_ hold: QuotaHold) async throws {
        try await transaction { try await $0.hold(hold, ifAbsent: true) }
    }

    public func startFresh(uploads: Set<String>) async throws {
        try await transaction { decision in
            _ = try await decision.rows("DELETE FROM quota_holds WHERE node = $1 AND NOT resumable", [decision.node])
            _ = try await decision.rows(
                """
                DELETE FROM quota_holds WHERE resumable AND NOT (id = ANY($1))
                AND created < extract(epoch FROM clock_timestamp()) - 3600
                """,
                [Array(uploads)]
            )
        }
    }

    /// Runs `body` in one transaction that first takes the advisory locks of `keys`, in sorted order so that two
    /// decisions never wait on each other. A database that has not begun the transaction within `connectWithin` is
    /// not waited for (the pool would wait for ever): `LedgerError`, and `body` never runs.
    private func transaction<T: Sendable>(
        sharing shared: [String] = [],
        locking keys: [String] = [],
        within deadline: Duration = .seconds(30),
        connectWithin: Duration = .seconds(5),
        _ body: @escaping @Sendable (Decision) async throws -> T
    ) async throws -> T {
        let exclusive = Set(keys)
        let locks = Set(shared).union(exclusive).sorted().map { ($0, exclusive.contains($0)) }
        let database = self.database
        let node = self.node
        // nil while the transaction is not begun; true once it is, false once it was given up.
        let begun = NIOLockedValueBox<Bool?>(nil)
        let late = "no answer from the database \(database.displayURL) within \(connectWithin)"
        do {
            return try await withDeadline(deadline, "no answer from the database within \(deadline)") {
                try await withThrowingTaskGroup(of: T?.self) { group in
                    group.addTask {
                        try await database.client.withTransaction(logger: database.logger) { connection in
                            guard
                                begun.withLockedValue({
                                    $0 = $0 ?? true
                                    return $0!
                                })
                            else { throw LedgerError(late) }
                            let decision = Decision(connection: connection, logger: database.logger, node: node)
                            for (key, isExclusive) in locks {
                                let function = isExclusive ? "pg_advisory_xact_lock" : "pg_advisory_xact_lock_shared"
                                _ = try await decision.rows(
                                    "SELECT \(function)(\(Self.namedLock), hashtext($1))",
                                    [key]
                                )
                            }
                            return try await body(decision)
                        }
                    }
                    group.addTask {
                        try await Task.sleep(for: connectWithin)
                        if !begun.withLockedValue({
                            $0 = $0 ?? false
                            return $0!
                        }) {
                            throw LedgerError(late)
                        }
                        return nil
                    }
                    while let next = try await group.next() {
                        guard let value = next else { continue }
                        // The watch over the start would otherwise be waited for.
                        group.cancelAll()
                        return value
                    }
                    throw LedgerError(late)
                }
            }
        } catch {
            throw quotaError(error)
        }
    }

    /// What a decision threw: its own error (a store's listing that failed) as it is, the database's as a
    /// `LedgerError` that names the database.
    private func quotaError(_ error: any Error) -> any Error {
        var error = error
        if let transaction = error as? PostgresTransactionError {
            error = transaction.closureError ?? transaction.commitError ?? transaction.beginError ?? error
        }
        guard error is PSQLError || error is PostgresTransactionError else { return error }
        return LedgerError("the quota accounts in \(database.displayURL) failed: \(PostgresDatabase.describe(error))")
    }

    /// A decision's reads and writes, on the connection of its transaction.
    struct Decision: QuotaDecision {
        let connection: PostgresConnection
        let logger: Logger
        let node: String

        func rows(_ sql: String, _ values: [any PostgresDynamicTypeEncodable & Sendable]) async throws -> [PostgresRow]
        {
            var binds = PostgresBindings()
            for value in values { binds.append(value) }
            return try await connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger).collect()
        }

        func stored(_ owner: String) async throws -> QuotaUsage? {
            try await rows("SELECT bytes, files FROM quota_usage WHERE owner = $1", [owner]).first.map {
                let columns = $0.makeRandomAccess()
                return QuotaUsage(
                    bytes: try columns["bytes"].decode(Int64.self),
                    files: Int(try columns["files"].decode(Int64.self))
                )
            }
        }

        func recounted(_ owner: String, _ usage: QuotaUsage, live: Set<String>) async throws {
            _ = try await rows(
                """
                INSERT INTO quota_usage (owner, bytes, files) VALUES ($1, $2, $3)
                ON CONFLICT (owner) DO UPDATE SET bytes = excluded.bytes, files = excluded.files
                """,
                [owner, usage.bytes, Int64(usage.files)]
            )
            _ = try await rows(
                "DELETE FROM quota_holds WHERE node = $1 AND NOT resumable AND owner = $2 AND NOT (id = ANY($3))",
                [node, owner, Array(live)]
            )
        }

        func pending(_ owner: String) async throws -> QuotaUsage {
            // Holds of single requests on a node that has gone silent died with it.
            _ = try await rows(
                """
                DELETE FROM quota_holds h WHERE NOT resumable AND node <> $1 AND NOT EXISTS (
                  SELECT 1 FROM nodes n WHERE n.name = h.node AND n.seen > extract(epoch FROM clock_timestamp()) - $2)
                """,
                [node, PostgresLedger.aliveWindow]
            )
            let row = try await rows(
                """
                SELECT coalesce(sum(greatest(bytes, 0)), 0)::BIGINT AS bytes, coalesce(sum(files), 0)::BIGINT AS files
                FROM quota_holds WHERE owner = $1
                """,
                [owner]
            ).first?.makeRandomAccess()
            guard let row else { return .zero }
            return QuotaUsage(
                bytes: try row["bytes"].decode(Int64.self),
                files: Int(try row["files"].decode(Int64.self))
            )
        }

        func openUploads(of partner: String) async throws -> Int {
            let row = try await rows(
                "SELECT count(*) FROM quota_holds WHERE resumable AND partner = $1",
                [partner.lowercased()]
            ).first
            return Int(try row?.decode(Int64.self) ?? 0)
        }

        func hold(_ hold: QuotaHold) async throws { try await self.hold(hold, ifAbsent: false) }

        func add(_ owner: String, _ change: QuotaUsage) async throws {
            _ = try await rows(
                "UPDATE quota_usage SET bytes = greatest(0, bytes + $2), files = greatest(0, files + $3) WHERE owner = $1",
                [owner, change.bytes, Int64(change.files)]
            )
        }

        func hold(_ hold: QuotaHold, ifAbsent: Bool) async throws {
            var binds = PostgresBindings()
            binds.append(hold.id)
            binds.append(node)
            if let owner = hold.owner { binds.append(owner) } else { binds.appendNull() }
            binds.append(hold.partner)
            binds.append(hold.bytes)
            binds.append(Int64(hold.files))
            binds.append(hold.resumable)
            let sql =
                """
                INSERT INTO quota_holds (id, node, owner, partner, bytes, files, resumable, created)
                VALUES ($1, $2, $3, $4, $5, $6, $7, extract(epoch FROM clock_timestamp()))
                """ + (ifAbsent ? " ON CONFLICT (id) DO NOTHING" : "")
            _ = try await connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger).collect()
        }
    }
}

/// Work done under `NamedLocks` was cut (the database stopped answering while it ran): it may or may not have had
/// its effect.
public struct LocksLost: Error, CustomStringConvertible {
    public let description: String
}
