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

    /// The recording as one connection of a pcapng file (real endpoints when known).
    public var pcapngConnection: PcapngWriter.Connection {
        let (local, peer) = state.withLockedValue { ($0.local, $0.peer) }
        let unknown = TCPEndpoint(address: "127.0.0.1", port: 0)
        let client = (role == .client ? local : peer) ?? unknown
        let server = (role == .client ? peer : local) ?? TCPEndpoint(address: "127.0.0.2", port: 443)
        return PcapngWriter.Connection(client: client, server: server, chunks: chunks.map { ($0.direction, $0.time, $0.bytes) })
    }

    /// The recording as a pcapng file with the keys in a Decryption Secrets Block.
    public func pcapng() -> ByteBuffer {
        PcapngWriter().file(connections: [pcapngConnection], keyLog: keyLog)
    }

    /// Drops this connection's secrets from the shared store (the connection closed).
    public func forgetKeys() {
        if let keys, let random = clientRandom { keys.forget(random) }
    }
}
