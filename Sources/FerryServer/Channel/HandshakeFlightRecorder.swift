import FerryConfig
import FerryDiagnosis
import FerryLedger
import FerryProtocol
import FerryTrace
import FerryWire
import Foundation
import Logging
import NIOCore
import Prometheus

/// The server's use of each connection's flight recorder: when a connection closes, its handshake trace is
/// logged (failed handshakes by default, or all) and, with a pcapng folder, written as a capture with its keys.
struct HandshakeFlightRecorder: Sendable {
    let settings: FerryConfiguration.ServerTrace
    let keys: TLSKeyLogStore
    let ledger: any Ledger
    let logger: Logger
    let throttle = FailureThrottle()
    let captures: CaptureBudget
    /// The recent failures' traces and findings, for the console.
    let book: HandshakeTraceBook
    /// Where failed handshakes are counted by alert (`ferry_handshake_alerts_total`).
    let metrics: PrometheusCollectorRegistry?
    /// This server's certificate as it is now (reloads replace it), to judge what a failed client offered.
    let ownCertificate: @Sendable () -> TLSCertificateSummary?

    init(
        settings: FerryConfiguration.ServerTrace,
        keys: TLSKeyLogStore,
        ledger: any Ledger,
        logger: Logger,
        book: HandshakeTraceBook = HandshakeTraceBook(),
        metrics: PrometheusCollectorRegistry? = nil,
        ownCertificate: @escaping @Sendable () -> TLSCertificateSummary? = { nil }
    ) throws {
        self.book = book
        self.metrics = metrics
        self.settings = settings
        self.ownCertificate = ownCertificate
        self.keys = keys
        self.ledger = ledger
        self.logger = logger
        self.captures = CaptureBudget(
            folder: settings.pcapngDirectory,
            maximumFiles: settings.pcapngMaximumFiles,
            maximumBytes: settings.pcapngMaximumBytes
        )
        if let folder = settings.pcapngDirectory {
            do {
                try SecretCaptureFile.prepareFolder(folder)
            } catch {
                throw ConfigError("server.trace.pcapng-dir: \(error)")
            }
        }
    }

    var level: Logger.Level { Logger.Level(rawValue: settings.level) ?? .warning }

    func connectionClosed(_ record: TLSConnectionRecord) {
        let recorder = record.recorder
        guard !recorder.isEmpty else { return }
        let snapshot = record.snapshot
        let refusal = snapshot.policyRefusal
        let failed = !snapshot.handshakeComplete || refusal != nil
        let logs = settings.handshakes == .all || (settings.handshakes == .failed && failed)
        guard logs || failed || settings.pcapngDirectory != nil else {
            recorder.forgetKeys()
            return
        }
        let peer = recorder.endpoints.client
        if failed {
            // Unauthenticated noise is counted, not recorded one by one beyond a few per source and window.
            let decision = throttle.admit(source: peer.address)
            for (source, count) in decision.summaries { summarise(source: source, count: count) }
            guard decision.detailed else {
                recorder.forgetKeys()
                return
            }
        }
        // Decoding, ledger and file writes stay off the event loop.
        Task.detached { [settings, logger, level, ledger, captures, ownCertificate, book, metrics] in
            defer { recorder.forgetKeys() }
            // Decoded and judged once, for the ledger and the log alike.
            let judged = (failed || logs) ? recorder.conversation() : nil
            var findings =
                judged.map {
                    TraceRules.findings($0, local: .serverToClient, serverCertificate: failed ? ownCertificate() : nil)
                } ?? []
            if let id = snapshot.policyFinding, let refusal, let finding = Finding.refusal(id: id, reason: refusal) {
                findings.insert(finding, at: 0)
            }
            // The trace as `ferry trace` shows it, for the log and the console alike.
            let trace = judged.map {
                TerminalText.escaped(
                    TLSTraceRenderer(localSide: .serverToClient).render($0, format: .summary),
                    keepingNewlines: true
                )
            }
            if failed, let conversation = judged {
                // A failed handshake is a transfer that never started: the ledger keeps it with its findings. The
                // client's certificate was not accepted, so it names no partner: its fields are kept, escaped and
                // marked unverified.
                let client = conversation.clientCertificates?.entries.first?.summary
                let alert = conversation.alerts.first { $0.alert.isFatal }
                let entry = LedgerEntry(
                    direction: .inbound,
                    partner: "-",
                    operation: .tls,
                    path: "-",
                    bytes: 0,
                    sha256: nil,
                    started: Date(
                        timeIntervalSince1970: recorder.chunks.first?.time ?? Date().timeIntervalSince1970
                    ),
                    result: .failed,
                    error: "TLS handshake failed from \(peer.address)"
                        + (alert.map {
                            ": \($0.direction == .serverToClient ? "this server" : "the client") sent \($0.alert)"
                        } ?? "")
                        + (refusal.map { "; refused: \(TerminalText.escaped($0))" } ?? ""),
                    tlsVersion: conversation.version?.description,
                    cipherSuite: conversation.cipherSuite?.description,
                    peer: client.map {
                        LedgerEntry.PeerCertificate(
                            subject: TerminalText.escaped($0.subject),
                            issuer: TerminalText.escaped($0.issuer),
                            serial: TerminalText.escaped($0.serial),
                            verified: false
                        )
                    },
                    findings: findings.map(\.id)
                )
                book.keep(.init(trace: trace ?? "", findings: findings), id: entry.id)
                metrics?.makeCounter(
                    name: "ferry_handshake_alerts_total",
                    labels: [
                        ("alert", alert.map { $0.alert.alertDescription.description.lowercased() } ?? "none"),
                        ("sent_by", alert.map { $0.direction == .serverToClient ? "server" : "client" } ?? "none"),
                    ],
                    help: "Failed handshakes recorded in the ledger, by their first fatal alert and who sent it"
                ).increment()
                try? await ledger.record(entry)
            }
            if logs, let conversation = judged, let trace {
                var metadata: Logger.Metadata = ["peer": "\(peer)"]
                if let version = conversation.version { metadata["tls_version"] = "\(version)" }
                if let alert = conversation.alerts.last { metadata["alert"] = "\(alert.alert)" }
                if !findings.isEmpty { metadata["findings"] = "\(findings.map(\.id).joined(separator: ","))" }
                if let refusal { metadata["refused"] = "\(TerminalText.escaped(refusal))" }
                let explained = TerminalText.escaped(
                    findings.map(\.brief).joined(separator: "\n"),
                    keepingNewlines: true
                )
                let title = failed ? "TLS handshake failed" : "TLS handshake"
                logger.log(
                    level: level,
                    "\(title); trace (-> sent by this server):\n\(trace)\(explained.isEmpty ? "" : "findings:\n" + explained + "\n")",
                    metadata: metadata
                )
            }
            if let folder = settings.pcapngDirectory {
                let bytes = recorder.pcapng(refused: failed)
                guard captures.reserve(bytes.readableBytes) else {
                    if captures.shouldWarnFull() {
                        logger.warning(
                            "the capture folder reached its limit; no more captures are written until files are removed",
                            metadata: [
                                "pcapng_dir": "\(folder)", "max_files": "\(settings.pcapngMaximumFiles)",
                                "max_bytes": "\(settings.pcapngMaximumBytes)",
                            ]
                        )
                    }
                    return
                }
                let stamp = Self.timestamp(Date())
                let name =
                    "\(stamp)-\(peer.address.replacingOccurrences(of: ":", with: "_"))-\(peer.port)\(failed ? "-failed" : "").pcapng"
                let path = folder + "/" + name
                do {
                    try SecretCaptureFile.write(bytes, to: path)
                } catch {
                    logger.warning(
                        "cannot write the handshake capture",
                        metadata: ["file": "\(path)", "error": "\(error)"]
                    )
                }
            }
        }
    }

    /// One log line and one ledger row for the failed handshakes of a source that were only counted.
    private func summarise(source: String, count: Int) {
        logger.log(
            level: level,
            "failed TLS handshakes counted, not recorded one by one",
            metadata: [
                "peer": "\(source)", "count": "\(count)", "window": "\(throttle.window.nanoseconds / 1_000_000_000)s",
            ]
        )
        Task.detached { [ledger] in
            try? await ledger.record(
                LedgerEntry(
                    direction: .inbound,
                    partner: "-",
                    operation: .tls,
                    path: "-",
                    bytes: 0,
                    sha256: nil,
                    started: Date(),
                    result: .failed,
                    error:
                        "\(count) more failed TLS handshakes from \(source) in one window, counted but not recorded one by one"
                )
            )
        }
    }

    static func timestamp(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss.SSS'Z'"
        return formatter.string(from: date)
    }
}
