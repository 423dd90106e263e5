import FerryConfig
import FerryTLS
import FerryTrace
import Logging
import NIOCore
import SwiftASN1
import X509

/// After a reload, closes the open connections whose client certificate the new context would refuse: the
/// trust anchor of its verified chain is no longer trusted, or a new CRL revokes a certificate of the chain.
/// Connections the new context still accepts keep going (a certificate renewal interrupts no transfer).
struct ConnectionRevalidation: Sendable {
    let registry: ConnectionRegistry
    let owner: ServerTLSContext
    let logger: Logger

    /// Checks every open connection of this server against `tls`; returns how many were closed.
    @discardableResult
    func run(with tls: ResolvedServerTLS) -> Int {
        let trusted = Set(tls.trustedCertificates.map { AuthorityKey($0.certificate) })
        var closed = 0
        for (channel, record) in registry.connections(of: owner) {
            let snapshot = record.snapshot
            guard let leaf = snapshot.peerCertificateDER else { continue }
            let chain = snapshot.verifiedChainDER.compactMap { try? Certificate(derEncoded: $0) }
            guard let reason = Self.refusal(chain: chain, trusted: trusted, revocation: tls.peerPolicy.revocation)
            else { continue }
            let identity = PeerIdentity.cached(derEncoded: leaf)
            logger.warning(
                "closing a connection whose client certificate the reloaded TLS context refuses",
                metadata: [
                    "subject": "\(identity?.subject ?? "?")", "serial": "\(identity?.serial ?? "?")",
                    "reason": "\(reason)",
                ]
            )
            channel.close(promise: nil)
            closed += 1
        }
        return closed
    }

    /// Why the chain (anchor first) is no longer acceptable, or `nil`.
    static func refusal(chain: [Certificate], trusted: Set<AuthorityKey>, revocation: RevocationCheck?) -> String? {
        guard let anchor = chain.first else { return "the chain its handshake verified is not known" }
        guard trusted.contains(AuthorityKey(anchor)) else {
            return "its trust anchor \(anchor.subject) is no longer among the trusted CAs"
        }
        if let revocation {
            for (issuer, certificate) in zip(chain, chain.dropFirst()) {
                if let revoked = revocation.revocation(of: certificate, issuer: issuer) {
                    return
                        "\(certificate.subject) (serial \(certificate.serialNumber)) was revoked on \(revoked.date) (CRL \(revoked.list.file))"
                }
            }
        }
        return nil
    }
}
