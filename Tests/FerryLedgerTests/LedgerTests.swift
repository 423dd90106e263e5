import FerryLedger
import FerryProtocol
import FerryTestSupport
import Foundation
import Logging
import SQLiteNIO
import Testing

/// The embedded ledger behind the `Ledger` protocol: filters, pages that hold still, one row format.
@Suite("Ledger")
struct LedgerTests {
    /// Where the ledger lives: the embedded SQLite file, or a real PostgreSQL server (the shared one of several
    /// nodes); every test of the contract runs on both.
    enum Backend: String, CaseIterable, CustomStringConvertible {
        case sqlite, postgres
        var description: String { rawValue }
    }

    static func withLedger(
        _ backend: Backend = .sqlite,
        _ body: (any Ledger & DigestIndex) async throws -> Void
    ) async throws {
        switch backend {
        case .sqlite:
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
                "ferry-ledger-\(UUID().uuidString)"
            )
            defer { try? FileManager.default.removeItem(at: folder) }
            let ledger = try await SQLiteLedger.open(path: folder.path + "/ledger.sqlite")
            do {
                try await body(ledger)
            } catch {
                try? await ledger.close()
                throw error
            }
            try await ledger.close()
        case .postgres:
            // A long deadline: the whole suite in parallel on two cores can keep the pool from connecting for a while.
            try await withPostgres { database in
                try await body(try await PostgresLedger.open(database, within: Self.patience))
            }
        }
    }

    static let patience: Duration = .seconds(120)

    @Test(
        "the nodes alive: each heartbeat counts the nodes seen within the window, a node that leaves stops counting at once, a silent one after the window"
    )
    func nodeRoster() async throws {
        try await Self.withPostgres { database in
            let a = try await PostgresLedger.open(database, node: "node-a", within: Self.patience)
            let b = try await PostgresLedger.open(database, node: "node-b", within: Self.patience)
            #expect(try await a.heartbeat(window: 30) == 1)
            #expect(try await b.heartbeat(window: 30) == 2)
            #expect(try await a.heartbeat(window: 30) == 2)
            try await b.leave()
            #expect(try await a.heartbeat(window: 30) == 1)
            #expect(try await b.heartbeat(window: 30) == 2)
            // B falls silent: once the window has passed without its heartbeat, A counts only itself.
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await a.heartbeat(window: 0.2) == 1)
        }
    }

    /// A database on a PostgreSQL server started for the test, its pool running.
    static func withPostgres(_ body: (PostgresDatabase) async throws -> Void) async throws {
        let server = try await PostgresTestServer.start(port: freeLoopbackPort())
        let database = try PostgresDatabase(url: server.url)
        let pool = Task { await database.run() }
        do {
            try await body(database)
        } catch {
            pool.cancel()
            await server.stop()
            throw error
        }
        pool.cancel()
        await server.stop()
    }

    static func row(
        _ partner: String,
        _ operation: LedgerEntry.Operation,
        _ path: String,
        ended: Date,
        result: LedgerEntry.Result = .ok,
        direction: LedgerEntry.Direction = .inbound
    ) -> LedgerEntry {
        LedgerEntry(
            direction: direction,
            partner: partner,
            operation: operation,
            path: path,
            bytes: 1,
            sha256: nil,
            started: ended,
            ended: ended,
            result: result
        )
    }

    @Test(
        "filters by partner, direction, result, operation, path prefix and time, each alone and together",
        arguments: Backend.allCases
    )
    func filters(backend: Backend) async throws {
        try await Self.withLedger(backend) { ledger in
            let base = Date(timeIntervalSince1970: 1_800_000_000)
            try await ledger.record([
                Self.row("acme", .put, "acme/in/a.txt", ended: base),
                Self.row("acme", .get, "acme/out/b.txt", ended: base + 10, direction: .outbound),
                Self.row("globex", .put, "globex/in/c.txt", ended: base + 20, result: .failed),
                Self.row("-", .tls, "-", ended: base + 30, result: .failed),
                Self.row("acme", .tus, "acme/in/%_d.txt", ended: base + 40),
            ])
            func paths(_ query: LedgerQuery) async throws -> [String] {
                try await ledger.transfers(query).entries.map(\.path)
            }
            #expect(
                try await paths(LedgerQuery()) == [
                    "acme/in/%_d.txt", "-", "globex/in/c.txt", "acme/out/b.txt", "acme/in/a.txt",
                ]
            )
            #expect(
                try await paths(LedgerQuery(partner: "acme")) == ["acme/in/%_d.txt", "acme/out/b.txt", "acme/in/a.txt"]
            )
            #expect(try await paths(LedgerQuery(direction: .outbound)) == ["acme/out/b.txt"])
            #expect(try await paths(LedgerQuery(result: .failed)) == ["-", "globex/in/c.txt"])
            #expect(try await paths(LedgerQuery(operation: .tls)) == ["-"])
            #expect(try await paths(LedgerQuery(pathPrefix: "acme/in/")) == ["acme/in/%_d.txt", "acme/in/a.txt"])
            // `%` and `_` are themselves, not patterns.
            #expect(try await paths(LedgerQuery(pathPrefix: "acme/in/%_")) == ["acme/in/%_d.txt"])
            #expect(try await paths(LedgerQuery(pathPrefix: "acme/in/__")) == [])
            #expect(
                try await paths(LedgerQuery(since: base + 10, until: base + 30)) == [
                    "globex/in/c.txt", "acme/out/b.txt",
                ]
            )
            #expect(
                try await paths(LedgerQuery(partner: "acme", result: .ok, pathPrefix: "acme/in", since: base + 1)) == [
                    "acme/in/%_d.txt"
                ]
            )
        }
    }

    @Test(
        "pages by cursor: every row once, in order, even with equal end times and rows appended between pages",
        arguments: Backend.allCases
    )
    func pages(backend: Backend) async throws {
        try await Self.withLedger(backend) { ledger in
            let base = Date(timeIntervalSince1970: 1_800_000_000)
            // 25 rows, five of each end time, so a page boundary falls inside a group of equal times.
            let rows = (0..<25).map { Self.row("acme", .put, "acme/f\($0)", ended: base + Double($0 / 5)) }
            try await ledger.record(rows)
            var seen: [String] = []
            var query = LedgerQuery(limit: 7)
            var pages = 0
            while true {
                let page = try await ledger.transfers(query)
                seen += page.entries.map(\.id)
                pages += 1
                // A newer row arriving mid-read does not shift the pages already handed out.
                if pages == 1 { try await ledger.record(Self.row("acme", .put, "acme/late", ended: base + 100)) }
                guard let next = page.next else { break }
                // The cursor survives its text form, as an API or `--after` hands it back.
                query.after = try #require(LedgerCursor(next.description))
            }
            #expect(pages == 4)
            #expect(seen.count == 25 && Set(seen) == Set(rows.map(\.id)))
            let expected = rows.sorted { ($0.ended, $0.id) > ($1.ended, $1.id) }.map(\.id)
            #expect(seen == expected)
        }
    }

    @Test(
        "a cursor text this ledger did not print is refused",
        arguments: ["", "abc", "zz.1234", "7ff0000000000000.ab", "41d0.", "41d0.x;DROP"]
    )
    func badCursor(text: String) {
        #expect(LedgerCursor(text) == nil)
    }

    @Test(
        "one certificate format: a serial with colons or capitals is stored as lowercase hexadecimal, an unverified one marked",
        arguments: Backend.allCases
    )
    func peerCertificate(backend: Backend) async throws {
        try await Self.withLedger(backend) { ledger in
            var verified = Self.row("acme", .put, "acme/a", ended: Date())
            verified.peer = LedgerEntry.PeerCertificate(subject: "CN=acme", issuer: "CN=CA", serial: "0A:1b:FF")
            let unverified = LedgerEntry(
                direction: .inbound,
                partner: "-",
                operation: .tls,
                path: "-",
                bytes: 0,
                sha256: nil,
                started: Date(),
                result: .failed,
                peer: LedgerEntry.PeerCertificate(
                    subject: "CN=x",
                    issuer: "CN=Other",
                    serial: "0a1bff",
                    verified: false
                )
            )
            try await ledger.record([verified, unverified])
            let stored = try await ledger.recent(limit: 10)
            #expect(Set(stored.map(\.peerSerial)) == ["0a1bff"])
            let tls = try #require(stored.first { $0.operation == .tls })
            #expect(tls.peerSubject == "unverified: CN=x" && tls.peerIssuer == "unverified: CN=Other")
            #expect(
                tls.peer
                    == LedgerEntry.PeerCertificate(
                        subject: "CN=x",
                        issuer: "CN=Other",
                        serial: "0a1bff",
                        verified: false
                    )
            )
            #expect(stored.first { $0.operation == .put }?.peer?.verified == true)
            // Text that is not a serial number is kept as it came (escaped by the caller), not mangled.
            #expect(LedgerEntry.PeerCertificate(subject: "", issuer: "", serial: "not-hex").serial == "not-hex")
        }
    }

    @Test("operations are a registry: JSON carries the name, a stored name this version does not know is kept")
    func operations() throws {
        let entry = Self.row("acme", .tus, "acme/a", ended: Date(timeIntervalSince1970: 1_800_000_000))
        let json = String(decoding: try JSONEncoder().encode(entry), as: UTF8.self)
        #expect(json.contains(#""operation":"TUS""#), "\(json)")
        let back = try JSONDecoder().decode(
            LedgerEntry.self,
            from: Data(json.replacingOccurrences(of: #""TUS""#, with: #""ARCHIVE""#).utf8)
        )
        #expect(back.operation.name == "ARCHIVE" && !LedgerEntry.Operation.all.contains(back.operation))
        #expect(LedgerEntry.Operation.named("tus") == .tus && LedgerEntry.Operation.named("nope") == nil)
    }

    @Test("the digest index answers only while the file's stamp is unchanged", arguments: Backend.allCases)
    func digestIndex(backend: Backend) async throws {
        try await Self.withLedger(backend) { ledger in
            let stamp = FileStamp(inode: 42, size: 10, modifiedNanoseconds: 1_000)
            try await ledger.remember(digest: String(repeating: "ab", count: 32), for: "acme/a", stamp: stamp)
            #expect(try await ledger.digest(for: "acme/a", stamp: stamp) == String(repeating: "ab", count: 32))
            for changed in [
                FileStamp(inode: 43, size: 10, modifiedNanoseconds: 1_000),
                FileStamp(inode: 42, size: 11, modifiedNanoseconds: 1_000),
                FileStamp(inode: 42, size: 10, modifiedNanoseconds: 1_001),
            ] {
                #expect(try await ledger.digest(for: "acme/a", stamp: changed) == nil)
            }
            try await ledger.forget(path: "acme/a")
            #expect(try await ledger.digest(for: "acme/a", stamp: stamp) == nil)
        }
    }

    @Test(
        "a page's digests in one lookup: 40,000 paths (beyond one statement's parameters), stale and unknown ones left out",
        arguments: Backend.allCases
    )
    func digestPage(backend: Backend) async throws {
        try await Self.withLedger(backend) { ledger in
            func stamp(_ index: Int) -> FileStamp { FileStamp(inode: UInt64(index), size: 10, modifiedNanoseconds: 7) }
            func hex(_ index: Int) -> String { String(format: "%064x", index) }
            // A few thousand kept, forty thousand asked for: the lookup goes past one statement's parameters.
            let known = (0..<3_000).filter { $0 % 3 != 0 }
            try await ledger.remember(known.map { KnownDigest(path: "acme/f\($0)", sha256: hex($0), stamp: stamp($0)) })
            var asked: [String: FileStamp] = [:]
            for index in 0..<40_000 {
                // Every fifth file changed since its digest was kept.
                asked["acme/f\(index)"] =
                    index % 5 == 0 ? FileStamp(inode: 1, size: 11, modifiedNanoseconds: 7) : stamp(index)
            }
            asked["acme/it's \"quoted\", 'n' %"] = stamp(1)
            let found = try await ledger.digests(for: asked)
            let expected = Dictionary(
                uniqueKeysWithValues: known.filter { $0 % 5 != 0 }.map { ("acme/f\($0)", hex($0)) }
            )
            #expect(found.count == expected.count && found == expected)
            #expect(try await ledger.digests(for: [:]).isEmpty)
        }
    }

    @Test("retention removes only rows that ended before the cut and says how many", arguments: Backend.allCases)
    func retention(backend: Backend) async throws {
        try await Self.withLedger(backend) { ledger in
            let base = Date(timeIntervalSince1970: 1_800_000_000)
            try await ledger.record((0..<6).map { Self.row("acme", .put, "acme/f\($0)", ended: base + Double($0)) })
            #expect(try await ledger.removeTransfers(endedBefore: base + 4) == 4)
            #expect(try await ledger.recent(limit: 10).map(\.path) == ["acme/f5", "acme/f4"])
        }
    }

    @Test(
        "several processes open one ledger at once (a daemon's transfers): a new one and one from before the text-mode columns; every opener succeeds and the columns are added once"
    )
    func concurrentOpen() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-ledger-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        // A ledger as the first release wrote it, with one row.
        let old = folder.path + "/old.sqlite"
        let connection = try await SQLiteConnection.open(storage: .file(path: old))
        _ = try await connection.query(
            """
            CREATE TABLE transfers (
                id TEXT PRIMARY KEY, direction TEXT NOT NULL, partner TEXT NOT NULL, operation TEXT NOT NULL,
                path TEXT NOT NULL, bytes INTEGER NOT NULL, sha256 TEXT, started REAL NOT NULL, ended REAL NOT NULL,
                result TEXT NOT NULL, error TEXT, tls_version TEXT, cipher_suite TEXT,
                peer_subject TEXT, peer_issuer TEXT, peer_serial TEXT)
            """
        )
        _ = try await connection.query(
            "INSERT INTO transfers VALUES ('old', 'inbound', 'acme', 'put', 'acme/old', 1, NULL, 1, 2, 'ok', NULL, NULL, NULL, NULL, NULL, NULL)"
        )
        try await connection.close()
        for path in [folder.path + "/new.sqlite", old] {
            let openers = 8
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<openers {
                    group.addTask {
                        let ledger = try await SQLiteLedger.open(path: path)
                        var entry = Self.row("acme", .put, "acme/f\(index)", ended: Date())
                        entry.fileSHA256 = String(repeating: "cd", count: 32)
                        entry.conversion = "from UTF-8, to IBM-037"
                        try await ledger.record([entry])
                        try await ledger.close()
                    }
                }
                try await group.waitForAll()
            }
            let ledger = try await SQLiteLedger.open(path: path)
            let rows = try await ledger.recent(limit: 100)
            try await ledger.close()
            #expect(rows.filter { $0.conversion == "from UTF-8, to IBM-037" }.count == openers, "\(path)")
            #expect(rows.count == openers + (path == old ? 1 : 0), "the old row is kept: \(rows.map(\.path))")
        }
    }

    @Test("a ledger dropped without close (a path that threw between open and close) closes its database, no trap")
    func droppedLedgerCloses() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-ledger-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.path + "/dropped.sqlite"
        func descriptors() -> Int {
            let links = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
            return links.filter {
                (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + $0)) == path
            }
            .count
        }
        do {
            let ledger = try await SQLiteLedger.open(path: path)
            try await ledger.record([Self.row("acme", .put, "acme/kept", ended: Date())])
            #expect(descriptors() > 0, "the open ledger holds its file")
        }
        // The close runs on SQLite's thread pool after the ledger goes.
        var waited = 0
        while descriptors() > 0, waited < 500 {
            try await Task.sleep(for: .milliseconds(10))
            waited += 1
        }
        #expect(descriptors() == 0, "the dropped ledger's file is still open")
        let reopened = try await SQLiteLedger.open(path: path)
        let rows = try await reopened.recent(limit: 10)
        try await reopened.close()
        #expect(rows.map(\.path) == ["acme/kept"])
    }

    @Test("nodes starting together against one new database: the schema is made once, every node writes its rows")
    func postgresConcurrentStart() async throws {
        try await Self.withPostgres { database in
            let nodes = 6
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<nodes {
                    group.addTask {
                        let ledger = try await PostgresLedger.open(
                            database,
                            node: "node-\(index)",
                            within: Self.patience
                        )
                        try await ledger.record([Self.row("acme", .put, "acme/f\(index)", ended: Date())])
                    }
                }
                try await group.waitForAll()
            }
            let ledger = try await PostgresLedger.open(database, node: "reader", within: Self.patience)
            #expect(try await ledger.recent(limit: 100).count == nodes)
        }
    }

    @Test("a database URL names its problem; the password never appears in a message")
    func databaseURLs() throws {
        for bad in [
            "mysql://ferry@db/ferry", "postgres://db.example.com/ferry", "not a url", "postgres://u@h/d?sslmode=maybe",
        ] {
            #expect(throws: LedgerError.self, "\(bad)") { try PostgresDatabase(url: bad) }
        }
        do {
            _ = try PostgresDatabase(url: "mysql://ferry:s3cret@db/ferry")
        } catch {
            #expect(!"\(error)".contains("s3cret"), "\(error)")
        }
        let database = try PostgresDatabase(url: "postgres://ferry:s3cret@db.example.com:6543/ledger?sslmode=require")
        #expect(database.displayURL.contains("s3cret") == false && database.displayURL.contains("db.example.com:6543"))
    }

    @Test("TLS to the database: verify-full with its CA connects; another CA is refused, naming the database")
    func databaseTLS() async throws {
        let folder = try TemporaryDirectory("ferry-ledger-tls")
        defer { folder.remove() }
        let pki = try TestPKI(directory: folder.path + "/pki", clients: [])
        let server = try await PostgresTestServer.start(
            port: freeLoopbackPort(),
            tls: (pki.serverCertificate, pki.serverKey)
        )
        do {
            let base = "postgres://ferry@127.0.0.1:\(server.port)/postgres?sslmode=verify-full&sslrootcert="
            let ledger = try await PostgresLedger.open(url: base + pki.caFile, within: Self.patience)
            try await ledger.record([Self.row("acme", .put, "acme/over-tls", ended: Date())])
            #expect(try await ledger.recent(limit: 1).first?.path == "acme/over-tls")
            try await ledger.close()
            do {
                let wrong = try await PostgresLedger.open(url: base + pki.otherCAFile)
                try await wrong.close()
                Issue.record("a server certificate from another CA was accepted")
            } catch let error as LedgerError {
                #expect(
                    error.description.contains("cannot prepare the database postgres://ferry@127.0.0.1"),
                    "\(error)"
                )
                #expect(
                    error.description.lowercased().contains("certificate"),
                    "names the certificate problem: \(error)"
                )
            }
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }
}
