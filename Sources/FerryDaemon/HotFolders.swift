import FerryConfig
import FerryQueue
import FerryText
import Foundation
import Logging
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// Hot folders (`watch.NAME`): files that appear in a local folder are queued to a partner once complete, and
/// moved to `sent/` (or deleted, or left) when the partner has verified them, or to `failed/` with a reason
/// file. inotify wakes the scan when it can; a scan every two seconds is the fallback and also notices what
/// arrived while the daemon was down. What was queued is recorded with the entry in one transaction (path, size,
/// modification time), so a restart never queues the same file twice.
actor HotFolders {
    let rules: [FerryConfiguration.WatchRule]
    let store: any QueueStore
    let runner: QueueRunner
    let configuration: FerryConfiguration
    let clock: @Sendable () -> Date
    let logger: Logger
    /// Files seen but not yet complete: their size and modification time, and since when they have been so.
    private var watching: [String: (size: Int64, modified: Double, since: Date)] = [:]

    init(
        configuration: FerryConfiguration,
        store: any QueueStore,
        runner: QueueRunner,
        clock: @escaping @Sendable () -> Date,
        logger: Logger
    ) {
        self.rules = configuration.watches
        self.store = store
        self.runner = runner
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
    }

    /// One pass over every rule: finished files first (out of the way), then new complete ones.
    func scan() async {
        for rule in rules {
            do {
                try await settle(rule)
                try await queueComplete(rule)
            } catch {
                logger.error(
                    "hot folder scan failed",
                    metadata: ["watch": "\(rule.name)", "folder": "\(rule.folder)", "error": "\(error)"]
                )
            }
        }
    }

    private func queueComplete(_ rule: FerryConfiguration.WatchRule) async throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: rule.folder)
        let present = Set(names)
        let now = clock()
        for name in names.sorted() {
            guard !name.hasPrefix("."), !name.hasSuffix(".part"), !name.hasSuffix(".tmp"),
                fnmatch(rule.glob, name, 0) == 0
            else { continue }
            if rule.completion == .marker && name.hasSuffix(rule.marker) { continue }
            let path = rule.folder + "/" + name
            // A regular file (a symbolic link is not followed: attributesOfItem describes the link itself).
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
                attributes[.type] as? FileAttributeType == .typeRegular,
                let size = (attributes[.size] as? NSNumber)?.int64Value,
                let modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970
            else { continue }
            switch rule.completion {
            case .rename:
                break
            case .marker:
                guard present.contains(name + rule.marker) else { continue }
            case .stable:
                if let seen = watching[path], seen.size == size, seen.modified == modified {
                    guard now.timeIntervalSince(seen.since) >= rule.stableFor else { continue }
                } else {
                    watching[path] = (size, modified, now)
                    continue
                }
            }
            watching[path] = nil
            var entry = QueueEntry(
                direction: .send,
                partner: rule.partner,
                local: path,
                remote: rule.remote,
                priority: rule.priority,
                retry: configuration.retryRule(partner: rule.partner, request: nil),
                now: now
            )
            entry.origin = "watch:" + rule.name
            entry.text = rule.text?.settings
            if try await store.addWatched(entry, rule: rule.name, path: path, size: size, modified: modified) {
                logger.info(
                    "hot folder file queued",
                    metadata: ["watch": "\(rule.name)", "file": "\(path)", "entry": "\(entry.id)"]
                )
                runner.wake()
            }
        }
        // Forget files that went away before they were complete.
        for path in watching.keys
        where path.hasPrefix(rule.folder + "/") && !present.contains((path as NSString).lastPathComponent) {
            watching[path] = nil
        }
    }

    /// Moves, deletes or leaves the files whose entries finished.
    private func settle(_ rule: FerryConfiguration.WatchRule) async throws {
        for (path, entry) in try await store.finishedWatched(rule: rule.name) {
            let name = (path as NSString).lastPathComponent
            if FileManager.default.fileExists(atPath: path) {
                if entry.state == .done {
                    switch rule.after {
                    case .move: _ = try Self.move(path, into: rule.folder + "/sent")
                    case .delete: try FileManager.default.removeItem(atPath: path)
                    case .leave: break
                    }
                } else {
                    let moved = try Self.move(path, into: rule.folder + "/failed")
                    let reason = """
                        \(name) was not sent to \(entry.partner):\(entry.remote)
                        state: \(entry.state.rawValue) after \(entry.attempts) attempt(s), \(entry.updated.formatted(.iso8601))
                        entry: \(entry.id) (ferry queue show \(entry.id.prefix(8)))
                        exit code: \(entry.exitCode.map(String.init) ?? "none")
                        error: \(entry.lastError ?? (entry.state == .cancelled ? "cancelled by an operator" : "unknown"))
                        findings: \(entry.findings.isEmpty ? "none" : entry.findings.joined(separator: ", "))
                        To send it again, move it back into \(rule.folder).

                        """
                    try reason.write(toFile: moved + ".reason", atomically: true, encoding: .utf8)
                }
            }
            if rule.completion == .marker {
                try? FileManager.default.removeItem(atPath: path + rule.marker)
            }
            try await store.settleWatched(rule: rule.name, path: path)
            logger.info(
                "hot folder file finished",
                metadata: ["watch": "\(rule.name)", "file": "\(path)", "state": "\(entry.state.rawValue)"]
            )
        }
    }

    /// Moves a file into a folder (made when missing) under its name, or `name.1`, `name.2`, ... when taken:
    /// nothing already there is replaced. Returns the new path.
    static func move(_ path: String, into folder: String) throws -> String {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let name = (path as NSString).lastPathComponent
        var target = folder + "/" + name
        var suffix = 0
        while FileManager.default.fileExists(atPath: target)
            || FileManager.default.fileExists(atPath: target + ".reason")
        {
            suffix += 1
            target = folder + "/" + name + ".\(suffix)"
        }
        // rename(2) within a file system; no replacing: the name was checked free just now, and link+unlink would
        // refuse a name taken in between.
        guard link(path, target) == 0 else {
            throw HotFolderError("cannot move \(path) to \(target): \(String(cString: strerror(errno)))")
        }
        unlink(path)
        return target
    }
}

struct HotFolderError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The hot folders' loop: scans when inotify reports a change in a watched folder, and every two seconds.
struct HotFolderLoop: Service {
    let folders: HotFolders
    let paths: [String]
    let logger: Logger

    func run() async throws {
        let wakeup = Wakeup()
        let watcher = InotifyWatcher(paths: paths, logger: logger) { Task { await wakeup.wake() } }
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await folders.scan()
                await wakeup.pause(.seconds(2))
            }
        }
        watcher.stop()
    }
}

/// inotify on a thread of its own: calls `changed` when a file is closed after writing, moved in, or created
/// in one of the folders. Where inotify is missing (or a watch cannot be added), the scan alone goes on.
final class InotifyWatcher: @unchecked Sendable {
    private let descriptor: Int32
    private var stopped = false
    private let lock = NSLock()

    init(paths: [String], logger: Logger, changed: @escaping @Sendable () -> Void) {
        descriptor = inotify_init1(Int32(IN_CLOEXEC))
        guard descriptor >= 0 else {
            logger.notice("inotify is not available; hot folders are scanned every 2 s")
            return
        }
        let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_ATTRIB | IN_DELETE)
        for path in paths where inotify_add_watch(descriptor, path, mask) < 0 {
            logger.notice(
                "inotify cannot watch this folder; it is scanned every 2 s",
                metadata: ["folder": "\(path)", "error": "\(String(cString: strerror(errno)))"]
            )
        }
        let descriptor = self.descriptor
        Thread.detachNewThread { [self] in
            var buffer = [UInt8](repeating: 0, count: 4096)
            while !isStopped {
                var poll = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
                guard Glibc.poll(&poll, 1, 500) > 0 else { continue }
                guard read(descriptor, &buffer, buffer.count) > 0 else { continue }
                changed()
            }
            close(descriptor)
        }
    }

    private var isStopped: Bool { lock.withLock { stopped } }

    func stop() {
        lock.withLock { stopped = true }
    }
}
