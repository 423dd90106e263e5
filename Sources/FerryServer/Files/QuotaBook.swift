import FerryConfig
import FerryLedger
import FerryProtocol
import Foundation
import HTTPTypes
import NIOConcurrencyHelpers
import NIOPosix

#if canImport(Glibc)
import Glibc
import CoreFoundation
#endif

/// What each partner keeps in its home area (bytes, files) and has open as resumable uploads, against its quota.
///
/// A home's files are counted once, by walking the folder (or listing the bucket), the first time a limit on them
/// matters; after that the count follows Ferry's own commits and deletions, and an upload that would go over is
/// checked again against a fresh count before it is refused (files removed by other means, such as a partner's
/// own post-processing, are then seen). Uploads in flight hold their size until they are committed or dropped, and
/// a resumable upload holds its whole length from its creation, so concurrent uploads cannot overshoot together.
/// Areas whose first folder is not a partner's home (shared folders) have no quota.
///
/// The counts and holds are kept by `accounts`: in memory for one node, in the shared database when several nodes
/// serve one bucket, where each decision on a home holds that home's lock on every node (docs/scaling.md).
final class QuotaBook: Sendable {
    private let root: String
    /// Counts a home's files (the local folder's walk, or an object store's listing).
    private let counter: @Sendable (String) async throws -> QuotaUsage
    private let quotaFor: @Sendable (String) -> FerryConfiguration.Quota
    private let configuredPartners: Set<String>
    private let accounts: any QuotaAccounts
    private let local = NIOLockedValueBox(Local())

    private struct Local {
        /// This node's holds: single requests' reservations and the resumable uploads it knows.
        var holds: [String: QuotaHold] = [:]
        /// What each home was last seen to hold with its uploads in progress (for `mightFit`).
        var seen: [String: QuotaUsage] = [:]
        /// Homes whose count may have missed a commit (the accounts did not take a release): counted again
        /// before their next decision.
        var stale: Set<String> = []
    }

    /// Single-request uploads being received now, and resumable uploads open.
    var inFlight: (receiving: Int, open: Int) {
        local.withLockedValue { local in
            let resumable = local.holds.values.filter(\.resumable).count
            return (local.holds.count - resumable, resumable)
        }
    }

    /// A reservation for one upload in flight; settled when it is committed or dropped.
    struct Reservation: Sendable {
        fileprivate let id: String
        let owner: String
    }

    init(
        root: String,
        configuration: FerryConfiguration,
        accounts: any QuotaAccounts = LocalQuotaAccounts(),
        counter: (@Sendable (String) async throws -> QuotaUsage)? = nil
    ) {
        self.root = root
        self.accounts = accounts
        self.counter =
            counter ?? { owner in
                let home = root + "/" + owner
                return try await NIOThreadPool.singleton.runIfActive { QuotaBook.count(home) }
            }
        let configured = configuration
        self.quotaFor = { configured.quota(for: $0) }
        self.configuredPartners = Set(configuration.partners.keys.map { $0.lowercased() })
    }

    /// The partner whose home `target` is in, when that home has a limit on bytes or files.
    func owner(of target: AccessPolicy.Target, caller: String) -> String? {
        guard let first = target.rootRelative.split(separator: "/").first.map({ $0.lowercased() }) else { return nil }
        guard first == caller.lowercased() || configuredPartners.contains(first) else { return nil }
        let quota = quotaFor(first)
        return quota.bytes != nil || quota.files != nil ? first : nil
    }

    /// Admits an upload of `bytes` into `target` (replacing a file of `replacing` bytes, if one is there), or
    /// throws the quota it would break. `nil` when no quota applies.
    func admit(
        _ target: AccessPolicy.Target,
        caller: String,
        bytes: Int64,
        replacing: Int64?
    ) async throws -> Reservation? {
        guard let owner = owner(of: target, caller: caller) else { return nil }
        let hold = QuotaHold(
            id: UUID().uuidString,
            owner: owner,
            partner: caller,
            bytes: bytes - (replacing ?? 0),
            files: replacing == nil ? 1 : 0,
            resumable: false
        )
        try await decide(hold, size: bytes)
        return Reservation(id: hold.id, owner: owner)
    }

    /// A quick answer for `Expect: 100-continue`, from what this node last saw of the home (no count, no
    /// database): false only when that says the upload cannot fit.
    func mightFit(_ target: AccessPolicy.Target, caller: String, bytes: Int64) -> Bool {
        guard let owner = owner(of: target, caller: caller) else { return true }
        let hold = QuotaHold(id: "", owner: owner, partner: caller, bytes: bytes, files: 1, resumable: false)
        guard let seen = local.withLockedValue({ $0.seen[owner] }) else { return true }
        return Self.breach(of: hold, quota: quotaFor(owner), used: seen) == nil
    }

    /// Ends a reservation: `committed` gives what the commit changed in the home (bytes added, less a replaced
    /// file's; a new file or not), nil when nothing was stored.
    func settle(_ reservation: Reservation?, committed: (bytes: Int64, newFile: Bool)?) async {
        guard let reservation else { return }
        await release(reservation.id, committed: committed)
    }

    /// Opens a resumable upload: refused when the partner has its limit of open uploads, or when its length does
    /// not fit in the home's quota; the length stays held until `closeUpload`.
    func openUpload(_ id: String, target: AccessPolicy.Target, caller: String, length: Int64) async throws {
        try await decide(resumableHold(id, target: target, caller: caller, length: length), size: length)
    }

    /// A resumable upload known from before a restart.
    func restoreUpload(_ id: String, target: AccessPolicy.Target, caller: String, length: Int64) async throws {
        let hold = resumableHold(id, target: target, caller: caller, length: length)
        local.withLockedValue { $0.holds[id] = hold }
        try await accounts.restore(hold)
    }

    /// A resumable upload holds its whole length and one file from its creation.
    private func resumableHold(_ id: String, target: AccessPolicy.Target, caller: String, length: Int64) -> QuotaHold {
        QuotaHold(
            id: id,
            owner: owner(of: target, caller: caller),
            partner: caller,
            bytes: length,
            files: 1,
            resumable: true
        )
    }

    /// At startup, before `restoreUpload`: holds left by this node's previous run, and by uploads that are gone, go.
    func startFresh(uploads: Set<String>) async throws {
        try await accounts.startFresh(uploads: uploads)
    }

    /// Ends a resumable upload: committed (with what the commit changed, as for `settle`), cancelled or expired.
    func closeUpload(_ id: String, committed: (bytes: Int64, newFile: Bool)? = nil) async {
        await release(id, committed: committed)
    }

    /// Removes a file or folder from a home for a partner's DELETE: `remove` runs holding the home's lock, so that
    /// no count is taken between the removal and its record; it returns the bytes of the file it removed (nil for
    /// a folder).
    func removing(
        _ target: AccessPolicy.Target,
        caller: String,
        _ remove: @escaping @Sendable () async throws -> Int64?
    ) async throws {
        guard let owner = owner(of: target, caller: caller) else {
            _ = try await remove()
            return
        }
        let removed = try await unavailableAsProblem {
            try await self.accounts.deciding([Self.homeKey(owner)]) { decision in
                guard let bytes = try await remove() else { return nil as QuotaUsage? }
                let change = QuotaUsage(bytes: -bytes, files: -1)
                try await decision.add(owner, change)
                return change
            }
        }
        if let removed { local.withLockedValue { Self.see(removed, in: owner, &$0) } }
    }

    // MARK: Deciding

    static func homeKey(_ owner: String) -> String { "home:" + owner }
    static func uploadsKey(_ partner: String) -> String { "uploads:" + partner.lowercased() }

    private enum Outcome: Sendable {
        case admitted(seen: QuotaUsage?)
        case refused(ProblemError, seen: QuotaUsage?)
    }

    /// Admits `hold` (of an upload of `size` bytes) holding the locks of its home and, for a resumable upload, of
    /// its partner's uploads, or throws the quota it would break.
    private func decide(_ hold: QuotaHold, size: Int64) async throws {
        let owner = hold.owner
        let quota = owner.map(quotaFor)
        if let owner, let bytes = quota?.bytes, size > bytes {
            throw Self.problem(
                quota: "bytes",
                status: .contentTooLarge,
                limit: bytes,
                used: 0,
                needed: size,
                detail: "this file (\(size) bytes) is larger than \(owner)'s whole quota of \(bytes) bytes"
            )
        }
        let uploadLimit = hold.resumable ? quotaFor(hold.partner).uploads : nil
        var keys: [String] = []
        if let owner { keys.append(Self.homeKey(owner)) }
        if uploadLimit != nil { keys.append(Self.uploadsKey(hold.partner)) }
        let outcome = try await unavailableAsProblem {
            try await self.accounts.deciding(keys) { decision in
                if let limit = uploadLimit {
                    let open = try await decision.openUploads(of: hold.partner)
                    if open >= limit {
                        return Outcome.refused(
                            Self.problem(
                                quota: "uploads",
                                status: .tooManyRequests,
                                limit: Int64(limit),
                                used: Int64(open),
                                needed: 1,
                                detail:
                                    "\(hold.partner) has \(open) resumable uploads open, its limit; finish or cancel (DELETE) one, or wait for unused ones to expire"
                            ),
                            seen: nil
                        )
                    }
                }
                var used: QuotaUsage?
                if let owner, let quota {
                    var counted = false
                    let stale = self.local.withLockedValue { $0.stale.remove(owner) != nil }
                    let known = try await decision.stored(owner) != nil
                    if stale || !known {
                        try await self.recount(owner, in: decision)
                        counted = true
                    }
                    while true {
                        let stored = try await decision.stored(owner) ?? .zero
                        let pending = try await decision.pending(owner)
                        let now = QuotaUsage(bytes: stored.bytes + pending.bytes, files: stored.files + pending.files)
                        used = now
                        guard let breach = Self.breach(of: hold, quota: quota, used: now) else { break }
                        // Before refusing, count again: files may have been removed by other means since the last count.
                        guard counted else {
                            try await self.recount(owner, in: decision)
                            counted = true
                            continue
                        }
                        return Outcome.refused(breach.problem(owner: owner), seen: now)
                    }
                }
                try await decision.hold(hold)
                // Recorded before the lock is let go: a count that comes next knows this hold is live.
                self.local.withLockedValue { $0.holds[hold.id] = hold }
                return Outcome.admitted(
                    seen: used.map { QuotaUsage(bytes: $0.bytes + max(0, hold.bytes), files: $0.files + hold.files) }
                )
            }
        }
        switch outcome {
        case .admitted(let seen):
            if let owner, let seen { local.withLockedValue { $0.seen[owner] = seen } }
        case .refused(let problem, let seen):
            if let owner, let seen { local.withLockedValue { $0.seen[owner] = seen } }
            throw problem
        }
    }

    /// The shared database's failure as 503 `storage-unavailable` (a client retries it later).
    private func unavailableAsProblem<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as LedgerError {
            throw ProblemError(StorageError.unavailable("count the quota", error.description))
        }
    }

    /// Counts a home afresh, holding its lock: this node's holds of single requests that are no longer live were
    /// committed (or dropped) without their release reaching the accounts, and go.
    private func recount(_ owner: String, in decision: any QuotaDecision) async throws {
        let counted = try await counter(owner)
        let live = local.withLockedValue { Set($0.holds.keys) }
        try await decision.recounted(owner, counted, live: live)
    }

    /// Drops a hold (this node's or another's: a resumable upload may be finished on any node), adding what its
    /// commit changed to its home; when the accounts cannot take it, the home is counted again before this node's
    /// next decision on it (the hold stays counted until then).
    private func release(_ id: String, committed: (bytes: Int64, newFile: Bool)?) async {
        let hold = local.withLockedValue { $0.holds[id] }
        let change = committed.map { QuotaUsage(bytes: $0.bytes, files: $0.newFile ? 1 : 0) }
        var owner = hold?.owner
        do {
            owner = try await accounts.release(id, change: change) ?? owner
        } catch {
            if let owner { _ = local.withLockedValue { $0.stale.insert(owner) } }
        }
        local.withLockedValue { local in
            local.holds[id] = nil
            guard let owner else { return }
            let held = hold.map { QuotaUsage(bytes: max(0, $0.bytes), files: $0.files) } ?? .zero
            let change = change ?? .zero
            Self.see(QuotaUsage(bytes: change.bytes - held.bytes, files: change.files - held.files), in: owner, &local)
        }
    }

    private static func see(_ change: QuotaUsage, in owner: String, _ local: inout Local) {
        guard var seen = local.seen[owner] else { return }
        seen.bytes = max(0, seen.bytes + change.bytes)
        seen.files = max(0, seen.files + change.files)
        local.seen[owner] = seen
    }

    private struct Breach {
        let quota: String
        let limit: Int64
        let used: Int64
        let needed: Int64

        func problem(owner: String) -> ProblemError {
            let remaining = max(0, limit - used)
            let what = quota == "bytes" ? "bytes" : "files"
            return QuotaBook.problem(
                quota: quota,
                status: .init(code: 507),
                limit: limit,
                used: used,
                needed: needed,
                detail:
                    "\(owner)'s home holds \(used) of its \(limit) \(what) (with uploads in progress); \(remaining) remain and this upload needs \(needed); remove files or ask the operator to raise partners.\(owner).quota.\(quota)"
            )
        }
    }

    private static func breach(of hold: QuotaHold, quota: FerryConfiguration.Quota, used: QuotaUsage) -> Breach? {
        if let limit = quota.bytes, hold.bytes > 0, used.bytes + hold.bytes > limit {
            return Breach(quota: "bytes", limit: limit, used: used.bytes, needed: hold.bytes)
        }
        if let limit = quota.files, hold.files > 0, used.files + hold.files > limit {
            return Breach(quota: "files", limit: Int64(limit), used: Int64(used.files), needed: Int64(hold.files))
        }
        return nil
    }

    // MARK: Counting

    static func count(_ folder: String) -> QuotaUsage {
        let descriptor = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { return .zero }
        let (bytes, files) = count(descriptor: descriptor)
        return QuotaUsage(bytes: bytes, files: files)
    }

    /// Counts under an open folder (and closes it).
    private static func count(descriptor: Int32) -> (bytes: Int64, files: Int) {
        guard let directory = fdopendir(descriptor) else {
            close(descriptor)
            return (0, 0)
        }
        defer { closedir(directory) }
        var total: (bytes: Int64, files: Int) = (0, 0)
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            var info = stat()
            guard fstatat(dirfd(directory), name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            switch info.st_mode & S_IFMT {
            case S_IFREG:
                total.bytes += Int64(info.st_size)
                total.files += 1
            case S_IFDIR:
                let child = openat(dirfd(directory), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                if child >= 0 {
                    let inner = count(descriptor: child)
                    total.bytes += inner.bytes
                    total.files += inner.files
                }
            default:
                continue
            }
        }
        return total
    }

    static func problem(
        quota: String,
        status: HTTPResponse.Status,
        limit: Int64,
        used: Int64,
        needed: Int64,
        detail: String
    ) -> ProblemError {
        var problem = ProblemError(.quotaExceeded, status: status, detail: detail)
        problem.quota = Problem.QuotaState(
            name: quota,
            limit: limit,
            used: used,
            remaining: max(0, limit - used),
            needed: needed
        )
        return problem
    }
}
