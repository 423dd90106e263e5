import FerryConfig
import NIOConcurrencyHelpers
import SwiftASN1
import X509

/// The chains BoringSSL verified, kept by the client certificate, so that a resumed TLS session (where BoringSSL
/// verifies nothing) carries the chain its first handshake verified; and their CAs, parsed once per chain.
/// Cleared when the TLS context is reloaded: a resumed session never crosses a reload (each context has its own
/// session keys).
final class VerifiedChains: Sendable {
    private struct State {
        var generation = 0
        /// By the client certificate (DER): the whole verified chain, anchor first.
        var byLeaf: [[UInt8]: [[UInt8]]] = [:]
        /// By the CA part of a chain (DER).
        var authorities: [[[UInt8]]: Set<AuthorityKey>] = [:]
    }

    private let state = NIOLockedValueBox(State())
    private static let capacity = 4096

    private func current(_ state: inout State, generation: Int) {
        if state.generation != generation || state.byLeaf.count >= Self.capacity
            || state.authorities.count >= Self.capacity
        {
            state = State()
            state.generation = generation
        }
    }

    /// Remembers the chain of a full handshake, or returns the remembered one for a resumed session (empty when
    /// none is known: then no CA can be shown, and bindings that need one fail closed).
    func chain(leaf: [UInt8], verified: [[UInt8]], generation: Int) -> [[UInt8]] {
        state.withLockedValue { state in
            current(&state, generation: generation)
            guard verified.isEmpty else {
                state.byLeaf[leaf] = verified
                return verified
            }
            return state.byLeaf[leaf] ?? []
        }
    }

    /// The CAs of a verified chain (anchor first, the client's own certificate last).
    func authorities(of chain: [[UInt8]], generation: Int) -> Set<AuthorityKey> {
        let cas = Array(chain.dropLast())
        guard !cas.isEmpty else { return [] }
        return state.withLockedValue { state in
            current(&state, generation: generation)
            if let known = state.authorities[cas] { return known }
            let parsed = Set(cas.compactMap { try? Certificate(derEncoded: $0) }.map(AuthorityKey.init))
            state.authorities[cas] = parsed
            return parsed
        }
    }
}
