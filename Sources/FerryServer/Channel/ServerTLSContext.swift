import FerryProtocol
public import FerryTLS
import FerryTrace
public import Foundation
import NIOConcurrencyHelpers
public import NIOSSL

/// The receive side's loaded TLS context. Each new connection takes the current one; a reload builds a new
/// context from the same profile and swaps it in, so connections in flight keep the one they started with.
/// A reload that fails leaves the old context in use.
public final class ServerTLSContext: Sendable {
    public let profile: ServerTLSProfile
    let keyLog: NIOSSLKeyLogCallback?
    private let state: NIOLockedValueBox<State>

    struct State {
        var tls: ResolvedServerTLS
        /// The files' identities when last loaded (or last tried), to notice changes.
        var stamps: [String: FileStamp?]
        var generation: Int
    }

    /// Loads the profile; every problem is a `TLSSetupError` naming the file.
    public init(profile: ServerTLSProfile, keyLog: NIOSSLKeyLogCallback? = nil) throws(TLSSetupError) {
        self.profile = profile
        self.keyLog = keyLog
        let tls = try profile.makeConfiguration(keyLog: keyLog)
        state = NIOLockedValueBox(State(tls: tls, stamps: Self.stamps(tls.files), generation: 1))
    }

    /// The context new connections use.
    public var current: ResolvedServerTLS { state.withLockedValue { $0.tls } }

    /// The context new connections use, with its generation.
    public var currentWithGeneration: (ResolvedServerTLS, Int) { state.withLockedValue { ($0.tls, $0.generation) } }

    /// How many contexts have been loaded (1 at start).
    public var generation: Int { state.withLockedValue { $0.generation } }

    /// Whether a watched file changed since the last load or attempt.
    public var filesChanged: Bool {
        diskStamps != state.withLockedValue { $0.stamps }
    }

    /// The watched files as they are on disk now.
    var diskStamps: [String: FileStamp?] { Self.stamps(current.files) }

    /// Builds a new context from the files and swaps it in; on failure the old one stays and the error is
    /// returned. Either way the files' current state counts as seen.
    @discardableResult
    public func reload(now: Date = .now) -> Result<ResolvedServerTLS, TLSSetupError> {
        let files = current.files
        do {
            let tls = try profile.makeConfiguration(now: now, keyLog: keyLog)
            state.withLockedValue {
                $0.tls = tls
                $0.stamps = Self.stamps(tls.files)
                $0.generation += 1
            }
            return .success(tls)
        } catch {
            state.withLockedValue { $0.stamps = Self.stamps(files) }
            return .failure(error)
        }
    }

    /// Each file's stamp, `nil` for a file that cannot be read (its return counts as a change).
    static func stamps(_ files: [String]) -> [String: FileStamp?] {
        Dictionary(files.map { ($0, FileStamp(path: $0)) }, uniquingKeysWith: { first, _ in first })
    }
}
