public import FerryWire
import NIOConcurrencyHelpers
public import NIOCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The raw bytes of a connection's handshake in both directions, as the tap saw them (shared buffers, not
/// copies), bounded by a byte budget. Decoded only when someone asks for the trace.
public final class TLSFlightRecorder: Sendable {
    public struct Chunk: Sendable {
        public let direction: TLSDirection
        public let time: Double
        public let bytes: ByteBuffer
    }

    private struct State {
        var chunks: [Chunk] = []
        var bytes = 0
        var truncated = false
        var local: TCPEndpoint?
        var peer: TCPEndpoint?
        /// Found once, then kept: the trace, the key lookup, the pcapng writer and `forgetKeys` all need it.
        var clientRandom: [UInt8]?
    }

    /// The most bytes kept per connection (a handshake with a long chain is ~10 KiB).
    public let budget: Int
    public let role: TLSTapHandler.Role
    /// Where NIOSSL reports this connection's secrets, when tracing is on.
    public let keys: TLSKeyLogStore?
    private let state = NIOLockedValueBox(State())

    public init(role: TLSTapHandler.Role, keys: TLSKeyLogStore?, budget: Int = 256 << 10) {
        self.role = role
        self.keys = keys
        self.budget = budget
    }

    func append(_ bytes: ByteBuffer, sent: Bool) {
        let direction: TLSDirection = (role == .client) == sent ? .clientToServer : .serverToClient
        let now = Date().timeIntervalSince1970
        state.withLockedValue { state in
            guard !state.truncated else { return }
            guard state.bytes + bytes.readableBytes <= budget else {
                state.truncated = true
                return
            }
            state.bytes += bytes.readableBytes
            state.chunks.append(Chunk(direction: direction, time: now, bytes: bytes))
        }
    }

    func setEndpoints(local: TCPEndpoint?, peer: TCPEndpoint?) {
        state.withLockedValue {
            $0.local = local
            $0.peer = peer
        }
    }

    public var chunks: [Chunk] { state.withLockedValue { $0.chunks } }
    public var isEmpty: Bool { state.withLockedValue { $0.chunks.isEmpty } }

    /// The ClientHello's random, once the client's first bytes were seen.
    public var clientRandom: [UInt8]? {
        if let known = state.withLockedValue({ $0.clientRandom }) { return known }
        var conversation = TLSConversation()
        for chunk in chunks where chunk.direction == .clientToServer {
            conversation.feed(chunk.bytes, from: .clientToServer, at: chunk.time)
            if let hello = conversation.clientHello {
                state.withLockedValue { $0.clientRandom = hello.random }
                return hello.random
            }
        }
        return nil
    }

    /// The key log lines for this connection.
    public var keyLog: TLSKeyLog {
        guard let keys, let random = clientRandom else { return TLSKeyLog() }
        return keys.keyLog(for: random)
    }

    /// Decodes what was recorded, decrypting with this connection's keys.
    public func conversation() -> TLSConversation {
        var conversation = TLSConversation(keyLog: keyLog)
        for chunk in chunks { conversation.feed(chunk.bytes, from: chunk.direction, at: chunk.time) }
        if state.withLockedValue({ $0.truncated }) {
            conversation.addNote("the recording stopped after \(budget) bytes")
        }
        return conversation
    }

    /// The connection's client and server addresses (placeholders when unknown).
    public var endpoints: (client: TCPEndpoint, server: TCPEndpoint) {
        let (local, peer) = state.withLockedValue { ($0.local, $0.peer) }
        let client = (role == .client ? local : peer) ?? TCPEndpoint(address: "127.0.0.1", port: 0)
        let server = (role == .client ? peer : local) ?? TCPEndpoint(address: "127.0.0.2", port: 443)
        return (client, server)
    }

    /// The secrets a handshake capture carries: TLS 1.3's handshake traffic secrets, which decrypt the
    /// handshake and nothing after it. TLS 1.2's master secret is never exported: it would decrypt only the two
    /// Finished messages here (the rest of a TLS 1.2 handshake is plaintext), but it also protects every later
    /// session resumed from this one.
    public static let handshakeSecretLabels: Set<String> = [
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET",
    ]

    /// The handshake and the secrets that decrypt it, for a capture file: each direction's bytes up to the end
    /// of its handshake (its Finished message), so no application data is in it.
    ///
    /// - Parameter refused: this server refused the client after its own Finished (TLS 1.3 checks the client's
    ///   certificate there): the alert that says why is kept, with the one secret that decrypts it. A refused
    ///   connection never carried application data from this side, so that secret opens nothing else.
    public func handshakeCapture(refused: Bool) -> (connection: PcapngWriter.Connection, keyLog: TLSKeyLog) {
        let conversation = conversation()
        let keepServerTail = refused && role == .server
        var left: [TLSDirection: Int] = [:]
        for direction in [TLSDirection.clientToServer, .serverToClient]
        where !(keepServerTail && direction == .serverToClient) {
            if let length = conversation.handshakeLength(direction) { left[direction] = length }
        }
        var cut: [(TLSDirection, Double, ByteBuffer)] = []
        for chunk in chunks {
            guard let remaining = left[chunk.direction] else {
                cut.append((chunk.direction, chunk.time, chunk.bytes))
                continue
            }
            guard remaining > 0 else { continue }
            let take = min(remaining, chunk.bytes.readableBytes)
            left[chunk.direction] = remaining - take
            cut.append((chunk.direction, chunk.time, chunk.bytes.getSlice(at: chunk.bytes.readerIndex, length: take)!))
        }
        let (client, server) = endpoints
        let labels =
            keepServerTail ? Self.handshakeSecretLabels.union(["SERVER_TRAFFIC_SECRET_0"]) : Self.handshakeSecretLabels
        return (PcapngWriter.Connection(client: client, server: server, chunks: cut), keyLog.keeping(labels: labels))
    }

    /// The recording as a pcapng file: the handshake only, with the secrets that decrypt it.
    public func pcapng(refused: Bool = false) -> ByteBuffer {
        let capture = handshakeCapture(refused: refused)
        return PcapngWriter().file(connections: [capture.connection], keyLog: capture.keyLog)
    }

    /// Drops this connection's secrets from the shared store (the connection closed).
    public func forgetKeys() {
        if let keys, let random = clientRandom { keys.forget(random) }
    }
}
