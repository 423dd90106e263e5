import FerryConfig
import NIOConcurrencyHelpers
import SwiftASN1
import X509

/// The CAs of verified chains, parsed once per chain and remembered by the client certificate, so that a resumed
/// TLS session (where BoringSSL verifies nothing) still has the chain its first handshake verified. Cleared when
/// the TLS context is reloaded; a resumed session never crosses a reload (each context has its own session keys).
final class VerifiedChains: Sendable {
    private struct State {
        var generation = 0
        /// By the CA part of the chain (DER), so each chain is parsed once.
        var parsed: [[[UInt8]]: Set<AuthorityKey>] = [:]
        /// By the client certificate (DER), for resumed sessions.
        var byLeaf: [[UInt8]: Set<AuthorityKey>] = [:]
    }

    private let state = NIOLockedValueBox(State())
    private static let capacity = 4096

    /// The CAs of the chain (anchor first, leaf last); remembers them, or recalls them when the chain is empty.
    func authorities(leaf: [UInt8], chain: [[UInt8]], generation: Int) -> Set<AuthorityKey> {
        let cas = Array(chain.dropLast())
        return state.withLockedValue { state in
            if state.generation != generation || state.byLeaf.count >= Self.capacity || state.parsed.count >= Self.capacity {
                state = State()
                state.generation = generation
            }
            guard !cas.isEmpty else { return state.byLeaf[leaf] ?? [] }
            let authorities = state.parsed[cas] ?? Set(cas.compactMap { try? Certificate(derEncoded: $0) }.map(AuthorityKey.init))
            state.parsed[cas] = authorities
            state.byLeaf[leaf] = authorities
            return authorities
        }
    }
}
