public import Foundation
import NIOConcurrencyHelpers

/// What a partner's home holds, or what uploads in progress hold in it.
public struct QuotaUsage: Sendable, Equatable {
    public var bytes: Int64
    public var files: Int

    public init(bytes: Int64, files: Int) {
        self.bytes = bytes
        self.files = files
    }

    public static let zero = QuotaUsage(bytes: 0, files: 0)
}

/// Room held in a home by an upload in progress, until it is committed or dropped.
public struct QuotaHold: Sendable, Equatable {
    /// A single request's reservation, or a resumable upload's id.
    public let id: String
    /// The home the bytes go to (lower-cased partner name), nil in an area without a quota.
    public let owner: String?
    /// The partner that uploads (lower-cased): its open resumable uploads are counted.
    public let partner: String
    /// Bytes it adds (negative when it replaces a larger file).
    public let bytes: Int64
    public let files: Int
    /// A resumable upload's: it outlives the request and the node (any node may finish it).
    public let resumable: Bool

    public init(id: String, owner: String?, partner: String, bytes: Int64, files: Int, resumable: Bool) {
        self.id = id
        self.owner = owner
        self.partner = partner.lowercased()
        self.bytes = bytes
        self.files = files
        self.resumable = resumable
    }
}

/// The accounts one quota decision reads and writes, while it holds the lock of its home (or partner).
public protocol QuotaDecision: Sendable {
    /// What the home holds, as last counted (nil: never counted).
    func stored(_ owner: String) async throws -> QuotaUsage?
    /// Sets a fresh count of the home, which already includes the files of this node's holds outside `live`:
    /// those holds go (they were committed, and their release did not reach the accounts).
    func recounted(_ owner: String, _ usage: QuotaUsage, live: Set<String>) async throws
    /// What the holds in the home add up to (bytes of holds that add bytes, files).
    func pending(_ owner: String) async throws -> QuotaUsage
    /// The partner's open resumable uploads.
    func openUploads(of partner: String) async throws -> Int
    func hold(_ hold: QuotaHold) async throws
    /// Adds `change` to what the home holds, when it has been counted.
    func add(_ owner: String, _ change: QuotaUsage) async throws
}

/// Where quotas are counted: in this process (one node), or in the shared database, so that nodes serving one
/// bucket admit uploads against one count (docs/scaling.md). Decisions on one home take turns on every node.
public protocol QuotaAccounts: Sendable {
    /// Runs `decide` holding the locks named `keys` (homes, partners) against every other decision on them.
    func deciding<T: Sendable>(
        _ keys: [String],
        _ decide: @escaping @Sendable (any QuotaDecision) async throws -> T
    ) async throws -> T
    /// Drops a hold (whichever node took it) and adds what its commit changed to its home's count, in one step;
    /// returns that home (nil: no such hold, or one outside any quota).
    @discardableResult
    func release(_ id: String, change: QuotaUsage?) async throws -> String?
    /// Takes a resumable upload's hold again (after a restart); nothing when it is there.
    func restore(_ hold: QuotaHold) async throws
    /// At startup: drops this node's holds of single requests (they died with it), and holds of resumable uploads
    /// that no longer exist (not in `uploads`, created over an hour ago).
    func startFresh(uploads: Set<String>) async throws
}

/// The accounts of one node, in memory.
public final class LocalQuotaAccounts: QuotaAccounts {
    private struct State {
        var stored: [String: QuotaUsage] = [:]
        var holds: [String: QuotaHold] = [:]
    }
    private let state = NIOLockedValueBox(State())
    private let locks = LocalNamedLocks()

    public init() {}

    public func deciding<T: Sendable>(
        _ keys: [String],
        _ decide: @escaping @Sendable (any QuotaDecision) async throws -> T
    ) async throws -> T {
        let state = self.state
        return try await locks.withLocks(exclusive: keys) { try await decide(View(state: state)) }
    }

    @discardableResult
    public func release(_ id: String, change: QuotaUsage?) async throws -> String? {
        state.withLockedValue { state in
            guard let owner = state.holds.removeValue(forKey: id)?.owner else { return nil }
            if let change { Self.add(change, to: owner, in: &state) }
            return owner
        }
    }

    private static func add(_ change: QuotaUsage, to owner: String, in state: inout State) {
        guard var stored = state.stored[owner] else { return }
        stored.bytes = max(0, stored.bytes + change.bytes)
        stored.files = max(0, stored.files + change.files)
        state.stored[owner] = stored
    }

    public func restore(_ hold: QuotaHold) async throws {
        state.withLockedValue { state in
            if state.holds[hold.id] == nil { state.holds[hold.id] = hold }
        }
    }

    public func startFresh(uploads: Set<String>) async throws {}

    private struct View: QuotaDecision {
        let state: NIOLockedValueBox<State>

        func stored(_ owner: String) async throws -> QuotaUsage? { state.withLockedValue { $0.stored[owner] } }

        func recounted(_ owner: String, _ usage: QuotaUsage, live: Set<String>) async throws {
            state.withLockedValue { state in
                state.stored[owner] = usage
                state.holds = state.holds.filter {
                    $0.value.resumable || $0.value.owner != owner || live.contains($0.key)
                }
            }
        }

        func pending(_ owner: String) async throws -> QuotaUsage {
            state.withLockedValue { state in
                state.holds.values.filter { $0.owner == owner }.reduce(.zero) {
                    QuotaUsage(bytes: $0.bytes + max(0, $1.bytes), files: $0.files + $1.files)
                }
            }
        }

        func openUploads(of partner: String) async throws -> Int {
            let partner = partner.lowercased()
            return state.withLockedValue { $0.holds.values.filter { $0.resumable && $0.partner == partner }.count }
        }

        func hold(_ hold: QuotaHold) async throws { state.withLockedValue { $0.holds[hold.id] = hold } }

        func add(_ owner: String, _ change: QuotaUsage) async throws {
            state.withLockedValue { LocalQuotaAccounts.add(change, to: owner, in: &$0) }
        }
    }
}
