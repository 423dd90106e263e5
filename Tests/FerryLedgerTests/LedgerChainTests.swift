import FerryLedger
import FerryTestSupport
import Foundation
import PostgresNIO
import SQLiteNIO
import Testing

/// The hash chain: every kind of edit an insider with database access could make is found at the row it touches, on
/// SQLite and on PostgreSQL, and retention leaves a chain that still verifies.
@Suite("Ledger hash chain")
struct LedgerChainTests {
    typealias Backend = LedgerTests.Backend

    /// A ledger with `count` rows and a way to change its database behind its back (plain SQL, `?` placeholders become
    /// `$n` on PostgreSQL).
    static func withChain(
        _ backend: Backend,
        rows count: Int = 5,
        _ body: (any ChainedLedger, _ tamper: (String, [String]) async throws -> Void) async throws -> Void
    ) async throws {
        switch backend {
        case .sqlite:
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
                "ferry-chain-\(UUID().uuidString)"
            )
            defer { try? FileManager.default.removeItem(at: folder) }
            let path = folder.path + "/ledger.sqlite"
            let ledger = try await SQLiteLedger.open(path: path)
            try await ledger.record(rows(count))
            let tamper: (String, [String]) async throws -> Void = { sql, values in
                let connection = try await SQLiteConnection.open(storage: .file(path: path))
                do {
                    _ = try await connection.query(sql, values.map { .text($0) })
                } catch {
                    try? await connection.close()
                    throw error
                }
                try await connection.close()
            }
            do {
                try await body(ledger, tamper)
            } catch {
                try? await ledger.close()
                throw error
            }
            try await ledger.close()
        case .postgres:
            try await LedgerTests.withPostgres { database in
                let ledger = try await PostgresLedger.open(database, node: "node-a", within: LedgerTests.patience)
                try await ledger.record(rows(count))
                try await body(ledger) { sql, values in
                    var numbered = ""
                    var index = 0
                    for character in sql {
                        if character == "?" {
                            index += 1
                            numbered += "$\(index)"
                        } else {
                            numbered.append(character)
                        }
                    }
                    var binds = PostgresBindings()
                    for value in values { binds.append(value) }
                    _ = try await database.client.query(PostgresQuery(unsafeSQL: numbered, binds: binds)).collect()
                }
            }
        }
    }

    static func rows(_ count: Int, from first: Int = 0) -> [LedgerEntry] {
        (first..<first + count).map { index in
            var entry = LedgerTests.row(
                "acme",
                .put,
                "acme/in/é€ \(index).csv",
                ended: Date(timeIntervalSince1970: 1_800_000_000.123_456_7 + Double(index))
            )
            entry.id = String(format: "row-%03d", index)
            entry.sha256 = String(repeating: "ab", count: 32)
            entry.error = index == 2 ? "storage-unavailable (store acme/x: HTTP 503)" : nil
            entry.findings = index == 3 ? ["peer-alert", "ca-names-empty-illegal"] : []
            return entry
        }
    }

    @Test("an untouched ledger verifies: one chain, every row, the head is the last row", arguments: Backend.allCases)
    func intact(backend: Backend) async throws {
        try await Self.withChain(backend) { ledger, _ in
            try await ledger.record(Self.rows(3, from: 5))
            let report = try await LedgerChain.verify(ledger)
            #expect(report.intact && report.unchained == 0)
            #expect(report.chains.count == 1 && report.chains[0].rows == 8 && report.chains[0].head.seq == 8)
            let last = try #require(try await ledger.chained(report.chains[0].chain, afterSeq: 7, limit: 5).first)
            #expect(last.entry.id == "row-007" && last.link?.hash == report.chains[0].head.hash)
        }
    }

    /// Each edit and the seq where verify must say the chain breaks.
    static let edits: [(name: String, sql: [String], values: [String], seq: Int64)] = [
        ("a path changed", ["UPDATE transfers SET path = ? WHERE id = ?"], ["acme/in/other.csv", "row-002"], 3),
        ("a size changed", ["UPDATE transfers SET bytes = 999 WHERE id = ?"], ["row-001"], 2),
        ("a failure made ok", ["UPDATE transfers SET result = 'ok', error = NULL WHERE id = ?"], ["row-002"], 3),
        ("a finding removed", ["UPDATE transfers SET findings = NULL WHERE id = ?"], ["row-003"], 4),
        ("a time moved", ["UPDATE transfers SET ended = ended + 1 WHERE id = ?"], ["row-000"], 1),
        ("a row deleted", ["DELETE FROM transfers WHERE id = ?"], ["row-002"], 3),
        ("a row unchained", ["UPDATE transfers SET seq = NULL WHERE id = ?"], ["row-001"], 2),
        (
            "a row's hash rewritten", ["UPDATE transfers SET hash = ? WHERE id = ?"],
            [String(repeating: "0", count: 64), "row-003"], 4
        ),
        (
            "two rows swapped",
            [
                "UPDATE transfers SET seq = -seq WHERE id IN ('row-001', 'row-003')",
                "UPDATE transfers SET seq = 6 + seq WHERE seq < 0",
            ], [], 2
        ),
    ]

    @Test(
        "every kind of edit breaks the chain at the row it touched, and verify names it",
        arguments: Backend.allCases,
        edits.indices
    )
    func edited(backend: Backend, edit: Int) async throws {
        let edit = Self.edits[edit]
        try await Self.withChain(backend) { ledger, tamper in
            for statement in edit.sql { try await tamper(statement, edit.values) }
            let report = try await LedgerChain.verify(ledger)
            let broken = try #require(report.chains.first?.broken, "\(edit.name): not found")
            #expect(broken.seq == edit.seq, "\(edit.name): \(broken)")
            #expect(report.chains[0].rows == Int(edit.seq) - 1, "\(edit.name)")
        }
    }

    @Test(
        "a forged row inserted with a made-up link, and a whole chain recomputed: the first is found alone, the second only against kept heads",
        arguments: Backend.allCases
    )
    func forged(backend: Backend) async throws {
        try await Self.withChain(backend) { ledger, tamper in
            let kept = try await LedgerChain.verify(ledger).chains.map(\.head)
            // Appended after the head with a link that is not the head's hash.
            let chain = kept[0].chain
            try await tamper(
                """
                INSERT INTO transfers (id, \(backend == .postgres ? "node, " : "")direction, partner, operation, path, bytes,
                  started, ended, result, chain, seq, prev_hash, hash)
                VALUES ('forged', \(backend == .postgres ? "'node-a', " : "")'in', 'acme', 'PUT', 'acme/in/x', 1, 1, 1, 'ok', ?, 6, ?, ?)
                """,
                [chain, String(repeating: "1", count: 64), String(repeating: "2", count: 64)]
            )
            #expect(try await LedgerChain.verify(ledger).chains[0].broken?.id == "forged")
            try await tamper("DELETE FROM transfers WHERE id = 'forged'", [])
            // Rows cut from the end: every link that is left holds; only the head kept earlier tells.
            try await tamper("DELETE FROM transfers WHERE id IN ('row-003', 'row-004')", [])
            #expect(try await LedgerChain.verify(ledger).intact)
            let cut = try await LedgerChain.verify(ledger, heads: kept)
            #expect(cut.chains[0].broken?.reason.contains("removed from its end") == true, "\(cut)")
        }
    }

    @Test(
        "retention removes each chain's oldest rows and leaves an anchor: what remains verifies; an edited anchor does not",
        arguments: Backend.allCases
    )
    func retention(backend: Backend) async throws {
        try await Self.withChain(backend, rows: 6) { ledger, tamper in
            // A row recorded late with an old end time waits for the rows before it.
            var late = Self.rows(1, from: 6)[0]
            late.ended = Date(timeIntervalSince1970: 1_700_000_000)
            try await ledger.record([late])
            let removed = try await ledger.removeTransfers(endedBefore: Date(timeIntervalSince1970: 1_800_000_003))
            #expect(removed == 3)
            let report = try await LedgerChain.verify(ledger)
            #expect(report.intact, "\(report)")
            #expect(report.chains[0].start.seq == 3 && report.chains[0].rows == 4)
            // Everything old goes once the late row is the oldest left.
            #expect(try await ledger.removeTransfers(endedBefore: Date(timeIntervalSince1970: 1_900_000_000)) == 4)
            try await ledger.record(Self.rows(1, from: 10))
            let after = try await LedgerChain.verify(ledger)
            #expect(after.intact && after.chains[0].start.seq == 7 && after.chains[0].head.seq == 8, "\(after)")
            try await tamper("UPDATE ledger_anchors SET hash = ?", [String(repeating: "f", count: 64)])
            #expect(try await LedgerChain.verify(ledger).chains[0].broken?.seq == 8)
            try await tamper("DELETE FROM ledger_anchors", [])
            #expect(try await LedgerChain.verify(ledger).chains[0].broken?.reason.contains("missing") == true)
        }
    }

    @Test(
        "a row recorded by a cancelled task (a client that went away) is still written, and the rows after it link on",
        arguments: Backend.allCases
    )
    func cancelledWriter(backend: Backend) async throws {
        try await Self.withChain(backend) { ledger, _ in
            try await Task {
                withUnsafeCurrentTask { $0?.cancel() }
                try await ledger.record(Self.rows(1, from: 20))
            }.value
            try await ledger.record(Self.rows(1, from: 21))
            let report = try await LedgerChain.verify(ledger)
            #expect(report.intact && report.chains[0].rows == 7, "\(report)")
        }
    }

    @Test("the hash covers exactly the documented encoding (docs/ledger.md's worked example)")
    func documentedExample() {
        var entry = LedgerEntry(
            id: "example",
            direction: .inbound,
            partner: "acme",
            operation: .put,
            path: "acme/in/a.csv",
            bytes: 3,
            sha256: nil,
            started: Date(timeIntervalSince1970: 1),
            ended: Date(timeIntervalSince1970: 2.5),
            result: .ok
        )
        entry.findings = []
        // The netstrings of docs/ledger.md, hashed after 32 zero bytes, computed independently with Python's hashlib.
        #expect(
            LedgerChain.hash(entry, chain: "local", seq: 1, previous: LedgerChain.genesis)
                == "d195b2d8993e410dec0cc124af2a494d478b86cf2fb276094c8824a92e133688"
        )
    }
}
