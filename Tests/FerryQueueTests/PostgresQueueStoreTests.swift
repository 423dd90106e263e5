import FerryQueue
import FerryTestSupport
import Foundation
import Testing

/// The queue in PostgreSQL, as several nodes use it: the SQLite store's contract, then claims, a node's death and
/// the outbox with two nodes at once, each node a store with its own connection pool, each test on a database of its
/// own on one real server.
@Suite("Queue store (PostgreSQL, several nodes)", .serialized)
struct PostgresQueueStoreTests {
    static let t0 = QueueStoreTests.t0
    /// How long a store may take to reach its new server: the whole suite on two cores can hold a connection back
    /// for longer than a node's 10 s at startup.
    static let patience: Duration = .seconds(60)

    /// A database of its own on the suite's PostgreSQL server and `nodes` queue stores on it (named node-0,
    /// node-1, ...), all closed however `body` ends.
    static func withNodes(
        _ nodes: Int,
        claimDuration: TimeInterval = 60,
        _ body: ([PostgresQueueStore], String) async throws -> Void
    ) async throws {
        let url = try await PostgresTestServer.shared().freshDatabase()
        var stores: [PostgresQueueStore] = []
        do {
            for index in 0..<nodes {
                stores.append(
                    try await PostgresQueueStore.open(
                        url: url,
                        node: "node-\(index)",
                        claimDuration: claimDuration,
                        within: patience
                    )
                )
            }
            try await body(stores, url)
        } catch {
            for store in stores { try? await store.close() }
            throw error
        }
        for store in stores { try? await store.close() }
    }

    @Test("the embedded store's contract: claim order and limits, purge by keep time, schedules seen by another node")
    func contract() async throws {
        try await Self.withNodes(1) { nodes, _ in try await QueueStoreTests.claims(nodes[0]) }
        try await Self.withNodes(2) { nodes, _ in
            try await QueueStoreTests.purge(nodes[1])
            var schedule = try Schedule(
                recurrence: .cron(expression: "@hourly", timeZone: "UTC"),
                direction: .get,
                partner: "bank",
                local: "/in/",
                remote: "out/x.csv",
                now: Self.t0
            )
            try await nodes[0].add(schedule)
            _ = schedule.due(at: Self.t0 + 7200, unfinishedEntry: false)
            try await nodes[0].update(schedule)
            #expect(try await nodes[1].schedules() == [schedule])
            #expect(try await nodes[1].removeSchedule(id: schedule.id))
            #expect(try await !nodes[0].removeSchedule(id: schedule.id))
            // A change that throws writes nothing; an unknown id says what to do.
            let entry = QueueStoreTests.entry("acme")
            try await nodes[0].add(entry)
            await #expect(throws: Refusal.self) {
                try await nodes[1].change(id: entry.id) {
                    $0.priority = 9
                    throw Refusal()
                }
            }
            #expect(try await nodes[0].entry(id: entry.id) == entry)
            await #expect(throws: QueueError.self) { try await nodes[1].change(id: "nothing") { _ in } }
            #expect(try await nodes[1].events(id: entry.id).map(\.state) == [.queued])
        }
    }

    @Test(
        "two nodes claim at the same moment, 15 rounds of 18 entries of three partners: each entry runs once, and no partner ever has more active than its limit"
    )
    func concurrentClaims() async throws {
        try await Self.withNodes(2) { nodes, _ in
            let partners = ["acme", "bank", "corp"]
            var all: Set<String> = []
            var claimed: [String] = []
            var worst = 0
            for round in 0..<15 {
                for index in 0..<18 {
                    let entry = QueueStoreTests.entry(
                        partners[index % 3],
                        priority: index % 4,
                        created: Double(round * 100 + index)
                    )
                    try await nodes[index % 2].add(entry)
                    all.insert(entry.id)
                }
                // Both claim at once, each up to 10, two per partner: six can be active in all.
                async let first = nodes[0].claim(now: Self.t0 + 10_000, maximum: 10) { _ in 2 }
                async let second = nodes[1].claim(now: Self.t0 + 10_000, maximum: 10) { _ in 2 }
                let (one, two) = try await (first, second)
                claimed += one.map(\.id) + two.map(\.id)
                let active = try await nodes[0].entries(in: [.active])
                worst = max(worst, Dictionary(grouping: active, by: \.partner).values.map(\.count).max() ?? 0)
                #expect(active.count == one.count + two.count)
                // The transfers end; the next round's claims take the rest.
                for entry in active {
                    _ = try await nodes[(round + 1) % 2].change(id: entry.id) {
                        try $0.finish(
                            .init(exitCode: 0, message: "sent", transient: false),
                            now: Self.t0 + 10_001,
                            jitter: 0
                        )
                    }
                }
            }
            // What is left is claimed in turns until nothing is.
            while true {
                let more = try await nodes[claimed.count % 2].claim(now: Self.t0 + 10_000, maximum: 10) { _ in 2 }
                if more.isEmpty { break }
                claimed += more.map(\.id)
                for entry in more {
                    _ = try await nodes[0].change(id: entry.id) {
                        try $0.finish(
                            .init(exitCode: 0, message: "sent", transient: false),
                            now: Self.t0 + 10_001,
                            jitter: 0
                        )
                    }
                }
            }
            #expect(worst == 2, "the most active for one partner at any time")
            #expect(
                claimed.count == all.count && Set(claimed) == all,
                "each entry claimed once: \(claimed.count) claims of \(Set(claimed).count) entries, \(all.count) queued"
            )
            #expect(try await nodes[1].entries(in: [.done]).count == all.count)
            for id in all.prefix(10) {
                #expect(try await nodes[0].events(id: id).map(\.state) == [.queued, .active, .done])
            }
        }
    }

    @Test(
        "a node that dies: its claims lapse and another node's tick takes its entries back (retrying, due at once); a live node's claims are never taken; a restarted node takes its own back at once"
    )
    func deadNode() async throws {
        try await Self.withNodes(2, claimDuration: 6) { nodes, url in
            let (a, b) = (nodes[0], nodes[1])
            let first = QueueStoreTests.entry("acme", created: 0)
            let second = QueueStoreTests.entry("acme", created: 1)
            let third = QueueStoreTests.entry("bank", created: 2)
            for entry in [first, second, third] { try await a.add(entry) }
            #expect(try await a.claim(now: Self.t0 + 10, maximum: 2) { _ in 5 }.map(\.id) == [first.id, second.id])
            #expect(try await b.claim(now: Self.t0 + 10, maximum: 5) { _ in 5 }.map(\.id) == [third.id])
            // Both alive: nothing is taken back, however often they tick.
            var lastRenewal = ContinuousClock.now
            for _ in 0..<3 {
                lastRenewal = ContinuousClock.now
                #expect(try await a.renewClaims(now: Self.t0 + 11) == 0)
                #expect(try await b.renewClaims(now: Self.t0 + 11) == 0)
                try await Task.sleep(for: .milliseconds(300))
            }
            // A dies (no more renewals). Before its claims lapse, B takes nothing; once they have, B takes both.
            try await a.close()
            let died = ContinuousClock.now
            #expect(try await b.renewClaims(now: Self.t0 + 12) == 0 || died - lastRenewal > .seconds(5))
            var taken = 0
            while taken == 0, ContinuousClock.now - died < .seconds(60) {
                try await Task.sleep(for: .milliseconds(250))
                taken = try await b.renewClaims(now: Self.t0 + 13)
            }
            #expect(taken == 2)
            #expect(ContinuousClock.now - lastRenewal > .seconds(6), "not before A's 6 s claim lapsed")
            for id in [first.id, second.id] {
                let entry = try #require(try await b.entry(id: id))
                #expect(entry.state == .retrying && entry.isDue(at: Self.t0 + 13) && entry.attempts == 1)
            }
            #expect(try await b.entry(id: third.id)?.state == .active, "B's own entry stays B's")
            #expect(
                try await b.claim(now: Self.t0 + 13, maximum: 5) { _ in 5 }.map(\.id) == [first.id, second.id]
            )
            // B restarts: its own active entries come back at once, without waiting for the claims to lapse.
            let restarted = try await PostgresQueueStore.open(
                url: url,
                node: "node-1",
                claimDuration: 6,
                within: Self.patience
            )
            defer { Task { try? await restarted.close() } }
            #expect(try await restarted.recover(now: Self.t0 + 14) == 3)
            #expect(try await restarted.entries(in: [.retrying]).count == 3)
        }
    }

    @Test(
        "the outbox with two nodes: 300 events written side by side while one node fans out, each becomes one delivery; the nodes claim disjoint deliveries"
    )
    func outbox() async throws {
        try await Self.withNodes(2) { nodes, _ in
            let fanned = Tally(0)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for node in nodes {
                    group.addTask {
                        for index in 0..<150 {
                            var event = FerryEvent(type: "file.received", time: Self.t0 + Double(index))
                            event.partner = node.node
                            try await node.record(event, key: nil)
                        }
                    }
                }
                group.addTask {
                    for _ in 0..<40 {
                        let read = try await nodes[0].fanOut(limit: 25) { _ in ["hook"] }
                        await fanned.change { $0 += read }
                        try await Task.sleep(for: .milliseconds(5))
                    }
                }
                try await group.waitForAll()
            }
            while true {
                let read = try await nodes[1].fanOut(limit: 25) { _ in ["hook"] }
                if read == 0 { break }
                await fanned.change { $0 += read }
            }
            #expect(await fanned.value == 300)
            #expect(try await nodes[0].deliveries(in: [.pending], limit: 1000).count == 300)
            // An event recorded twice under one key is one event.
            #expect(try await nodes[0].record(FerryEvent(type: "x", time: Self.t0), key: "ledger:1"))
            #expect(try await !nodes[1].record(FerryEvent(type: "x", time: Self.t0), key: "ledger:1"))
            // Both nodes take due deliveries at once: no delivery goes to both.
            let taken = Tally<[[Int64]]>([[], []])
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, node) in nodes.enumerated() {
                    group.addTask {
                        while true {
                            let due = try await node.dueDeliveries(now: Self.t0 + 1000, limit: 20)
                            if due.isEmpty { break }
                            await taken.change { $0[index] += due.map(\.sequence) }
                        }
                    }
                }
                try await group.waitForAll()
            }
            let (one, two) = (await taken.value[0], await taken.value[1])
            #expect(one.count + two.count == 300 && Set(one + two).count == 300, "\(one.count) + \(two.count)")
            #expect(Set(one).isDisjoint(with: two))
            // Claimed deliveries are not due again until their claim time has passed.
            #expect(try await nodes[0].dueDeliveries(now: Self.t0 + 1000, limit: 20).isEmpty)
            // A reader's position only moves forward, whichever node writes it.
            try await nodes[0].setPosition("ledger", 200)
            try await nodes[1].setPosition("ledger", 100)
            #expect(try await nodes[0].position("ledger") == 200)
        }
    }
}

struct Refusal: Error {}

/// A value tasks of a test change side by side.
actor Tally<Value: Sendable> {
    var value: Value
    init(_ value: Value) { self.value = value }
    func change(_ body: @Sendable (inout Value) -> Void) { body(&value) }
}
