import FerryDaemon
import FerryQueue
import FerryTestSupport
import Foundation
import NIOHTTP1
import Testing

/// The queue daemon as a site runs it: `ferry serve --no-listen` sending to a real `ferry serve` partner, driven by
/// `ferry queue` and `ferry schedule` through the control socket, killed with SIGKILL and started again.
/// The managed-transfer suites spawn several daemons and partners each: they run one at a time, so that together
/// they do not starve the suites that run beside them on a small machine.
@Suite("Managed transfers", .serialized)
struct ManagedTransferTests {}

extension ManagedTransferTests {
    @Suite("Queue daemon", .serialized)
    struct QueueDaemonTests {
        /// A receiving partner (`ferry serve` on a free port) and a sending site's folder whose config knows it as
        /// `partner` (certificate acme), as `intruder` (a certificate from a CA the partner does not trust), and as
        /// `down` (a port nothing listens on, until a test starts something there).
        struct Sites {
            let folder: String
            let pki: TestPKI
            let receiverConfig: String
            let downPort: Int

            init(_ folder: String) throws {
                self.folder = folder
                pki = try TestPKI(directory: folder + "/pki")
                receiverConfig = try ServeProcess.writeConfig(in: folder, port: 0)
                downPort = freeLoopbackPort()
                try FileManager.default.createDirectory(atPath: folder + "/site", withIntermediateDirectories: true)
            }

            /// Writes the sender's config for a receiver on `port`.
            func writeSender(port: Int, queue: String = "", extra: String = "") throws {
                let tls = "{certificate: ../pki/acme.pem, key: ../pki/acme-key.pem, ca: ../pki/ca.pem}"
                try """
                root: data
                partners:
                  partner:
                    url: https://localhost:\(port)
                    tls: \(tls)
                  intruder:
                    url: https://localhost:\(port)
                    tls: {certificate: ../pki/intruder.pem, key: ../pki/intruder-key.pem, ca: ../pki/ca.pem}
                  down:
                    url: https://localhost:\(downPort)
                    tls: \(tls)
                queue: {retry-wait: 1s, retry-max-wait: 2s\(queue)}
                \(extra)
                """.write(toFile: folder + "/site/sender.yaml", atomically: true, encoding: .utf8)
            }

            var site: String { folder + "/site" }
            var config: String { site + "/sender.yaml" }

            func startSender() async throws -> ServeProcess {
                try await ServeProcess(config: config, directory: site, arguments: ["--no-listen"])
            }

            /// Runs `ferry ARGS --config sender.yaml` in the site's folder.
            func ferry(_ arguments: [String], timeout: TimeInterval = 120) async throws -> ExternalTool.Outcome {
                try await ExternalTool.run(
                    try CLITests.ferry,
                    arguments + ["--config", config],
                    timeout: timeout,
                    directory: site
                )
            }

            /// The daemon's control socket, asked in-process (polling through `ferry` processes would load the
            /// machine the other suites run on).
            var control: ControlClient { ControlClient(socketPath: site + "/data/.ferry/control.sock") }

            func entries() async throws -> [QueueEntry] {
                try await control.call(.GET, ControlAPI.queue, as: [QueueEntry].self)
            }

            func detail(_ id: String) async throws -> EntryDetail {
                try await control.call(.GET, ControlAPI.queue + "/" + id, as: EntryDetail.self)
            }

            /// Polls until the entry is in `state` (at most a minute).
            func waitFor(_ id: String, _ state: QueueEntry.State) async throws -> QueueEntry? {
                for _ in 0..<600 {
                    if let entry = try await entries().first(where: { $0.id == id }), entry.state == state {
                        return entry
                    }
                    try await Task.sleep(for: .milliseconds(200))
                }
                return nil
            }
        }

        static func queuedID(_ outcome: ExternalTool.Outcome) -> String? {
            outcome.stdout.split(separator: "\n").first { $0.hasPrefix("queued ") }.map {
                String($0.split(separator: " ")[1])
            }
        }

        @Test(
            "a queued send and a queued get run, are verified and recorded; --wait returns 0; the history shows each state"
        )
        func sendAndGet() async throws {
            try await TemporaryDirectory.with("ferry-queue") { folder in
                let sites = try Sites(folder.path)
                let receiver = try await ServeProcess(config: sites.receiverConfig, directory: folder.path)
                try sites.writeSender(port: receiver.port)
                let sender = try await sites.startSender()
                let digest = try TestFiles.write(sites.site + "/report.csv", size: 300_000)
                for index in 0..<3 {
                    _ = try TestFiles.write(sites.site + "/batch-\(index).dat", size: 2000 + index, seed: UInt64(index))
                }

                let sent = try await sites.ferry(["queue", "add", "report.csv", "partner:inbound/", "--wait"])
                #expect(sent.status == 0, "\(sent.output)")
                #expect(sent.stdout.contains("done "), "\(sent.output)")
                #expect(try TestFiles.sha256(folder.path + "/root/acme/inbound/report.csv") == digest)

                // A quoted glob: the daemon expands it when the entry runs.
                let glob = try await sites.ferry([
                    "queue", "add", sites.site + "/batch-*.dat", "partner:many/", "--wait",
                ])
                #expect(glob.status == 0, "\(glob.output)")
                #expect(
                    try FileManager.default.contentsOfDirectory(atPath: folder.path + "/root/acme/many").sorted()
                        == ["batch-0.dat", "batch-1.dat", "batch-2.dat"]
                )

                let fetched = try await sites.ferry([
                    "queue", "add", "--get", "partner:inbound/report.csv", "back.csv", "--wait",
                ])
                #expect(fetched.status == 0, "\(fetched.output)")
                #expect(try TestFiles.sha256(sites.site + "/back.csv") == digest)

                let entries = try await sites.entries()
                #expect(
                    entries.count == 3
                        && entries.allSatisfy { $0.state == .done && $0.attempts == 1 && $0.exitCode == 0 }
                )
                let id = try #require(Self.queuedID(sent))
                let detail = try await sites.detail(id)
                #expect(detail.events.map(\.state) == [.queued, .active, .done])
                #expect(detail.entry.result?.contains(digest) == true, "the result names the verified digest")
                // The attempts are in the daemon's ledger, beside what partners sent it.
                let history = try await sites.ferry(["history", "--server", "--json"])
                #expect(history.stdout.contains("report.csv"), "\(history.output)")
                // An unknown partner is refused by the daemon, with the partners it knows.
                let unknown = try await sites.ferry(["queue", "add", "report.csv", "nobody:inbound/"])
                #expect(unknown.status == 1)
                #expect(unknown.stderr.contains("no partner 'nobody'") && unknown.stderr.contains("partner"))

                // An operator cancels a transfer while it runs: it stops, stays cancelled, and the daemon goes on.
                _ = try TestFiles.write(sites.site + "/slow.bin", size: 16 << 20)
                let slow = try await sites.ferry(["queue", "add", "slow.bin", "partner:inbound/", "--limit-rate", "4M"])
                let slowID = try #require(Self.queuedID(slow))
                _ = await waitForPart(in: folder.path + "/root/.ferry/uploads", atLeast: 1 << 20)
                let cancelled = try await sites.ferry(["queue", "cancel", slowID])
                #expect(cancelled.status == 0 && cancelled.stdout.contains("cancelled"), "\(cancelled.output)")
                func partSize() throws -> Int {
                    let uploads = folder.path + "/root/.ferry/uploads"
                    return try FileManager.default.contentsOfDirectory(atPath: uploads).filter { $0.hasSuffix(".part") }
                        .reduce(0) {
                            $0
                                + ((try FileManager.default.attributesOfItem(atPath: uploads + "/" + $1)[.size] as? Int)
                                    ?? 0)
                        }
                }
                try await Task.sleep(for: .milliseconds(500))
                let stopped = try partSize()
                try await Task.sleep(for: .seconds(1))
                #expect(try partSize() == stopped, "nothing more arrives after the cancel")
                #expect(try await sites.detail(slowID).entry.state == .cancelled)
                #expect(!FileManager.default.fileExists(atPath: folder.path + "/root/acme/inbound/slow.bin"))
                #expect(try await sites.ferry(["queue", "ls"]).status == 0, "the daemon still answers")
                try await sender.kill()
                try await receiver.kill()
            }
        }

        @Test(
            "a handshake diagnosed as a configuration problem fails at once with its finding, unless told to retry it"
        )
        func configurationErrorFails() async throws {
            try await TemporaryDirectory.with("ferry-queue") { folder in
                let sites = try Sites(folder.path)
                let receiver = try await ServeProcess(config: sites.receiverConfig, directory: folder.path)
                try sites.writeSender(port: receiver.port)
                let sender = try await sites.startSender()
                _ = try TestFiles.write(sites.site + "/a.bin", size: 1000)

                let refused = try await sites.ferry(["queue", "add", "a.bin", "intruder:in/", "--wait"])
                #expect(refused.status == 2, "the handshake's exit code: \(refused.output)")
                let id = try #require(Self.queuedID(refused))
                let entry = try await sites.detail(id).entry
                #expect(entry.state == .failed && entry.attempts == 1, "not retried: \(entry)")
                #expect(!entry.findings.isEmpty, "the finding is kept: \(entry)")
                #expect(refused.stdout.contains("[" + entry.findings[0]))

                let retried = try await sites.ferry([
                    "queue", "add", "a.bin", "intruder:in/", "--retry-config-errors", "--retries", "1", "--retry-wait",
                    "1s",
                    "--wait",
                ])
                #expect(retried.status == 2)
                let again = try await sites.detail(try #require(Self.queuedID(retried))).entry
                #expect(again.state == .failed && again.attempts == 2, "one retry, as asked: \(again)")
                try await sender.kill()
                try await receiver.kill()
            }
        }

        @Test("a partner that is down: retrying with the error and next time, then done once it is up")
        func retriesUntilPartnerIsUp() async throws {
            try await TemporaryDirectory.with("ferry-queue") { folder in
                let sites = try Sites(folder.path)
                try sites.writeSender(port: sites.downPort)
                let sender = try await sites.startSender()
                let digest = try TestFiles.write(sites.site + "/late.bin", size: 50_000)
                // A long wait, so the entry stays retrying while it is looked at; the operator retries it at the end.
                let added = try await sites.ferry(["queue", "add", "late.bin", "down:in/", "--retry-wait", "10m"])
                let id = try #require(Self.queuedID(added), "\(added.output)")
                let retrying = try #require(try await sites.waitFor(id, .retrying))
                #expect(retrying.lastError?.contains("localhost:\(sites.downPort)") == true, "\(retrying)")
                #expect(retrying.nextAttempt != nil)
                let listed = try await sites.ferry(["queue", "ls"])
                #expect(listed.stdout.contains("retrying") && listed.stdout.contains("last error:"), "\(listed.output)")

                // The partner comes up on that port.
                let config = try ServeProcess.writeConfig(in: folder.path, port: sites.downPort)
                let receiver = try await ServeProcess(config: config, directory: folder.path)
                let retried = try await sites.ferry(["queue", "retry", String(id.prefix(8))])
                #expect(retried.status == 0, "\(retried.output)")
                let done = try #require(try await sites.waitFor(id, .done))
                #expect(done.attempts == 1, "the operator's retry counts its attempts afresh")
                #expect(
                    try await sites.detail(id).events.map(\.state) == [
                        .queued, .active, .retrying, .queued, .active, .done,
                    ]
                )
                #expect(try TestFiles.sha256(folder.path + "/root/acme/in/late.bin") == digest)
                try await sender.kill()
                try await receiver.kill()
            }
        }

        @Test(
            "kill -9 of the daemon in the middle of a queued upload: restarted, it resumes from the checkpoint; one file"
        )
        func killDuringTransfer() async throws {
            try await TemporaryDirectory.with("ferry-queue") { folder in
                let sites = try Sites(folder.path)
                let receiver = try await ServeProcess(config: sites.receiverConfig, directory: folder.path)
                try sites.writeSender(port: receiver.port)
                var sender = try await sites.startSender()
                let size = 24 << 20
                let digest = try TestFiles.write(sites.site + "/big.bin", size: size)
                // A scheduler's job step: submits and waits, across the daemon's restart.
                let waiter = Task {
                    try await sites.ferry(
                        ["queue", "add", "big.bin", "partner:inbound/", "--limit-rate", "4M", "--wait"],
                        timeout: 180
                    )
                }
                let reached = await waitForPart(
                    in: folder.path + "/root/.ferry/uploads",
                    atLeast: 12 << 20,
                    thenSignal: sender.pid
                )
                #expect(reached)
                try await sender.kill()
                #expect(!FileManager.default.fileExists(atPath: folder.path + "/root/acme/inbound/big.bin"))
                sender = try await sites.startSender()
                let waited = try await waiter.value
                #expect(waited.status == 0, "the waiting job step saw the transfer done: \(waited.output)")
                #expect(waited.stdout.contains("resumed at"), "continued from the checkpoint: \(waited.output)")
                #expect(try TestFiles.sha256(folder.path + "/root/acme/inbound/big.bin") == digest)
                #expect(
                    try FileManager.default.contentsOfDirectory(atPath: folder.path + "/root/acme/inbound") == [
                        "big.bin"
                    ]
                )
                let entry = try #require(try await sites.entries().first)
                let states = try await sites.detail(entry.id).events.map(\.state)
                #expect(states == [.queued, .active, .retrying, .active, .done], "\(states)")
                try await sender.kill()
                try await receiver.kill()
            }
        }

        @Test(
            "hot folders: files left while the daemon was down are sent once complete and moved to sent/; a refused one goes to failed/ with its reason; a marker; a restart resends nothing"
        )
        func hotFolders() async throws {
            try await TemporaryDirectory.with("ferry-queue") { folder in
                let sites = try Sites(folder.path)
                let receiver = try await ServeProcess(config: sites.receiverConfig, directory: folder.path)
                try sites.writeSender(
                    port: receiver.port,
                    queue: ", retries: 0",
                    extra: """
                        watch:
                          outbox: {folder: outbox, glob: "*.csv", partner: partner, remote: hot/, stable-for: 1s}
                          refused: {folder: refused, partner: intruder, remote: in/, complete: rename}
                          marked: {folder: marked, partner: partner, remote: marked/, complete: marker, marker: .ok, after: leave}
                          kept: {folder: kept, partner: partner, remote: kept/, complete: rename, after: leave}
                        """
                )
                let site = sites.site
                for name in ["outbox", "refused", "marked", "kept"] {
                    try FileManager.default.createDirectory(
                        atPath: site + "/" + name,
                        withIntermediateDirectories: true
                    )
                }
                // Filled while no daemon runs.
                let digest = try TestFiles.write(site + "/outbox/a.csv", size: 20_000)
                _ = try TestFiles.write(site + "/outbox/b.csv", size: 30_000, seed: 2)
                _ = try TestFiles.write(site + "/outbox/ignored.txt", size: 10)
                _ = try TestFiles.write(site + "/outbox/.hidden.csv", size: 10)
                _ = try TestFiles.write(site + "/refused/c.bin", size: 10)
                _ = try TestFiles.write(site + "/marked/d.dat", size: 500)
                _ = try TestFiles.write(site + "/kept/e.dat", size: 600)
                var sender = try await sites.startSender()

                func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }
                #expect(
                    try await ActionTests.eventually {
                        exists(site + "/outbox/sent/a.csv") && exists(site + "/outbox/sent/b.csv")
                    }
                )
                #expect(try TestFiles.sha256(folder.path + "/root/acme/hot/a.csv") == digest)
                #expect(
                    exists(site + "/outbox/ignored.txt") && exists(site + "/outbox/.hidden.csv"),
                    "what the glob does not match stays"
                )
                #expect(try await ActionTests.eventually { exists(site + "/refused/failed/c.bin.reason") })
                let reason = try String(contentsOfFile: site + "/refused/failed/c.bin.reason", encoding: .utf8)
                #expect(
                    reason.contains("state: failed") && reason.contains("findings: ")
                        && !reason.contains("findings: none"),
                    "\(reason)"
                )
                #expect(!exists(site + "/refused/c.bin"))
                // A marker: nothing goes before it appears.
                try await Task.sleep(for: .seconds(2))
                #expect(!exists(folder.path + "/root/acme/marked/d.dat"))
                FileManager.default.createFile(atPath: site + "/marked/d.dat.ok", contents: nil)
                #expect(try await ActionTests.eventually { exists(folder.path + "/root/acme/marked/d.dat") })
                #expect(
                    try await ActionTests.eventually { !exists(site + "/marked/d.dat.ok") },
                    "the marker goes once the file is sent"
                )
                #expect(exists(site + "/marked/d.dat"), "after: leave")

                // A file written while the daemon watches: sent once its size stays the same for stable-for.
                _ = try TestFiles.write(site + "/outbox/late.csv", size: 1000, seed: 9)
                #expect(try await ActionTests.eventually { exists(site + "/outbox/sent/late.csv") })
                #expect(try await ActionTests.eventually { exists(folder.path + "/root/acme/kept/e.dat") })
                #expect(exists(site + "/kept/e.dat"))
                let before = try await sites.entries().count
                #expect(before == 6, "a, b, c, d, e and late: one entry each")
                try await sender.kill()
                sender = try await sites.startSender()
                try await Task.sleep(for: .seconds(4))
                #expect(
                    try await sites.entries().count == before,
                    "a restart queues nothing again (e.dat, complete on sight, was left in place)"
                )
                try await sender.kill()
                try await receiver.kill()
            }
        }

        @Test(
            "two daemons on one PostgreSQL queue: entries added at either node run once each; a node killed mid-transfer has it taken over by the other once its claim lapses; one file each"
        )
        func twoNodes() async throws {
            let database = try await PostgresTestServer.shared().freshDatabase()
            try await TemporaryDirectory.with("ferry-queue") { folder in
                let sites = try Sites(folder.path)
                let receiver = try await ServeProcess(config: sites.receiverConfig, directory: folder.path)
                // Node A is the usual site; node B the same configuration in a folder (and root) of its own.
                try sites.writeSender(
                    port: receiver.port,
                    queue: ", lease: 3s",
                    extra: "database: {url: \"\(database)\", node: node-a}"
                )
                let siteB = folder.path + "/site-b"
                try FileManager.default.createDirectory(atPath: siteB, withIntermediateDirectories: true)
                try String(contentsOfFile: sites.config, encoding: .utf8)
                    .replacingOccurrences(of: "node: node-a", with: "node: node-b")
                    .write(toFile: siteB + "/sender.yaml", atomically: true, encoding: .utf8)
                let controlB = ControlClient(socketPath: siteB + "/data/.ferry/control.sock")
                func startB() async throws -> ServeProcess {
                    try await ServeProcess(config: siteB + "/sender.yaml", directory: siteB, arguments: ["--no-listen"])
                }
                var nodeA = try await sites.startSender()
                var nodeB = try await startB()
                #expect(nodeA.log.contains("(shared by the nodes)"), "the banner names the shared queue: \(nodeA.log)")

                // Eight files, four added at each node: every entry runs once, on whichever node claims it.
                var digests: [String: String] = [:]
                for index in 0..<8 {
                    let name = "f\(index).bin"
                    digests[name] = try TestFiles.write(sites.site + "/" + name, size: 256 << 10, seed: UInt64(index))
                    let added = try await ExternalTool.run(
                        try CLITests.ferry,
                        ["queue", "add", sites.site + "/" + name, "partner:inbound/", "--config"]
                            + [index % 2 == 0 ? sites.config : siteB + "/sender.yaml"],
                        directory: index % 2 == 0 ? sites.site : siteB
                    )
                    #expect(added.status == 0, "\(added.output)")
                }
                var finished: [QueueEntry] = []
                for _ in 0..<300 {
                    finished = try await controlB.call(.GET, ControlAPI.queue, as: [QueueEntry].self)
                    if finished.count == 8, finished.allSatisfy({ $0.state == .done }) { break }
                    try await Task.sleep(for: .milliseconds(200))
                }
                #expect(finished.count == 8 && finished.allSatisfy { $0.state == .done }, "\(finished.map(\.state))")
                for entry in finished {
                    let states = try await sites.detail(entry.id).events.map(\.state)
                    #expect(states == [.queued, .active, .done], "ran once: \(states)")
                }
                let inbound = folder.path + "/root/acme/inbound"
                #expect(try FileManager.default.contentsOfDirectory(atPath: inbound).sorted() == digests.keys.sorted())
                for (name, digest) in digests {
                    #expect(try TestFiles.sha256(inbound + "/" + name) == digest, "\(name)")
                }

                // B stops; A takes a long transfer and is killed in the middle of it; B, started again, takes it
                // over once A's claim (3 s) has lapsed.
                try await nodeB.kill()
                let size = 24 << 20
                let digest = try TestFiles.write(sites.site + "/big.bin", size: size, seed: 99)
                let added = try await sites.ferry(["queue", "add", "big.bin", "partner:inbound/", "--limit-rate", "4M"])
                let id = try #require(Self.queuedID(added), "\(added.output)")
                #expect(
                    await waitForPart(
                        in: folder.path + "/root/.ferry/uploads",
                        atLeast: 8 << 20,
                        thenSignal: nodeA.pid
                    )
                )
                try await nodeA.kill()
                nodeB = try await startB()
                var entry: QueueEntry?
                for _ in 0..<400 {
                    entry = try await controlB.call(.GET, ControlAPI.queue, as: [QueueEntry].self).first { $0.id == id }
                    if entry?.state == .done { break }
                    try await Task.sleep(for: .milliseconds(200))
                }
                #expect(
                    entry?.state == .done,
                    "B finished A's transfer: \(String(describing: entry))\n\(nodeB.log.suffix(2000))"
                )
                let states = try await controlB.call(.GET, ControlAPI.queue + "/" + id, as: EntryDetail.self).events
                    .map(\.state)
                #expect(states == [.queued, .active, .retrying, .active, .done], "\(states)")
                #expect(try TestFiles.sha256(inbound + "/big.bin") == digest)
                // B continued the upload A began (its place is in the shared database), rather than starting a
                // second one and leaving A's at the receiver until it expires.
                let uploads = try FileManager.default.contentsOfDirectory(atPath: folder.path + "/root/.ferry/uploads")
                #expect(uploads.isEmpty, "an upload left at the receiver: B started over \(uploads)")
                #expect(
                    try FileManager.default.contentsOfDirectory(atPath: inbound).filter { $0.hasPrefix("big") } == [
                        "big.bin"
                    ]
                )
                nodeA = try await sites.startSender()
                try await nodeA.kill()
                try await nodeB.kill()
                try await receiver.kill()
            }
        }

        @Test("hold, release, cancel, retry and purge, with the refusals an operator gets for what does not apply")
        func operatorActions() async throws {
            try await TemporaryDirectory.with("ferry-queue") { folder in
                let sites = try Sites(folder.path)
                try sites.writeSender(port: sites.downPort, queue: ", retries: 0")
                let sender = try await sites.startSender()
                _ = try TestFiles.write(sites.site + "/x.bin", size: 100)
                let later = try await sites.ferry([
                    "queue", "add", "x.bin", "down:in/", "--at", "+1h", "--priority", "7",
                ])
                let id = try #require(Self.queuedID(later), "\(later.output)")
                #expect(later.stdout.contains("scheduled"))
                let short = String(id.prefix(8))
                let held = try await sites.ferry(["queue", "hold", short])
                #expect(held.status == 0 && held.stdout.contains("held"), "\(held.output)")
                let again = try await sites.ferry(["queue", "hold", short])
                #expect(
                    again.status == 1 && again.stderr.contains("only a scheduled, queued or retrying entry"),
                    "\(again.output)"
                )
                let released = try await sites.ferry(["queue", "release", short, "--json"])
                let entry = try ControlAPI.decoder().decode(QueueEntry.self, from: Data(released.stdout.utf8))
                #expect(entry.state == .scheduled && entry.priority == 7)
                let cancelled = try await sites.ferry(["queue", "cancel", id])
                #expect(cancelled.status == 0 && cancelled.stdout.contains("cancelled"))
                let retry = try await sites.ferry(["queue", "retry", id])
                #expect(retry.status == 1 && retry.stderr.contains("only a failed or retrying entry"))
                // A failed entry (no retries, partner down) is retried by hand.
                let failing = try await sites.ferry(["queue", "add", "x.bin", "down:in/", "--wait"])
                #expect(failing.status == 5, "a network failure's exit code: \(failing.output)")
                let failedID = try #require(Self.queuedID(failing))
                let retried = try await sites.ferry(["queue", "retry", failedID])
                #expect(retried.status == 0 && retried.stdout.contains("queued"), "\(retried.output)")
                _ = try #require(try await sites.waitFor(failedID, .failed))
                let missing = try await sites.ferry(["queue", "show", "ffffffff"])
                #expect(missing.status == 1 && missing.stderr.contains("no queue entry starts with ffffffff"))
                let purged = try await sites.ferry(["queue", "purge"])
                #expect(purged.stdout.contains("purged 2 finished entries"), "\(purged.output)")
                #expect(try await sites.entries().isEmpty)
                try await sender.kill()
            }
        }

        @Test(
            "schedules: every and cron with a time zone and holds are kept and listed with their next time; mistakes are named"
        )
        func schedules() async throws {
            try await TemporaryDirectory.with("ferry-queue") { folder in
                let sites = try Sites(folder.path)
                try sites.writeSender(port: sites.downPort)
                let sender = try await sites.startSender()
                let every = try await sites.ferry(["schedule", "add", "--every", "15m", "out/*.csv", "partner:in/"])
                #expect(every.status == 0 && every.stdout.contains("every 15m"), "\(every.output)")
                let cron = try await sites.ferry([
                    "schedule", "add", "--cron", "30 2 * * 1-5", "--tz", "Europe/Berlin", "--hold",
                    "2026-12-24T00:00:00Z/2026-12-27T00:00:00Z", "--get", "partner:out/rates.csv", "in/",
                ])
                #expect(cron.status == 0 && cron.stdout.contains("cron '30 2 * * 1-5' Europe/Berlin"), "\(cron.output)")
                let listed = try await sites.ferry(["schedule", "ls"])
                #expect(
                    listed.stdout.split(separator: "\n").count == 2 && listed.stdout.contains("next "),
                    "\(listed.output)"
                )
                let badCron = try await sites.ferry(["schedule", "add", "--cron", "61 * * * *", "a", "partner:in/"])
                #expect(badCron.status == 1 && badCron.stderr.contains("cron"), "\(badCron.output)")
                let badZone = try await sites.ferry([
                    "schedule", "add", "--cron", "0 2 * * *", "--tz", "Mars/Base", "a", "partner:in/",
                ])
                #expect(badZone.status == 1 && badZone.stderr.contains("is not a time zone"), "\(badZone.output)")
                let missing = try await sites.ferry(["queue", "add", "no-such-file", "partner:in/"])
                #expect(
                    missing.status == 1 && missing.stderr.contains("no-such-file does not exist: nothing was queued")
                )
                let badTime = try await sites.ferry(["queue", "add", "a", "partner:in/", "--at", "25:99"])
                #expect(badTime.status == 1 && badTime.stderr.contains("'25:99' is not a time"), "\(badTime.output)")
                let tooOften = try await sites.ferry(["schedule", "add", "--every", "10s", "a", "partner:in/"])
                #expect(tooOften.status == 1 && tooOften.stderr.contains("at least 1 minute"), "\(tooOften.output)")
                let id = try #require(every.stdout.split(separator: " ").dropFirst().first.map(String.init))
                let removed = try await sites.ferry(["schedule", "rm", String(id.prefix(8))])
                #expect(removed.status == 0, "\(removed.output)")
                #expect(try await sites.ferry(["schedule", "ls"]).stdout.split(separator: "\n").count == 1)
                try await sender.kill()
            }
        }

        @Test(
            "the control socket: 0600, one daemon per queue, no daemon named clearly, a folder others can write refused, and another user refused even through a widened socket"
        )
        func controlSocketSecurity() async throws {
            try await TemporaryDirectory.with("ferry-queue") { folder in
                let sites = try Sites(folder.path)
                try sites.writeSender(port: sites.downPort)
                let none = try await sites.ferry(["queue", "ls"])
                #expect(none.status == 5 && none.stderr.contains("no ferry daemon runs here"), "\(none.output)")

                let sender = try await sites.startSender()
                let socket = sites.site + "/data/.ferry/control.sock"
                let mode = try FileManager.default.attributesOfItem(atPath: socket)[.posixPermissions] as? Int
                #expect(mode == 0o600)
                let second = try await ExternalTool.run(
                    try CLITests.ferry,
                    ["serve", "--no-listen", "--config", sites.config],
                    timeout: 30,
                    directory: sites.site
                )
                #expect(second.status == 1 && second.output.contains("another ferry daemon already runs this queue"))

                // A careless operator widens the socket and its folder: another user is still refused, by its uid.
                if getuid() == 0, let setpriv = ExternalTool.find("setpriv"), let curl = ExternalTool.find("curl") {
                    chmod(sites.site + "/data/.ferry", 0o755)
                    chmod(socket, 0o666)
                    for path in [folder.path, sites.site, sites.site + "/data"] { chmod(path, 0o755) }
                    let stranger = try await ExternalTool.run(
                        setpriv,
                        [
                            "--reuid=65534", "--regid=65534", "--clear-groups", curl, "--silent", "--unix-socket",
                            socket,
                            "http://ferry/v1/queue",
                        ]
                    )
                    #expect(stranger.stdout.contains("may not use this daemon's control socket"), "\(stranger.output)")
                    #expect(!stranger.stdout.contains("["), "no queue content reached the other user")
                } else {
                    #expect(
                        ProcessInfo.processInfo.environment["CI"] != "true",
                        "CI runs as root with setpriv and curl"
                    )
                }
                try await sender.kill()

                // A socket folder anyone can write to: the daemon does not start.
                let open = folder.path + "/open"
                try FileManager.default.createDirectory(atPath: open, withIntermediateDirectories: true)
                chmod(open, 0o777)
                try
                    (try String(contentsOfFile: sites.config, encoding: .utf8)
                    .replacingOccurrences(of: "queue: {", with: "queue: {control-socket: \(open)/ferry.sock, "))
                    .write(toFile: sites.config, atomically: true, encoding: .utf8)
                let refused = try await ExternalTool.run(
                    try CLITests.ferry,
                    ["serve", "--no-listen", "--config", sites.config],
                    timeout: 30,
                    directory: sites.site
                )
                #expect(
                    refused.status == 1 && refused.output.contains("can be written by others"),
                    "\(refused.status) \(refused.output)"
                )
            }
        }
    }
}
