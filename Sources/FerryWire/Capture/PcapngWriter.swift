public import NIOCore

/// Writes a TLS conversation as a pcapng file: a synthesised TCP/IPv4 connection (handshake, the payload
/// each side sent, FIN) with the key log in a Decryption Secrets Block, so that Wireshark and tshark open it
/// already decrypted. Addresses and ports are the real ones when known.
public struct PcapngWriter: Sendable {
    public var client = TCPEndpoint(address: "127.0.0.1", port: 50000)
    public var server = TCPEndpoint(address: "127.0.0.2", port: 443)

    public init() {}

    /// One connection to write: its endpoints and the chunks each side sent, in order.
    public struct Connection: Sendable {
        public var client: TCPEndpoint
        public var server: TCPEndpoint
        public var chunks: [(direction: TLSDirection, time: Double, bytes: ByteBuffer)]

        public init(
            client: TCPEndpoint,
            server: TCPEndpoint,
            chunks: [(direction: TLSDirection, time: Double, bytes: ByteBuffer)]
        ) {
            self.client = client
            self.server = server
            self.chunks = chunks
        }
    }

    /// The file's bytes for `chunks` (in the order sent) and the key log.
    public func file(
        chunks: [(direction: TLSDirection, time: Double, bytes: ByteBuffer)],
        keyLog: TLSKeyLog
    ) -> ByteBuffer {
        file(connections: [Connection(client: client, server: server, chunks: chunks)], keyLog: keyLog)
    }

    /// One file holding several connections (each its own TCP stream) and all their keys.
    public func file(connections: [Connection], keyLog: TLSKeyLog) -> ByteBuffer {
        var out = ByteBuffer()
        // Section Header Block.
        Self.block(&out, type: 0x0A0D_0D0A) { body in
            body.writeInteger(UInt32(0x1A2B_3C4D), endianness: .little)
            body.writeInteger(UInt16(1), endianness: .little)
            body.writeInteger(UInt16(0), endianness: .little)
            body.writeInteger(Int64(-1), endianness: .little)
            Self.option(&body, code: 4, Array("Ferry".utf8))  // shb_userappl
            body.writeInteger(UInt32(0), endianness: .little)  // opt_endofopt
        }
        // Interface Description Block: raw IP, microsecond timestamps.
        Self.block(&out, type: 1) { body in
            body.writeInteger(UInt16(101), endianness: .little)
            body.writeInteger(UInt16(0), endianness: .little)
            body.writeInteger(UInt32(0), endianness: .little)
        }
        let secrets = keyLog.text
        if !secrets.isEmpty {
            Self.block(&out, type: 10) { body in
                body.writeInteger(UInt32(0x544C_534B), endianness: .little)  // TLSK
                body.writeInteger(UInt32(secrets.utf8.count), endianness: .little)
                body.writeString(secrets)
                body.writeRepeatingByte(0, count: (4 - secrets.utf8.count % 4) % 4)
            }
        }
        for connection in connections {
            write(connection, into: &out)
        }
        return out
    }

    private func write(_ connection: Connection, into out: inout ByteBuffer) {
        let client = connection.client
        let server = connection.server
        let chunks = connection.chunks
        let start = chunks.first?.time ?? 0
        var clientSequence: UInt32 = 1000
        var serverSequence: UInt32 = 5000
        var identification: UInt16 = 1
        func packet(_ fromClient: Bool, time: Double, flags: UInt8, payload: ByteBuffer?) {
            let (source, destination) = fromClient ? (client, server) : (server, client)
            let sequence = fromClient ? clientSequence : serverSequence
            let acknowledgement = fromClient ? serverSequence : clientSequence
            var ip = ByteBuffer()
            let length = 20 + 20 + (payload?.readableBytes ?? 0)
            ip.writeMultipleIntegers(
                UInt8(0x45),
                UInt8(0),
                UInt16(length),
                identification,
                UInt16(0x4000),
                UInt8(64),
                UInt8(6),
                UInt16(0)
            )
            ip.writeBytes(Self.ipv4(source.address))
            ip.writeBytes(Self.ipv4(destination.address))
            ip.setInteger(Self.checksum(ip.getBytes(at: 0, length: 20)!), at: 10)
            identification &+= 1
            ip.writeMultipleIntegers(
                source.port,
                destination.port,
                sequence,
                flags & 0x10 != 0 ? acknowledgement : 0,
                UInt8(0x50),
                flags,
                UInt16(65535),
                UInt16(0),
                UInt16(0)
            )
            if var payload { ip.writeBuffer(&payload) }
            let micros = UInt64(max(0, time) * 1_000_000)
            Self.block(&out, type: 6) { body in
                body.writeInteger(UInt32(0), endianness: .little)
                body.writeInteger(UInt32(truncatingIfNeeded: micros >> 32), endianness: .little)
                body.writeInteger(UInt32(truncatingIfNeeded: micros), endianness: .little)
                body.writeInteger(UInt32(ip.readableBytes), endianness: .little)
                body.writeInteger(UInt32(ip.readableBytes), endianness: .little)
                body.writeRepeatingByte(0, count: 0)
                var copy = ip
                body.writeBuffer(&copy)
                body.writeRepeatingByte(0, count: (4 - ip.readableBytes % 4) % 4)
                body.writeInteger(UInt32(0), endianness: .little)
            }
        }
        let syn: UInt8 = 0x02
        let ack: UInt8 = 0x10
        let psh: UInt8 = 0x08
        let fin: UInt8 = 0x01
        packet(true, time: start, flags: syn, payload: nil)
        clientSequence &+= 1
        packet(false, time: start, flags: syn | ack, payload: nil)
        serverSequence &+= 1
        packet(true, time: start, flags: ack, payload: nil)
        for chunk in chunks {
            var bytes = chunk.bytes
            let fromClient = chunk.direction == .clientToServer
            while bytes.readableBytes > 0 {
                let piece = bytes.readSlice(length: min(bytes.readableBytes, 16_000))!
                packet(fromClient, time: chunk.time, flags: ack | psh, payload: piece)
                if fromClient {
                    clientSequence &+= UInt32(piece.readableBytes)
                } else {
                    serverSequence &+= UInt32(piece.readableBytes)
                }
            }
        }
        let end = chunks.last?.time ?? start
        packet(true, time: end, flags: fin | ack, payload: nil)
        clientSequence &+= 1
        packet(false, time: end, flags: fin | ack, payload: nil)
        serverSequence &+= 1
        packet(true, time: end, flags: ack, payload: nil)
    }

    private static func block(_ out: inout ByteBuffer, type: UInt32, _ fill: (inout ByteBuffer) -> Void) {
        var body = ByteBuffer()
        fill(&body)
        let length = UInt32(12 + body.readableBytes)
        out.writeInteger(type, endianness: .little)
        out.writeInteger(length, endianness: .little)
        out.writeBuffer(&body)
        out.writeInteger(length, endianness: .little)
    }

    private static func option(_ body: inout ByteBuffer, code: UInt16, _ value: [UInt8]) {
        body.writeInteger(code, endianness: .little)
        body.writeInteger(UInt16(value.count), endianness: .little)
        body.writeBytes(value)
        body.writeRepeatingByte(0, count: (4 - value.count % 4) % 4)
    }

    /// Dotted-quad bytes; anything that is not IPv4 (an IPv6 peer) is shown as a loopback address.
    static func ipv4(_ address: String) -> [UInt8] {
        let parts = address.split(separator: ".").compactMap { UInt8($0) }
        return parts.count == 4 ? parts : [127, 0, 0, 1]
    }

    static func checksum(_ bytes: [UInt8]) -> UInt16 {
        var sum: UInt32 = 0
        for index in stride(from: 0, to: bytes.count, by: 2) {
            sum += UInt32(bytes[index]) << 8 | UInt32(index + 1 < bytes.count ? bytes[index + 1] : 0)
        }
        while sum >> 16 != 0 { sum = (sum & 0xFFFF) + (sum >> 16) }
        return ~UInt16(sum)
    }
}
