public import FerryClient
public import FerryConfig
public import FerryLedger
public import FerryQueue
import FerryTLS
import FerryText
import Foundation
import NIOCore

/// One attempt of a queued transfer, made the way `ferry send` and `ferry get` make it, to a configured partner
/// with the partner's TLS profile, recorded in the daemon's ledger. A resumable upload's checkpoint is kept in
/// the daemon's resume folder, so each retry continues where the last attempt stopped.
public struct QueueTransfer: Sendable {
    public let configuration: FerryConfiguration
    /// Where the daemon remembers unfinished resumable uploads: `<root>/.ferry/outbound` (text mode also stages
    /// converted files beside it).
    public var resumeDirectory: String
    /// Where the records of unfinished uploads are kept instead, when the nodes share a database: a node that
    /// takes over another's entry continues the upload the other began.
    public var resumeRecords: (any ResumeRecordStore)?
    /// The ledger the attempts are recorded in (the server's, so `ferry history --server` shows both directions).
    public var ledger: DaemonLedger?
    /// Seconds with nothing moving before a connection counts as stalled.
    public var stallTimeout: Int64 = 300

    public init(configuration: FerryConfiguration) {
        self.configuration = configuration
        self.resumeDirectory = configuration.root + "/.ferry/outbound"
        self.ledger = .file(configuration.resolvedServerLedger)
    }

    /// The queue entry a ledger row of a queued transfer belongs to: its id starts with the entry's (a lowercase
    /// UUID) and a dash (`TransferClient.ledgerRowPrefix`). Nil for any other row.
    public static func queueEntry(ofRow id: String) -> String? {
        guard id.count > 37 else { return nil }
        let prefix = String(id.prefix(36))
        guard id.dropFirst(36).first == "-", let uuid = UUID(uuidString: prefix), uuid.uuidString.lowercased() == prefix
        else { return nil }
        return prefix
    }

    /// Runs the entry's transfer once and reports how it ended.
    public func run(_ entry: QueueEntry) async -> QueueEntry.Outcome {
        let ledger = try? await self.ledger?.open()
        // The session closes the ledger, also when the attempt is cancelled.
        return await attempt(entry, ledger: ledger)
    }

    private func attempt(_ entry: QueueEntry, ledger: (any Ledger)?) async -> QueueEntry.Outcome {
        do {
            let message = try await transfer(entry, ledger: ledger)
            return QueueEntry.Outcome(exitCode: 0, message: message, transient: false)
        } catch let failure as TransferError {
            return QueueEntry.Outcome(
                exitCode: Int(FerryExitCode(failure.code).rawValue),
                message: failure.message,
                findings: failure.findings,
                transient: failure.worthRetryingLater
            )
        } catch {
            return QueueEntry.Outcome(
                exitCode: Int(FerryExitCode.network.rawValue),
                message: String(describing: error),
                transient: true
            )
        }
    }

    private func transfer(_ entry: QueueEntry, ledger: (any Ledger)?) async throws -> String {
        let target = try RemoteTarget.parse("\(entry.partner):\(entry.remote)", configuration: configuration)
        let tls: ResolvedClientTLS
        do {
            tls = try configuration.clientProfile(partner: entry.partner, overrides: ClientProfileOverrides())
                .makeConfiguration()
        } catch {
            throw TransferError(.usage, error.description)
        }
        var client = TransferClient(tls: tls, ledger: ledger)
        client.ledgerRowPrefix = entry.id
        client.resumeDirectory = resumeDirectory
        client.resumeRecords = resumeRecords
        client.stallTimeout = .seconds(stallTimeout)
        client.rateLimit = entry.rateLimit
        if let text = entry.text {
            do {
                client.text = try TextConversion.textMode(settings: text)
            } catch {
                throw TransferError(.usage, "text mode: \(error.description)")
            }
        }
        // A few quick retries inside the attempt (a dropped connection); the queue's retries take the long waits.
        client.retry = RetryPolicy(retries: 2, baseWait: 1)
        switch entry.direction {
        case .send:
            let files = try Self.expand(entry.local)
            client.recursive = true
            let results = try await client.session(target: target, operation: .send, direction: .outbound) {
                client,
                target in
                try await client.send(files: files, to: target)
            }
            let bytes = results.reduce(Int64(0)) { $0 + $1.bytes }
            let digests = results.prefix(3).map {
                "\($0.remote) sha256 \($0.sha256)"
                    + ($0.resumedFrom > 0 ? " (resumed at \(ByteFormat.size($0.resumedFrom)))" : "")
            }.joined(separator: "; ")
            return
                "sent \(results.count) file\(results.count == 1 ? "" : "s"), \(ByteFormat.size(bytes)), verified: \(digests)\(results.count > 3 ? "; ..." : "")"
        case .get:
            let result = try await client.session(target: target, operation: .get, direction: .inbound) {
                client,
                target in
                try await client.get(target, to: entry.local)
            }
            return "got \(result.local), \(ByteFormat.size(result.bytes)), sha256 \(result.sha256) verified"
                + (result.resumedFrom > 0 ? " (resumed at \(ByteFormat.size(result.resumedFrom)))" : "")
        }
    }

    /// A send's files: the path itself (a file or a folder), or the files a glob in its last component matches.
    static func expand(_ local: String) throws -> [String] {
        let name = (local as NSString).lastPathComponent
        guard name.contains(where: { "*?[".contains($0) }) else {
            guard FileManager.default.fileExists(atPath: local) else {
                throw TransferError(.localIO, "\(local) does not exist (any more): nothing to send")
            }
            return [local]
        }
        let folder = (local as NSString).deletingLastPathComponent
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: folder.isEmpty ? "." : folder)
        } catch {
            throw TransferError(.localIO, "cannot list \(folder) for \(name): \(error.localizedDescription)")
        }
        let matches = names.filter { !$0.hasPrefix(".") && fnmatch(name, $0, 0) == 0 }.sorted().map {
            folder + "/" + $0
        }
        guard !matches.isEmpty else {
            throw TransferError(.localIO, "no file in \(folder) matches \(name): nothing to send")
        }
        return matches
    }
}

extension FerryConfiguration {
    /// The retry rule of an entry for a partner: the request's settings over the partner's over the defaults.
    public func retryRule(partner: String, request: RetryRequest?) -> RetryRule {
        let settings = queueSettings(for: partner)
        var rule = RetryRule(
            maximumRetries: settings.retries ?? 10,
            firstWait: settings.retryWait ?? 60,
            maximumWait: settings.retryMaximumWait ?? 3600,
            deadline: settings.deadline ?? nil,
            retryPermanentFailures: settings.retryConfigurationErrors ?? false
        )
        if let request {
            if let retries = request.retries { rule.maximumRetries = retries < 0 ? nil : retries }
            if let wait = request.retryWait { rule.firstWait = wait }
            if let wait = request.retryMaximumWait { rule.maximumWait = wait }
            if let deadline = request.deadline { rule.deadline = deadline > 0 ? deadline : nil }
            if let retry = request.retryConfigurationErrors { rule.retryPermanentFailures = retry }
        }
        rule.maximumWait = max(rule.maximumWait, rule.firstWait)
        return rule
    }
}
