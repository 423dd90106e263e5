import FerryLedger
import FerryProtocol
import Foundation
import Testing

/// The spool a node keeps while the shared database does not answer.
@Suite("Ledger spool")
struct SpoolTests {
    @Test(
        "a line cut by a crash mid-append stays one damaged line: the rows around it reach the database, the cut line is kept aside"
    )
    func cutLine() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-spool-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let spool = folder.path + "/ledger-spool.jsonl"
        let base = Date(timeIntervalSince1970: 1_800_000_000)
        let before = LedgerTests.row("acme", .put, "acme/before.txt", ended: base)
        let after = LedgerTests.row("acme", .put, "acme/after.txt", ended: base + 1)
        // A spooled row, then the start of one that a crash cut (no line end).
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        let cut = #"{"id":"0A1B","partner":"acme","path":"acme/cut"#
        try (try encoder.encode(before) + Data("\n".utf8) + Data(cut.utf8)).write(to: URL(fileURLWithPath: spool))

        // The node comes back while the database is still down (a closed ledger fails every write): the next row
        // is spooled after the cut line.
        let down = try await SQLiteLedger.open(path: folder.path + "/down.sqlite")
        try await down.close()
        let waiting = SpooledLedger(down, spool: spool, wait: .seconds(2), retry: .seconds(3_600))
        try await waiting.record([after])
        #expect(waiting.spooled().map(\.path) == ["acme/before.txt", "acme/after.txt"])

        // The database answers again: both rows go, the cut line is kept aside, the spool is gone.
        let up = try await SQLiteLedger.open(path: folder.path + "/up.sqlite")
        let spooled = SpooledLedger(up, spool: spool, wait: .seconds(2), retry: .seconds(3_600))
        await spooled.flush()
        let recorded = try await up.transfers(LedgerQuery()).entries.map(\.path)
        #expect(Set(recorded) == ["acme/before.txt", "acme/after.txt"] && recorded.count == 2)
        let damaged = try String(contentsOfFile: spooled.damagedPath, encoding: .utf8)
        #expect(damaged == cut + "\n")
        #expect(
            !FileManager.default.fileExists(atPath: spool)
                && !FileManager.default.fileExists(atPath: spool + ".sending")
        )
        try await spooled.close()
    }
}
