public import FerryWire
import Foundation
public import NIOCore

/// Every TCP connection in a capture file, decoded as TLS where it is TLS.
public struct CaptureTrace: Sendable {
    public struct Connection: Sendable {
        public let stream: TCPStream
        /// `nil` when the stream is not TLS; `reason` then says what it is.
        public let conversation: TLSConversation?
        public let reason: String?
    }

    public let connections: [Connection]
    public let skippedPackets: Int
    public let keyLog: TLSKeyLog

    /// Decodes a capture. `filter` keeps connections with an endpoint `host:port` (or `:port`).
    public init(file: CaptureFile, extraKeys: TLSKeyLog = TLSKeyLog(), filter: String? = nil) {
        var reassembler = TCPReassembler()
        for packet in file.packets { reassembler.add(packet) }
        var keys = file.keyLog
        keys.merge(extraKeys)
        keyLog = keys
        skippedPackets = reassembler.skippedPackets
        connections = reassembler.streams.compactMap { stream in
            if let filter, !Self.matches(stream, filter) { return nil }
            guard let first = stream.chunks.first(where: { $0.direction == .clientToServer }) ?? stream.chunks.first
            else {
                return Connection(stream: stream, conversation: nil, reason: "no payload")
            }
            guard Self.looksLikeTLS(first.bytes) else {
                return Connection(stream: stream, conversation: nil, reason: "not TLS: " + Self.preview(first.bytes))
            }
            var conversation = TLSConversation(keyLog: keys)
            for chunk in stream.chunks { conversation.feed(chunk.bytes, from: chunk.direction, at: chunk.time) }
            return Connection(stream: stream, conversation: conversation, reason: nil)
        }
    }

    /// The TLS connections found (those with a decoded conversation).
    public var tlsConnectionCount: Int { connections.count { $0.conversation != nil } }

    /// Every connection's trace, client first (`->`): in text, a `# CLIENT -> SERVER` heading per TLS connection
    /// and a line for each skipped one; in JSON Lines, a `connection` event before each TLS connection's records
    /// (skipped connections are left out). Text is not escaped for a terminal: the caller does that.
    public func render(format: TLSTraceRenderer.Format) -> String {
        let renderer = TLSTraceRenderer(localSide: .clientToServer)
        var out = ""
        for connection in connections {
            let title = "\(connection.stream.client) -> \(connection.stream.server)"
            guard let conversation = connection.conversation else {
                if format != .json { out += "# \(title): skipped (\(connection.reason ?? "not TLS"))\n\n" }
                continue
            }
            if format == .json {
                out += TLSTraceRenderer.jsonLine(
                    JSONConnection(
                        client: connection.stream.client.description,
                        server: connection.stream.server.description
                    )
                )
                out += renderer.render(conversation, format: .json)
            } else {
                out += "# \(title)\n" + renderer.render(conversation, format: format) + "\n"
            }
        }
        return out
    }

    struct JSONConnection: Encodable {
        let event = "connection"
        let client: String
        let server: String
    }

    static func matches(_ stream: TCPStream, _ filter: String) -> Bool {
        let endpoints = [stream.client, stream.server]
        if filter.hasPrefix(":"), let port = UInt16(filter.dropFirst()) {
            return endpoints.contains { $0.port == port }
        }
        if let colon = filter.lastIndex(of: ":"), let port = UInt16(filter[filter.index(after: colon)...]) {
            var host = String(filter[..<colon])
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            return endpoints.contains {
                $0.port == port
                    && ($0.address == host || host == "localhost" && ($0.address == "127.0.0.1" || $0.address == "::1"))
            }
        }
        return endpoints.contains { $0.address == filter }
    }

    /// A TLS record header (handshake, alert, ...) or an SSLv2-compatible ClientHello.
    static func looksLikeTLS(_ bytes: ByteBuffer) -> Bool {
        guard let first = bytes.getInteger(at: bytes.readerIndex, as: UInt8.self),
            let second = bytes.getInteger(at: bytes.readerIndex + 1, as: UInt8.self)
        else { return false }
        if (20...25).contains(first) && second == 3 { return true }
        return first & 0x80 != 0 && bytes.getInteger(at: bytes.readerIndex + 2, as: UInt8.self) == 1
    }

    static func preview(_ bytes: ByteBuffer) -> String {
        let head = bytes.getBytes(at: bytes.readerIndex, length: min(16, bytes.readableBytes)) ?? []
        if head.allSatisfy({ $0 >= 0x20 && $0 < 0x7F || $0 == 0x0D || $0 == 0x0A }) {
            return "'" + String(decoding: head, as: UTF8.self).replacingOccurrences(of: "\r\n", with: " ") + "'"
        }
        return head.map { String($0, radix: 16) }.joined(separator: " ")
    }
}
