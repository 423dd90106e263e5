@preconcurrency import Dispatch
import FerryTLS
import Foundation
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle
import X509

#if canImport(Glibc)
import Glibc
#endif

/// Keeps the receive side's certificates current: reloads the TLS context on SIGHUP and when a certificate,
/// key or CA file changes (new connections get the new context, connections in flight keep theirs, a bad
/// file leaves the old context in use), and warns at startup and daily about certificates that expire soon.
final class CertificateLifecycle: Service, Sendable {
    let tls: ServerTLSContext
    /// Seconds before expiry from which a certificate is warned about.
    let warningWindow: Double
    let logger: Logger
    /// How often the files are checked for changes.
    let pollInterval: Duration
    private let lastExpiryCheck = NIOLockedValueBox(Date.distantPast)
    /// Called with each context a reload installs (closes the connections it no longer accepts).
    let onReload: @Sendable (ResolvedServerTLS) -> Void

    init(
        tls: ServerTLSContext,
        warningWindow: Double,
        logger: Logger,
        pollInterval: Duration = .seconds(2),
        onReload: @escaping @Sendable (ResolvedServerTLS) -> Void = { _ in }
    ) {
        self.tls = tls
        self.onReload = onReload
        self.warningWindow = warningWindow
        self.logger = logger
        self.pollInterval = pollInterval
    }

    func run() async throws {
        let (hangups, source) = Self.hangupSignals()
        try? await cancelWhenGracefulShutdown {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await _ in hangups {
                        self.reload(reason: "SIGHUP")
                    }
                }
                group.addTask {
                    while !Task.isCancelled {
                        if self.tls.filesChanged {
                            // A certificate and its key are rarely replaced in one step: reload once the files
                            // have stopped changing, rather than log a mismatch between an old and a new file.
                            let seen = self.tls.diskStamps
                            try await Task.sleep(for: .milliseconds(300))
                            if self.tls.diskStamps == seen {
                                self.reload(reason: "a certificate, key or CA file changed")
                            }
                        }
                        self.warnAboutExpiry()
                        try await Task.sleep(for: self.pollInterval)
                    }
                }
                try await group.next()
                group.cancelAll()
            }
        }
        source.cancel()
    }

    func reload(reason: String) {
        switch tls.reload() {
        case .success(let loaded):
            let leaf = loaded.identity.leaf
            logger.notice(
                "TLS context reloaded; new connections use it, connections in flight keep theirs",
                metadata: [
                    "reason": "\(reason)", "certificate": "\(loaded.identity.certificatePath)",
                    "subject": "\(leaf.subject)",
                    "not_after": "\(leaf.notValidAfter)", "generation": "\(tls.generation)",
                ]
            )
            for warning in loaded.warnings {
                logger.warning("TLS profile warning", metadata: ["warning": "\(warning)"])
            }
            onReload(loaded)
            lastExpiryCheck.withLockedValue { $0 = .distantPast }
        case .failure(let error):
            logger.error(
                "TLS reload refused, the previous certificate stays in use",
                metadata: ["reason": "\(reason)", "error": "\(error)"]
            )
        }
    }

    /// Once a day (and at startup): a warning per certificate in use that expires within the window.
    func warnAboutExpiry(now: Date = .now) {
        let due = lastExpiryCheck.withLockedValue { last in
            guard now.timeIntervalSince(last) >= 86_400 else { return false }
            last = now
            return true
        }
        guard due else { return }
        for entry in certificates(now: now) where entry.secondsLeft < warningWindow {
            let when =
                entry.secondsLeft < 0 ? "expired \(-entry.daysLeft) day(s) ago" : "expires in \(entry.daysLeft) day(s)"
            logger.warning(
                "certificate expiring: renew it; Ferry reloads it when the file changes",
                metadata: [
                    "expiry": "\(when)", "role": "\(entry.role)", "file": "\(entry.file)",
                    "subject": "\(entry.subject)", "not_after": "\(entry.notAfter)",
                ]
            )
        }
    }

    struct Entry: Encodable {
        let role: String
        let file: String
        let subject: String
        let notAfter: Date
        let secondsLeft: Double
        var daysLeft: Int { Int((secondsLeft / 86_400).rounded(.down)) }

        enum CodingKeys: String, CodingKey {
            case role, file, subject
            case notAfter = "not_after"
            case daysLeft = "days_left"
        }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(role, forKey: .role)
            try container.encode(file, forKey: .file)
            try container.encode(subject, forKey: .subject)
            try container.encode(notAfter, forKey: .notAfter)
            try container.encode(daysLeft, forKey: .daysLeft)
        }
    }

    /// Every certificate in use: the server's chain, then the trusted CAs.
    func certificates(now: Date = .now) -> [Entry] {
        let current = tls.current
        var entries = [
            Entry(
                role: "server",
                file: current.identity.certificatePath,
                subject: current.identity.leaf.subject.description,
                notAfter: current.identity.leaf.notValidAfter,
                secondsLeft: current.identity.leaf.notValidAfter.timeIntervalSince(now)
            )
        ]
        for (file, certificate) in current.trustedCertificates {
            entries.append(
                Entry(
                    role: "ca",
                    file: file,
                    subject: certificate.subject.description,
                    notAfter: certificate.notValidAfter,
                    secondsLeft: certificate.notValidAfter.timeIntervalSince(now)
                )
            )
        }
        return entries
    }

    /// SIGHUP as an async stream (the default action, ending the process, is turned off).
    static func hangupSignals() -> (stream: AsyncStream<Void>, source: any DispatchSourceSignal) {
        signal(SIGHUP, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        source.setEventHandler { continuation.yield() }
        source.setCancelHandler { continuation.finish() }
        source.resume()
        return (stream, source)
    }
}
