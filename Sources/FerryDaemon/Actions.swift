import AsyncHTTPClient
import Crypto
import FerryConfig
import FerryLedger
import FerryQueue
import FerryTLS
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import X509

#if canImport(Glibc)
import Glibc
#endif

/// The actions (`actions.NAME`): each event that matches an action's filters becomes a delivery in the outbox
/// (written in the same transaction that moves the outbox past the event), and each delivery is carried out and
/// then marked done. A daemon killed between the two delivers again after its restart, with the same event id,
/// so a receiver that remembers ids sees each event once; a delivery marked done is never repeated.
actor Actions {
    let rules: [FerryConfiguration.ActionRule]
    let store: any QueueStore
    let ledger: DaemonLedger
    let runner: QueueRunner
    let configuration: FerryConfiguration
    let clock: @Sendable () -> Date
    let logger: Logger
    private let http: HTTPClient

    init(
        configuration: FerryConfiguration,
        store: any QueueStore,
        ledger: DaemonLedger,
        runner: QueueRunner,
        clock: @escaping @Sendable () -> Date,
        logger: Logger
    ) {
        self.rules = configuration.actions
        self.store = store
        self.ledger = ledger
        self.runner = runner
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
        self.http = HTTPClient(eventLoopGroupProvider: .singleton)
    }

    func shutdown() async {
        try? await http.shutdown()
    }

    /// The actions an event goes to.
    static func route(_ event: FerryEvent, rules: [FerryConfiguration.ActionRule]) -> [String] {
        rules.filter { rule in
            guard rule.events.contains(event.type) else { return false }
            if !rule.partners.isEmpty {
                guard let partner = event.partner?.lowercased(),
                    rule.partners.contains(where: { $0.lowercased() == partner })
                else { return false }
            }
            if let direction = rule.direction, event.direction != direction { return false }
            if let glob = rule.path {
                guard let path = event.remote, fnmatch(glob, path, 0) == 0 else { return false }
            }
            return true
        }.map(\.name)
    }

    /// Fans out new events, then carries out the deliveries that are due. Returns whether it did anything.
    @discardableResult
    func pass() async -> Bool {
        let rules = self.rules
        var worked = false
        do {
            while try await store.fanOut(limit: 200, route: { Self.route($0, rules: rules) }) > 0 { worked = true }
            let due = try await store.dueDeliveries(now: clock(), limit: 16)
            worked = worked || !due.isEmpty
            await withTaskGroup(of: Void.self) { group in
                for delivery in due {
                    group.addTask { await self.deliver(delivery) }
                }
            }
        } catch {
            logger.error("actions: the outbox could not be read", metadata: ["error": "\(error)"])
        }
        return worked
    }

    private func deliver(_ delivery: Delivery) async {
        guard let rule = rules.first(where: { $0.name == delivery.action }) else {
            // The action was removed from the configuration: nothing to do any more.
            var gone = delivery
            gone.state = .failed
            gone.detail = "the action is no longer configured"
            try? await store.update(gone)
            return
        }
        var next = delivery
        next.attempts += 1
        let started = clock()
        do {
            next.detail = try await carryOut(rule, event: delivery.event)
            next.state = .done
            logger.info(
                "action done",
                metadata: [
                    "action": "\(rule.name)", "event": "\(delivery.event.type)", "event_id": "\(delivery.event.id)",
                    "detail": "\(next.detail ?? "")",
                ]
            )
        } catch {
            next.detail = String(describing: error)
            if next.attempts > rule.retries {
                next.state = .failed
                logger.error(
                    "action failed for good",
                    metadata: ["action": "\(rule.name)", "event_id": "\(delivery.event.id)", "error": "\(error)"]
                )
            } else {
                // 5 s, doubling, at most 10 minutes.
                next.nextAttempt = clock().addingTimeInterval(min(600, 5 * pow(2, Double(next.attempts - 1))))
                logger.warning(
                    "action failed; retrying",
                    metadata: [
                        "action": "\(rule.name)", "event_id": "\(delivery.event.id)", "attempt": "\(next.attempts)",
                        "error": "\(error)",
                    ]
                )
            }
        }
        // The ledger row first: a kill before the mark repeats the delivery, and its second row says so.
        await recordInLedger(next, started: started)
        try? await store.update(next)
    }

    /// Each attempt of a delivery is a row of the daemon's ledger (`ferry history --server --operation ACTION`):
    /// the action and event, and its outcome (a command's exit status and output tail, a webhook's answer).
    private func recordInLedger(_ delivery: Delivery, started: Date) async {
        guard let ledger = try? await ledger.open() else { return }
        let failed = delivery.state != .done
        try? await ledger.record(
            LedgerEntry(
                id: Self.derivedID("\(delivery.event.id)/\(delivery.action)/\(delivery.attempts)"),
                direction: .outbound,
                partner: delivery.event.partner ?? "-",
                operation: .action,
                path:
                    "\(delivery.action) \(delivery.event.type) \(delivery.event.remote ?? delivery.event.local ?? "")",
                bytes: 0,
                sha256: delivery.event.sha256,
                started: started,
                ended: clock(),
                result: failed ? .failed : .ok,
                // A failure's exit status and output tail; a success's are in `ferry actions ls`.
                error: failed ? delivery.detail.map { String($0.prefix(2300)) } : nil
            )
        )
        try? await ledger.close()
    }

    private func carryOut(_ rule: FerryConfiguration.ActionRule, event: FerryEvent) async throws -> String {
        switch rule.kind {
        case .run(let argv):
            return try await ActionCommand.run(argv, event: event, timeout: rule.timeout)
        case .webhook(let url, let secretFile):
            return try await post(event, to: url, secretFile: secretFile, timeout: rule.timeout)
        case .move(let folder):
            let file = try Self.file(of: event)
            let target = try HotFolders.move(file, into: Self.folder(folder, beside: file))
            return "moved to \(target)"
        case .copy(let folder):
            let file = try Self.file(of: event)
            let target = try Self.copy(file, into: Self.folder(folder, beside: file))
            return "copied to \(target)"
        case .forward(let partner, let path):
            let file = try Self.file(of: event)
            // The entry's id comes from the event and the action: a delivery repeated after a crash finds its
            // entry already queued instead of queueing the file twice.
            let id = Self.derivedID(event.id + "/" + rule.name)
            if try await store.entry(id: id) != nil { return "already queued as \(id)" }
            var entry = QueueEntry(
                id: id,
                direction: .send,
                partner: partner,
                local: file,
                remote: path,
                retry: configuration.retryRule(partner: partner, request: nil),
                now: clock()
            )
            entry.origin = "action:" + rule.name
            try await store.add(entry)
            runner.wake()
            return "queued \(id) to \(partner):\(path)"
        }
    }

    static func file(of event: FerryEvent) throws -> String {
        guard let file = event.local, FileManager.default.fileExists(atPath: file) else {
            throw HotFolderError("the event's file \(event.local ?? "(none)") is not there (any more)")
        }
        return file
    }

    /// A folder for move-to/copy-to: absolute, or relative to the file's own folder.
    static func folder(_ folder: String, beside file: String) -> String {
        folder.hasPrefix("/") ? folder : (file as NSString).deletingLastPathComponent + "/" + folder
    }

    static func copy(_ path: String, into folder: String) throws -> String {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let name = (path as NSString).lastPathComponent
        var target = folder + "/" + name
        var suffix = 0
        while FileManager.default.fileExists(atPath: target) {
            suffix += 1
            target = folder + "/" + name + ".\(suffix)"
        }
        try FileManager.default.copyItem(atPath: path, toPath: target)
        return target
    }

    /// A UUID-shaped id derived from text (SHA-256), stable across runs.
    static func derivedID(_ text: String) -> String {
        let hex = SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
        let characters = Array(hex.prefix(32))
        return [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(characters[$0]) }.joined(separator: "-")
    }

    /// POSTs the event as JSON with its signature: `Ferry-Signature: t=TIMESTAMP,v1=HEX`, where HEX is
    /// HMAC-SHA256 with the secret over `TIMESTAMP.BODY` (docs/actions.md shows a receiver's check).
    private func post(_ event: FerryEvent, to url: String, secretFile: String, timeout: Double) async throws -> String {
        guard
            let secret = try? String(contentsOfFile: secretFile, encoding: .utf8)
                .split(separator: "\n").first.map(String.init), !secret.isEmpty
        else {
            throw HotFolderError("cannot read the webhook secret from \(secretFile) (its first line is the key)")
        }
        let body = try ControlAPI.encoder().encode(event)
        let timestamp = String(Int(clock().timeIntervalSince1970))
        let signature = Self.signature(secret: secret, timestamp: timestamp, body: body)
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "ferry")
        request.headers.add(name: "Ferry-Event", value: event.type)
        request.headers.add(name: "Ferry-Event-Id", value: event.id)
        request.headers.add(name: "Ferry-Signature", value: "t=\(timestamp),v1=\(signature)")
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await http.execute(request, timeout: .milliseconds(Int64(timeout * 1000)))
        let answer = try await response.body.collect(upTo: 4096)
        guard (200..<300).contains(response.status.code) else {
            throw HotFolderError(
                "the webhook answered \(response.status.code): \(String(decoding: answer.readableBytesView.prefix(300), as: UTF8.self))"
            )
        }
        return "webhook answered \(response.status.code)"
    }

    static func signature(secret: String, timestamp: String, body: Data) -> String {
        var message = Data(timestamp.utf8)
        message.append(UInt8(ascii: "."))
        message.append(body)
        return HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: Data(secret.utf8)))
            .map { String(format: "%02x", $0) }.joined()
    }
}

/// A command action: argv (no shell), the event in `FERRY_*` variables, a time limit, and a bounded tail of its
/// output kept with the delivery.
enum ActionCommand {
    static func environment(for event: FerryEvent) -> [String: String] {
        var environment: [String: String] = [:]
        let inherited = ProcessInfo.processInfo.environment
        for key in ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "USER"] { environment[key] = inherited[key] }
        environment["FERRY_EVENT"] = event.type
        environment["FERRY_EVENT_ID"] = event.id
        environment["FERRY_EVENT_TIME"] = event.time.formatted(.iso8601)
        let optional: [(String, String?)] = [
            ("FERRY_PARTNER", event.partner), ("FERRY_DIRECTION", event.direction), ("FERRY_ENTRY", event.entry),
            ("FERRY_STATE", event.state), ("FERRY_ATTEMPT", event.attempt.map(String.init)),
            ("FERRY_LOCAL", event.local), ("FERRY_REMOTE", event.remote), ("FERRY_BYTES", event.bytes.map(String.init)),
            ("FERRY_SHA256", event.sha256), ("FERRY_MESSAGE", event.message),
            ("FERRY_FINDINGS", event.findings?.joined(separator: ",")),
            ("FERRY_EXIT_CODE", event.exitCode.map(String.init)),
            ("FERRY_ORIGIN", event.origin),
        ]
        for (key, value) in optional { if let value { environment[key] = value } }
        return environment
    }

    static func run(_ argv: [String], event: FerryEvent, timeout: Double) async throws -> String {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-action-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: output.path, contents: nil, attributes: [.posixPermissions: 0o600])
        defer { try? FileManager.default.removeItem(at: output) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: argv[0])
        process.arguments = Array(argv.dropFirst())
        process.environment = environment(for: event)
        process.standardInput = FileHandle.nullDevice
        let handle = try FileHandle(forWritingTo: output)
        process.standardOutput = handle
        process.standardError = handle
        do {
            try process.run()
        } catch {
            try? handle.close()
            throw HotFolderError("cannot run \(argv[0]): \(error.localizedDescription)")
        }
        let deadline = Date().addingTimeInterval(timeout)
        var timedOut = false
        while process.isRunning {
            if Date() > deadline {
                timedOut = true
                process.terminate()
                try? await Task.sleep(for: .seconds(2))
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
                break
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        process.waitUntilExit()
        try? handle.close()
        let data = (try? Data(contentsOf: output)) ?? Data()
        let tail = TerminalTail.text(data.suffix(2048))
        if timedOut {
            throw HotFolderError("\(argv[0]) ran longer than \(Int(timeout)) s and was stopped; output: \(tail)")
        }
        guard process.terminationStatus == 0 else {
            throw HotFolderError("\(argv[0]) exited with status \(process.terminationStatus); output: \(tail)")
        }
        return "exit 0; output: \(tail)"
    }
}

/// The end of a command's output, safe to log.
enum TerminalTail {
    static func text(_ data: Data) -> String {
        String(decoding: data, as: UTF8.self).unicodeScalars.map {
            $0.value < 0x20 && $0 != "\n" || $0.value == 0x7F ? "?" : String($0)
        }.joined().trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// The actions' loop, and the sources of events from outside the queue: the server's ledger (a partner's file
/// committed, a handshake that failed) and the certificates in use (one event a day while one expires within
/// the warning window).
struct ActionLoop: Service {
    let actions: Actions
    let store: any QueueStore
    let configuration: FerryConfiguration
    /// The server's ledger, whose rows become events; nil for a daemon without a listener.
    let ledger: DaemonLedger?
    let logger: Logger

    func run() async throws {
        let wakeup = Wakeup()
        let ledger = try? await self.ledger?.open()
        // Where the last run stopped reading the ledger (kept in the queue database), so rows written just before
        // a kill are read after the restart however long the daemon was down; the first run starts a minute back.
        let stored = try? await store.position("ledger")
        await cancelWhenGracefulShutdown {
            var since = stored.flatMap { $0 }.map(Date.init(timeIntervalSince1970:)) ?? Date().addingTimeInterval(-60)
            var lastCertificateCheck = Date.distantPast
            while !Task.isCancelled {
                if let ledger {
                    let read = await pump(ledger, since: since)
                    if read != since { try? await store.setPosition("ledger", read.timeIntervalSince1970) }
                    since = read
                }
                if Date().timeIntervalSince(lastCertificateCheck) > 3600 {
                    await checkCertificates()
                    lastCertificateCheck = Date()
                }
                if await !actions.pass() { await wakeup.pause(.seconds(1)) }
            }
        }
        if let ledger { try? await ledger.close() }
        await actions.shutdown()
    }

    /// Records the server's new ledger rows as events: an inbound file committed is `file.received`, a failed
    /// handshake is `handshake.failed`. Each row once (its id is the event's key); the overlap of two minutes
    /// catches rows written late.
    func pump(_ ledger: any Ledger, since: Date) async -> Date {
        var latest = since
        do {
            let page = try await ledger.transfers(
                LedgerQuery(direction: .inbound, since: since.addingTimeInterval(-120), limit: 1000)
            )
            for row in page.entries.reversed() {
                latest = max(latest, row.ended)
                let type: String
                if row.operation == .tls {
                    type = "handshake.failed"
                } else if row.result == .ok, row.operation == .put || row.operation == .tus {
                    type = "file.received"
                } else {
                    continue
                }
                var event = FerryEvent(type: type, time: row.ended)
                event.partner = row.partner
                event.direction = "inbound"
                event.remote = row.path
                event.local = type == "file.received" ? configuration.root + "/" + row.path : nil
                event.bytes = row.bytes
                event.sha256 = row.sha256
                event.message = row.error
                event.findings = row.findings.isEmpty ? nil : row.findings
                try await store.record(event, key: "ledger:" + row.id)
            }
        } catch {
            logger.error("actions: the ledger could not be read", metadata: ["error": "\(error)"])
        }
        return latest
    }

    /// One `certificate.expiring` event a day for each certificate in use that expires within the warning window.
    func checkCertificates() async {
        var files: [(String, String)] = []
        if let server = configuration.serverTLS?.certificate { files.append(("server", server)) }
        if let client = configuration.clientTLS.certificate { files.append(("client", client)) }
        for (name, partner) in configuration.partners {
            if let file = partner.tls?.certificate { files.append((name, file)) }
        }
        let now = Date()
        for (owner, file) in files {
            guard let leaf = try? CertificateFiles.loadCertificates(file).first else { continue }
            let left = leaf.notValidAfter.timeIntervalSince(now)
            guard left < configuration.expiryWarning else { continue }
            var event = FerryEvent(type: "certificate.expiring", time: now)
            event.partner = owner == "server" || owner == "client" ? nil : owner
            event.local = file
            event.message =
                "\(leaf.subject) expires \(leaf.notValidAfter.formatted(.iso8601)) (\(max(0, Int(left / 86_400))) days)"
            let day = now.formatted(.iso8601.year().month().day())
            _ = try? await store.record(event, key: "certificate:\(file):\(leaf.serialNumber):\(day)")
        }
    }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let self else { return nil }
        return try await transform(self)
    }
}
