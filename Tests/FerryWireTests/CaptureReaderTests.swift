import FerryTrace
import FerryWire
import Foundation
import NIOCore
import Testing

/// The capture reader and TCP reassembly on files built here: every supported link type, IPv4 and IPv6,
/// classic pcap (micro- and nanosecond, both byte orders) and pcapng, with segments reordered, retransmitted
/// and overlapping. The TLS inside must decode exactly as when fed directly.
@Suite("Capture files: link types, IP versions, TCP reassembly")
struct CaptureReaderTests {
    static let client = WireDecoderTests.legacyClientHello
    static let server = WireDecoderTests.sslv3ServerFlight
    static let alert = WireDecoderTests.systemSSLAlert

    enum Link: UInt32, CaseIterable, CustomTestStringConvertible {
        case ethernet = 1
        case linuxCooked = 113
        case linuxCooked2 = 276
        case rawIP = 101
        case bsdLoopback = 0
        var testDescription: String { "\(self)" }
    }

    /// One TCP segment to write.
    struct Segment {
        let fromClient: Bool
        let sequence: UInt32
        let flags: UInt8
        let payload: [UInt8]
    }

    /// Segments of the handshake: SYN, SYN-ACK, the client hello, the server flight in 100-byte pieces
    /// (shuffled, some sent twice, one overlapping its neighbours), and the client's alert.
    static func segments() -> [Segment] {
        var list = [
            Segment(fromClient: true, sequence: 999, flags: 0x02, payload: []),
            Segment(fromClient: false, sequence: 4999, flags: 0x12, payload: []),
        ]
        list.append(Segment(fromClient: true, sequence: 1000, flags: 0x18, payload: client))
        var pieces: [Segment] = []
        for start in stride(from: 0, to: server.count, by: 100) {
            pieces.append(
                Segment(
                    fromClient: false,
                    sequence: 5000 + UInt32(start),
                    flags: 0x18,
                    payload: Array(server[start..<min(start + 100, server.count)])
                )
            )
        }
        // Out of order: swap neighbours; a retransmission of the third piece; an overlap spanning pieces 4-5.
        for index in stride(from: 0, to: pieces.count - 1, by: 2) { pieces.swapAt(index, index + 1) }
        pieces.insert(pieces[2], at: 5)
        let overlapStart = 350
        pieces.insert(
            Segment(
                fromClient: false,
                sequence: 5000 + UInt32(overlapStart),
                flags: 0x18,
                payload: Array(server[overlapStart..<overlapStart + 120])
            ),
            at: 3
        )
        list += pieces
        list.append(Segment(fromClient: true, sequence: 1000 + UInt32(client.count), flags: 0x18, payload: alert))
        return list
    }

    static func packet(_ segment: Segment, ipv6: Bool, link: Link) -> [UInt8] {
        let (source, destination): ([UInt8], [UInt8]) =
            ipv6
            ? (segment.fromClient ? v6(1) : v6(2), segment.fromClient ? v6(2) : v6(1))
            : (
                segment.fromClient ? [10, 0, 0, 1] : [10, 0, 0, 2], segment.fromClient ? [10, 0, 0, 2] : [10, 0, 0, 1]
            )
        let ports: (UInt16, UInt16) = segment.fromClient ? (40000, 443) : (443, 40000)
        var tcp: [UInt8] =
            be16(ports.0) + be16(ports.1) + be32(segment.sequence) + be32(0) + [0x50, segment.flags] + be16(65535) + [
                0, 0, 0, 0,
            ]
        tcp += segment.payload
        var ip: [UInt8]
        if ipv6 {
            ip = [0x60, 0, 0, 0] + be16(UInt16(tcp.count)) + [6, 64] + source + destination
        } else {
            ip = [0x45, 0] + be16(UInt16(20 + tcp.count)) + [0, 1, 0x40, 0, 64, 6, 0, 0] + source + destination
        }
        ip += tcp
        let etherType: [UInt8] = ipv6 ? [0x86, 0xDD] : [0x08, 0x00]
        switch link {
        case .ethernet: return [UInt8](repeating: 2, count: 12) + etherType + ip
        case .linuxCooked: return [0, 0, 0, 1, 0, 6] + [UInt8](repeating: 0, count: 8) + etherType + ip
        case .linuxCooked2: return etherType + [0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 6] + [UInt8](repeating: 0, count: 7) + ip
        case .rawIP: return ip
        case .bsdLoopback: return (ipv6 ? [30, 0, 0, 0] : [2, 0, 0, 0]) + ip
        }
    }

    static func v6(_ last: UInt8) -> [UInt8] { [0x20, 0x01, 0x0D, 0xB8] + [UInt8](repeating: 0, count: 11) + [last] }
    static func be16(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xFF)] }
    static func be32(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }

    /// A classic pcap file.
    static func pcap(_ packets: [[UInt8]], link: Link, nanoseconds: Bool, bigEndian: Bool) -> ByteBuffer {
        var out = ByteBuffer()
        let endianness: Endianness = bigEndian ? .big : .little
        out.writeInteger(UInt32(nanoseconds ? 0xA1B2_3C4D : 0xA1B2_C3D4), endianness: endianness)
        out.writeInteger(UInt16(2), endianness: endianness)
        out.writeInteger(UInt16(4), endianness: endianness)
        out.writeInteger(Int32(0), endianness: endianness)
        out.writeInteger(UInt32(0), endianness: endianness)
        out.writeInteger(UInt32(65535), endianness: endianness)
        out.writeInteger(link.rawValue, endianness: endianness)
        for (index, packet) in packets.enumerated() {
            out.writeInteger(UInt32(1000), endianness: endianness)
            out.writeInteger(UInt32(index * 1000), endianness: endianness)
            out.writeInteger(UInt32(packet.count), endianness: endianness)
            out.writeInteger(UInt32(packet.count), endianness: endianness)
            out.writeBytes(packet)
        }
        return out
    }

    static func shape(_ conversation: TLSConversation) -> [String] {
        conversation.records.map { "\($0.direction) \($0.version) \($0.outerType) \($0.content)" }
    }

    static let expected: [String] = {
        var conversation = TLSConversation()
        conversation.feed(ByteBuffer(bytes: client), from: .clientToServer, at: 0)
        conversation.feed(ByteBuffer(bytes: server), from: .serverToClient, at: 0)
        conversation.feed(ByteBuffer(bytes: alert), from: .clientToServer, at: 0)
        return shape(conversation)
    }()

    @Test(
        "every link type, over IPv4 and IPv6, with reordered, repeated and overlapping segments",
        arguments: Link.allCases,
        [false, true]
    )
    func linkTypes(link: Link, ipv6: Bool) throws {
        let packets = Self.segments().map { Self.packet($0, ipv6: ipv6, link: link) }
        let file = try CaptureFile(bytes: Self.pcap(packets, link: link, nanoseconds: false, bigEndian: false))
        let trace = CaptureTrace(file: file)
        #expect(trace.skippedPackets == 0)
        let connection = try #require(trace.connections.first)
        #expect(trace.connections.count == 1)
        #expect(connection.stream.client.port == 40000, "the SYN's sender is the client")
        #expect(connection.stream.server.address == (ipv6 ? "2001:db8::2" : "10.0.0.2"))
        let conversation = try #require(connection.conversation)
        #expect(Self.shape(conversation) == Self.expected)
        #expect(conversation.certificateRequest?.distinguishedNamesLength == 0)
    }

    @Test("pcap byte orders and timestamp resolutions; timestamps are kept")
    func pcapVariants() throws {
        let packets = Self.segments().map { Self.packet($0, ipv6: false, link: .ethernet) }
        for nanoseconds in [false, true] {
            for bigEndian in [false, true] {
                let file = try CaptureFile(
                    bytes: Self.pcap(packets, link: .ethernet, nanoseconds: nanoseconds, bigEndian: bigEndian)
                )
                #expect(file.format == "pcap")
                #expect(file.packets.count == packets.count)
                let step = file.packets[1].time - file.packets[0].time
                #expect(abs(step - (nanoseconds ? 1e-6 : 1e-3)) < 1e-9, "fraction read in the right unit")
                let conversation = try #require(CaptureTrace(file: file).connections.first?.conversation)
                #expect(Self.shape(conversation) == Self.expected)
            }
        }
    }

    @Test("non-TLS connections are reported and skipped; --filter picks one connection")
    func filterAndSkip() throws {
        var packets = Self.segments().map { Self.packet($0, ipv6: false, link: .rawIP) }
        // A plaintext HTTP connection from another port.
        let http = Segment(fromClient: true, sequence: 1, flags: 0x18, payload: Array("GET / HTTP/1.1\r\n\r\n".utf8))
        var other = Self.packet(http, ipv6: false, link: .rawIP)
        other[20] = 0x9B  // source port 40000 (0x9C40) -> 39744
        packets.append(other)
        let file = try CaptureFile(bytes: Self.pcap(packets, link: .rawIP, nanoseconds: false, bigEndian: false))
        let all = CaptureTrace(file: file).connections
        #expect(all.count == 2)
        #expect(all.compactMap(\.conversation).count == 1)
        #expect(all.contains { $0.reason == "not TLS: 'GET / HTTP/1.1 '" })
        #expect(CaptureTrace(file: file, filter: ":40000").connections.count == 1)
        #expect(CaptureTrace(file: file, filter: "10.0.0.2:443").connections.count == 2)
        #expect(CaptureTrace(file: file, filter: "10.0.0.9:443").connections.isEmpty)
    }

    @Test("a capture renders a heading per TLS connection, a line per skipped one, and JSON connection events")
    func renderCapture() throws {
        var packets = Self.segments().map { Self.packet($0, ipv6: false, link: .rawIP) }
        // A plaintext connection whose first bytes hold a bare line feed and an escape code.
        let text = Segment(
            fromClient: true,
            sequence: 1,
            flags: 0x18,
            payload: Array("HELLO\n\u{1B}[2J# 10.0.0.1 forged".utf8)
        )
        var other = Self.packet(text, ipv6: false, link: .rawIP)
        other[20] = 0x9B
        packets.append(other)
        let trace = CaptureTrace(
            file: try CaptureFile(bytes: Self.pcap(packets, link: .rawIP, nanoseconds: false, bigEndian: false))
        )
        #expect(trace.tlsConnectionCount == 1)
        let summary = trace.render(format: .summary)
        let tls = try #require(trace.connections.first { $0.conversation != nil })
        #expect(summary.contains("# \(tls.stream.client) -> \(tls.stream.server)\n"))
        #expect(summary.contains(": skipped (not TLS: "))
        // Bytes that are not printable are shown in hex, so the skipped line stays one line.
        let skipped = summary.split(separator: "\n").filter { $0.contains("skipped") }
        #expect(skipped.count == 1)
        #expect(!summary.contains("forged"))
        let lines = trace.render(format: .json).split(separator: "\n")
        let first = try #require(lines.first)
        let event = try JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: String]
        #expect(
            event == [
                "event": "connection", "client": tls.stream.client.description, "server": tls.stream.server.description,
            ]
        )
        // Skipped connections are left out of JSON; every line is an object.
        #expect(lines.filter { $0.contains("\"event\":\"connection\"") }.count == 1)
        for line in lines { #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) is [String: Any]) }
    }

    @Test("a pcapng written by Ferry reads back to the same conversation, keys included")
    func pcapngRoundTrip() throws {
        var keys = TLSKeyLog()
        keys.add(line: "CLIENT_RANDOM " + String(repeating: "ab", count: 32) + " " + String(repeating: "cd", count: 48))
        let file = PcapngWriter().file(
            chunks: [
                (.clientToServer, 1, ByteBuffer(bytes: Self.client)),
                (.serverToClient, 2, ByteBuffer(bytes: Self.server)),
                (.clientToServer, 3, ByteBuffer(bytes: Self.alert)),
            ],
            keyLog: keys
        )
        let capture = try CaptureFile(bytes: file)
        #expect(capture.format == "pcapng")
        #expect(capture.keyLog.lines == keys.lines)
        let conversation = try #require(CaptureTrace(file: capture).connections.first?.conversation)
        #expect(Self.shape(conversation) == Self.expected)
        #expect(conversation.records.first?.time == 1)
    }

    @Test("wrong or missing keys leave records encrypted, with the reason")
    func wrongKeys() throws {
        // A TLS 1.3-shaped conversation: a ClientHello, a ServerHello choosing TLS_AES_128_GCM_SHA256, then an
        // encrypted record the wrong keys cannot open.
        let random = [UInt8](repeating: 7, count: 32)
        var hello: [UInt8] = [0x03, 0x03] + random + [0] + Self.be16(2) + [0x13, 0x01] + [1, 0]
        let versions: [UInt8] = [0x00, 0x2B, 0x00, 0x03, 0x02, 0x03, 0x04]
        hello += Self.be16(UInt16(versions.count)) + versions
        let clientHello: [UInt8] =
            [0x16, 0x03, 0x01] + Self.be16(UInt16(hello.count + 4)) + [1, 0] + Self.be16(UInt16(hello.count)) + hello
        var serverHelloBody: [UInt8] = [0x03, 0x03] + [UInt8](repeating: 9, count: 32) + [0] + [0x13, 0x01, 0]
        let selected: [UInt8] = [0x00, 0x2B, 0x00, 0x02, 0x03, 0x04]
        serverHelloBody += Self.be16(UInt16(selected.count)) + selected
        let serverHello: [UInt8] =
            [0x16, 0x03, 0x03] + Self.be16(UInt16(serverHelloBody.count + 4)) + [2, 0]
            + Self.be16(UInt16(serverHelloBody.count)) + serverHelloBody
        let encrypted: [UInt8] = [0x17, 0x03, 0x03, 0x00, 0x20] + [UInt8](repeating: 0x55, count: 32)
        for keys in [
            TLSKeyLog(),
            TLSKeyLog(
                text:
                    "SERVER_HANDSHAKE_TRAFFIC_SECRET \(String(repeating: "07", count: 32)) \(String(repeating: "42", count: 32))"
            ),
        ] {
            var conversation = TLSConversation(keyLog: keys)
            conversation.feed(ByteBuffer(bytes: clientHello), from: .clientToServer, at: 0)
            conversation.feed(ByteBuffer(bytes: serverHello + encrypted), from: .serverToClient, at: 0)
            #expect(conversation.version == .tls13)
            guard case .encrypted(let why) = conversation.records.last?.protection else {
                Issue.record("the record should stay encrypted")
                continue
            }
            #expect(
                why
                    == (keys.lines.isEmpty
                        ? "no key log entry for this connection"
                        : "decryption failed: the key log's secrets do not match this connection")
            )
            #expect(!conversation.notes.isEmpty)
        }
    }
}
