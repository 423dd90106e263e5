import FerryConfig
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
/// A home's files are counted once, by walking the folder, the first time a limit on them matters; after that
/// the count follows Ferry's own commits and deletions, and an upload that would go over is checked again
/// against a fresh count before it is refused (files removed by other means, such as a partner's own
/// post-processing, are then seen). Uploads in flight hold their size until they are committed or dropped, and
/// a resumable upload holds its whole length from its creation, so concurrent uploads cannot overshoot together.
/// Areas whose first folder is not a partner's home (shared folders) have no quota.
final class QuotaBook: Sendable {
    private let root: String
    /// Counts a home's files (the local folder's walk, or an object store's listing).
    private let counter: @Sendable (String) async throws -> (bytes: Int64, files: Int)
    private let quotaFor: @Sendable (String) -> FerryConfiguration.Quota
    private let configuredPartners: Set<String>
    private let state = NIOLockedValueBox(State())

    /// Single-request uploads being received now, and resumable uploads open.
    var inFlight: (receiving: Int, open: Int) { state.withLockedValue { ($0.held.count, $0.uploads.count) } }

    private struct State {
        /// Counted homes (lower-cased partner name): bytes and files committed there.
        var stored: [String: (bytes: Int64, files: Int)] = [:]
        /// Reservations of uploads in flight.
        var held: [UUID: Hold] = [:]
        /// Open resumable uploads by id.
        var uploads: [String: Hold] = [:]
    }

    struct Hold: Sendable {
        /// The home the bytes go to (lower-cased), or nil for an area without a quota.
        let owner: String?
        /// The partner that uploads.
        let partner: String
        let bytes: Int64
        let files: Int
    }

    /// A reservation for one upload in flight; settled when it is committed or dropped.
    struct Reservation: Sendable {
        fileprivate let id: UUID
        let owner: String
    }

    init(
        root: String,
        configuration: FerryConfiguration,
        counter: (@Sendable (String) async throws -> (bytes: Int64, files: Int))? = nil
    ) {
        self.root = root
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
        let hold = Hold(owner: owner, partner: caller, bytes: bytes - (replacing ?? 0), files: replacing == nil ? 1 : 0)
        let id = UUID()
        try await admit(hold, size: bytes) { $0.held[id] = hold }
        return Reservation(id: id, owner: owner)
    }

    /// A quick answer for `Expect: 100-continue`, from the counts already known (no walk of a folder): false only
    /// when they say the upload cannot fit.
    func mightFit(_ target: AccessPolicy.Target, caller: String, bytes: Int64) -> Bool {
        guard let owner = owner(of: target, caller: caller) else { return true }
        let hold = Hold(owner: owner, partner: caller, bytes: bytes, files: 1)
        return state.withLockedValue { state in
            guard state.stored[owner] != nil else { return true }
            return Self.breach(of: hold, size: bytes, quota: quotaFor(owner), in: state) == nil
        }
    }

    /// Ends a reservation: `committed` gives what the commit changed in the home (bytes added, less a replaced
    /// file's; a new file or not), nil when nothing was stored.
    func settle(_ reservation: Reservation?, committed: (bytes: Int64, newFile: Bool)?) {
        guard let reservation else { return }
        state.withLockedValue { state in
            state.held[reservation.id] = nil
            if let committed { Self.add(committed, to: reservation.owner, in: &state) }
        }
    }

    /// Opens a resumable upload: refused when the partner has its limit of open uploads, or when its length does
    /// not fit in the home's quota; the length stays held until `closeUpload`.
    func openUpload(_ id: String, target: AccessPolicy.Target, caller: String, length: Int64) async throws {
        let limit = quotaFor(caller).uploads ?? .max
        let open = state.withLockedValue { state in
            state.uploads.values.filter { $0.partner.lowercased() == caller.lowercased() }.count
        }
        if open >= limit {
            throw Self.problem(
                quota: "uploads",
                status: .tooManyRequests,
                limit: Int64(limit),
                used: Int64(open),
                needed: 1,
                detail:
                    "\(caller) has \(open) resumable uploads open, its limit; finish or cancel (DELETE) one, or wait for unused ones to expire"
            )
        }
        let owner = owner(of: target, caller: caller)
        let hold = Hold(owner: owner, partner: caller, bytes: length, files: 1)
        if owner != nil {
            try await admit(hold, size: length) { $0.uploads[id] = hold }
        } else {
            state.withLockedValue { $0.uploads[id] = hold }
        }
    }

    /// A resumable upload known from before a restart.
    func restoreUpload(_ id: String, target: AccessPolicy.Target, caller: String, length: Int64) {
        let hold = Hold(owner: owner(of: target, caller: caller), partner: caller, bytes: length, files: 1)
        state.withLockedValue { $0.uploads[id] = hold }
    }

    /// Ends a resumable upload: committed (with what the commit changed, as for `settle`), cancelled or expired.
    func closeUpload(_ id: String, committed: (bytes: Int64, newFile: Bool)? = nil) {
        state.withLockedValue { state in
            guard let hold = state.uploads.removeValue(forKey: id) else { return }
            if let committed, let owner = hold.owner { Self.add(committed, to: owner, in: &state) }
        }
    }

    /// A file or folder removed from a home by a partner's DELETE.
    func removed(_ target: AccessPolicy.Target, caller: String, bytes: Int64) {
        guard let owner = owner(of: target, caller: caller) else { return }
        state.withLockedValue { Self.add((-bytes, false), to: owner, in: &$0, removedFile: true) }
    }

    // MARK: Counting

    private func admit(_ hold: Hold, size: Int64, record: (inout State) -> Void) async throws {
        guard let owner = hold.owner else { return }
        let quota = quotaFor(owner)
        if let bytes = quota.bytes, size > bytes {
            throw Self.problem(
                quota: "bytes",
                status: .contentTooLarge,
                limit: bytes,
                used: 0,
                needed: size,
                detail: "this file (\(size) bytes) is larger than \(owner)'s whole quota of \(bytes) bytes"
            )
        }
        var counted = false
        if state.withLockedValue({ $0.stored[owner] == nil }) {
            try await recount(owner)
            counted = true
        }
        while true {
            let breach: Breach? = state.withLockedValue { state in
                if let breach = Self.breach(of: hold, size: size, quota: quota, in: state) { return breach }
                record(&state)
                return nil
            }
            guard let breach else { return }
            // Before refusing, count again: files may have been removed by other means since the last count.
            guard !counted else { throw breach.problem(owner: owner) }
            try await recount(owner)
            counted = true
        }
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

    private static func breach(of hold: Hold, size: Int64, quota: FerryConfiguration.Quota, in state: State) -> Breach?
    {
        guard let owner = hold.owner, let stored = state.stored[owner] else { return nil }
        let pending = state.held.values.filter { $0.owner == owner } + state.uploads.values.filter { $0.owner == owner }
        let bytesUsed = stored.bytes + pending.reduce(0) { $0 + max(0, $1.bytes) }
        let filesUsed = stored.files + pending.reduce(0) { $0 + $1.files }
        if let limit = quota.bytes, hold.bytes > 0, bytesUsed + hold.bytes > limit {
            return Breach(quota: "bytes", limit: limit, used: bytesUsed, needed: hold.bytes)
        }
        if let limit = quota.files, hold.files > 0, filesUsed + hold.files > limit {
            return Breach(quota: "files", limit: Int64(limit), used: Int64(filesUsed), needed: Int64(hold.files))
        }
        return nil
    }

    private static func add(
        _ change: (bytes: Int64, newFile: Bool),
        to owner: String,
        in state: inout State,
        removedFile: Bool = false
    ) {
        guard var stored = state.stored[owner] else { return }
        stored.bytes = max(0, stored.bytes + change.bytes)
        stored.files = max(0, stored.files + (change.newFile ? 1 : 0) - (removedFile ? 1 : 0))
        state.stored[owner] = stored
    }

    /// Counts the regular files under a home, without following links, on NIO's thread pool.
    private func recount(_ owner: String) async throws {
        let counted = try await counter(owner)
        state.withLockedValue { $0.stored[owner] = counted }
    }

    static func count(_ folder: String) -> (bytes: Int64, files: Int) {
        let descriptor = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { return (0, 0) }
        return count(descriptor: descriptor)
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
