public import FerryWire
import NIOConcurrencyHelpers
public import NIOCore

/// What one connection's tap and handshake observer saw, readable from any thread.
public final class TLSConnectionRecord: Sendable {
    /// A snapshot of the connection's TLS facts.
    public struct Snapshot: Sendable, Equatable {
        /// The version the ServerHello negotiated.
        public var version: TLSProtocolVersion?
        public var cipherSuite: TLSCipherSuite?
        /// The peer's leaf certificate, DER, once the handshake completed.
        public var peerCertificateDER: [UInt8]?
        /// The chain this side verified, DER, trust anchor first and the peer's own certificate last; empty when
        /// nothing was verified in this handshake (no certificate, verification off, or a resumed session).
        public var verifiedChainDER: [[UInt8]] = []
        /// The ALPN protocol, if one was negotiated.
        public var applicationProtocol: String?
        public var handshakeComplete = false
        /// Plaintext alerts sent by this side.
        public var alertsSent: [TLSAlert] = []
        /// Plaintext alerts received from the peer.
        public var alertsReceived: [TLSAlert] = []
        /// A decoding problem, when the peer's bytes were not TLS (e.g. plaintext HTTP on a TLS port).
        public var wireError: String?
        /// Why this side refused the peer beyond what the wire shows (a policy such as verify-depth).
        public var policyRefusal: String?
        /// The finding that explains the refusal (e.g. `certificate-revoked`), if one does.
        public var policyFinding: String?
    }

    private let state = NIOLockedValueBox(Snapshot())
    /// The raw handshake bytes, for the trace and pcapng export.
    public let recorder: TLSFlightRecorder

    public init(role: TLSTapHandler.Role, keys: TLSKeyLogStore? = nil) {
        self.recorder = TLSFlightRecorder(role: role, keys: keys)
    }

    /// The facts so far.
    public var snapshot: Snapshot { state.withLockedValue { $0 } }

    /// Records why this side refused the peer (the first reason wins).
    public func refuse(_ reason: String, finding: String? = nil) {
        state.withLockedValue {
            if $0.policyRefusal == nil {
                $0.policyRefusal = reason
                $0.policyFinding = finding
            }
        }
    }

    /// Records one certificate of the verified chain (called from the verify callback, anchor first).
    public func addVerified(_ der: [UInt8]) {
        state.withLockedValue { $0.verifiedChainDER.append(der) }
    }

    /// Sets the verified chain of a resumed session (the chain its first handshake verified).
    public func setVerifiedChain(_ chain: [[UInt8]]) {
        state.withLockedValue { $0.verifiedChainDER = chain }
    }

    func update(_ body: (inout Snapshot) -> Void) {
        state.withLockedValue { body(&$0) }
    }

    var isHandshakeComplete: Bool { state.withLockedValue { $0.handshakeComplete } }
}
