public import NIOCore

/// One end of a TCP connection.
public struct TCPEndpoint: Hashable, Sendable, CustomStringConvertible {
    public let address: String
    public let port: UInt16

    public init(address: String, port: UInt16) {
        self.address = address
        self.port = port
    }

    public var description: String { address.contains(":") ? "[\(address)]:\(port)" : "\(address):\(port)" }
}

/// The payload of one TCP connection in both directions, reassembled in sequence order, as the chunks
/// each side delivered (retransmissions and overlaps removed, out-of-order segments put back in order).
public struct TCPStream: Sendable {
    public let client: TCPEndpoint
    public let server: TCPEndpoint
    public internal(set) var chunks: [(direction: TLSDirection, time: Double, bytes: ByteBuffer)] = []
    /// Gaps the capture left (lost segments): reassembly stops at the first gap of a direction.
    public internal(set) var gaps = 0
}

/// Splits captured packets into TCP connections and reassembles each.
public struct TCPReassembler: Sendable {
    private struct FlowKey: Hashable {
        let a: TCPEndpoint
        let b: TCPEndpoint
    }

    private struct HalfStream {
        var nextSequence: UInt32?
        var pending: [UInt32: (time: Double, bytes: ByteBuffer)] = [:]
        var closed = false
    }

    private struct Flow {
        var stream: TCPStream
        var halves: [TLSDirection: HalfStream] = [.clientToServer: HalfStream(), .serverToClient: HalfStream()]
        var order: Int
    }

    private var flows: [FlowKey: Flow] = [:]
    /// Packets that were not TCP over IPv4/IPv6 on a known link type.
    public private(set) var skippedPackets = 0

    public init() {}

    /// All TCP connections seen, in the order they started.
    public var streams: [TCPStream] {
        flows.values.sorted { $0.order < $1.order }.map(\.stream)
    }

    public mutating func add(_ packet: CapturedPacket) {
        guard let segment = TCPSegment(packet) else {
            skippedPackets += 1
            return
        }
        let key =
            segment.source.description < segment.destination.description
            ? FlowKey(a: segment.source, b: segment.destination) : FlowKey(a: segment.destination, b: segment.source)
        var flow =
            flows[key]
            ?? {
                // The side that sends the SYN (without ACK) is the client; otherwise the first sender.
                let clientIsSource = !(segment.syn && segment.ack)
                let stream =
                    clientIsSource
                    ? TCPStream(client: segment.source, server: segment.destination)
                    : TCPStream(client: segment.destination, server: segment.source)
                return Flow(stream: stream, order: flows.count)
            }()
        let direction: TLSDirection = segment.source == flow.stream.client ? .clientToServer : .serverToClient
        var half = flow.halves[direction]!
        if segment.syn {
            half.nextSequence = segment.sequence &+ 1
        } else if half.nextSequence == nil {
            half.nextSequence = segment.sequence
        }
        if segment.payload.readableBytes > 0 {
            if let existing = half.pending[segment.sequence],
                existing.bytes.readableBytes >= segment.payload.readableBytes
            {
                // A retransmission of what is already waiting.
            } else {
                half.pending[segment.sequence] = (packet.time, segment.payload)
            }
            deliver(&half, direction: direction, into: &flow.stream)
        }
        flow.halves[direction] = half
        flows[key] = flow
    }

    /// Delivers every pending segment that continues the stream, trimming overlaps.
    private func deliver(_ half: inout HalfStream, direction: TLSDirection, into stream: inout TCPStream) {
        guard var next = half.nextSequence else { return }
        var progressed = true
        while progressed {
            progressed = false
            for (sequence, item) in half.pending {
                let offset = Int32(bitPattern: next &- sequence)  // > 0: the segment starts before `next`
                let end = Int32(bitPattern: sequence &+ UInt32(item.bytes.readableBytes) &- next)
                if offset >= 0 {
                    half.pending[sequence] = nil
                    guard end > 0 else {
                        progressed = true
                        continue  // wholly old: a retransmission
                    }
                    let fresh = item.bytes.getSlice(at: item.bytes.readerIndex + Int(offset), length: Int(end))!
                    stream.chunks.append((direction, item.time, fresh))
                    next = next &+ UInt32(end)
                    progressed = true
                }
            }
        }
        half.nextSequence = next
    }
}

/// The TCP segment inside a captured packet.
struct TCPSegment {
    let source: TCPEndpoint
    let destination: TCPEndpoint
    let sequence: UInt32
    let syn: Bool
    let ack: Bool
    let payload: ByteBuffer

    init?(_ packet: CapturedPacket) {
        var data = packet.data
        // Link layer.
        var etherType: UInt16
        switch packet.linkType {
        case 1:  // Ethernet
            guard data.readSlice(length: 12) != nil, var type = data.readInteger(as: UInt16.self) else { return nil }
            while type == 0x8100 || type == 0x88A8 {  // VLAN tags
                guard data.readInteger(as: UInt16.self) != nil, let inner = data.readInteger(as: UInt16.self) else {
                    return nil
                }
                type = inner
            }
            etherType = type
        case 113:  // Linux cooked v1
            guard data.readSlice(length: 14) != nil, let type = data.readInteger(as: UInt16.self) else { return nil }
            etherType = type
        case 276:  // Linux cooked v2
            guard let type = data.readInteger(as: UInt16.self), data.readSlice(length: 18) != nil else { return nil }
            etherType = type
        case 101, 12, 14:  // raw IP
            guard let first = data.getInteger(at: data.readerIndex, as: UInt8.self) else { return nil }
            etherType = first >> 4 == 6 ? 0x86DD : 0x0800
        case 0, 108:  // BSD loopback / OpenBSD loop: a 4-byte address family
            guard let family = data.readInteger(endianness: packet.linkType == 108 ? .big : .little, as: UInt32.self)
            else { return nil }
            let swapped = family.byteSwapped
            etherType = family == 2 || swapped == 2 ? 0x0800 : 0x86DD
        default:
            return nil
        }
        // Network layer.
        var source: String
        var destination: String
        switch etherType {
        case 0x0800:
            guard let versionLength = data.getInteger(at: data.readerIndex, as: UInt8.self), versionLength >> 4 == 4
            else { return nil }
            let headerLength = Int(versionLength & 0x0F) * 4
            guard headerLength >= 20, var header = data.readSlice(length: headerLength),
                let totalLength = header.getInteger(at: header.readerIndex + 2, as: UInt16.self),
                let flags = header.getInteger(at: header.readerIndex + 6, as: UInt16.self),
                header.getInteger(at: header.readerIndex + 9, as: UInt8.self) == 6
            else { return nil }
            guard flags & 0x1FFF == 0 && flags & 0x2000 == 0 else { return nil }  // fragments are not reassembled
            header.moveReaderIndex(forwardBy: 12)
            source = header.readBytes(length: 4)!.map(String.init).joined(separator: ".")
            destination = header.readBytes(length: 4)!.map(String.init).joined(separator: ".")
            let payloadLength = Int(totalLength) - headerLength
            if payloadLength >= 0 && payloadLength < data.readableBytes {
                data = data.getSlice(at: data.readerIndex, length: payloadLength)!  // Ethernet padding
            }
        case 0x86DD:
            guard var header = data.readSlice(length: 40),
                header.getInteger(at: header.readerIndex, as: UInt8.self).map({ $0 >> 4 == 6 }) == true
            else { return nil }
            let payloadLength = Int(header.getInteger(at: header.readerIndex + 4, as: UInt16.self)!)
            var next = header.getInteger(at: header.readerIndex + 6, as: UInt8.self)!
            header.moveReaderIndex(forwardBy: 8)
            source = Self.ipv6(header.readBytes(length: 16)!)
            destination = Self.ipv6(header.readBytes(length: 16)!)
            if payloadLength < data.readableBytes { data = data.getSlice(at: data.readerIndex, length: payloadLength)! }
            // Extension headers: hop-by-hop, routing, destination options.
            while next == 0 || next == 43 || next == 60 {
                guard let following = data.readInteger(as: UInt8.self), let length = data.readInteger(as: UInt8.self),
                    data.readSlice(length: Int(length) * 8 + 6) != nil
                else { return nil }
                next = following
            }
            guard next == 6 else { return nil }
        default:
            return nil
        }
        // TCP.
        guard
            let (sourcePort, destinationPort, sequence, _, offsetFlags) = data.readMultipleIntegers(
                as: (UInt16, UInt16, UInt32, UInt32, UInt16).self
            )
        else { return nil }
        let headerLength = Int(offsetFlags >> 12) * 4
        guard headerLength >= 20, data.readSlice(length: headerLength - 14) != nil else { return nil }
        self.source = TCPEndpoint(address: source, port: sourcePort)
        self.destination = TCPEndpoint(address: destination, port: destinationPort)
        self.sequence = sequence
        self.syn = offsetFlags & 0x02 != 0
        self.ack = offsetFlags & 0x10 != 0
        self.payload = data
    }

    static func ipv6(_ bytes: [UInt8]) -> String {
        let groups = stride(from: 0, to: 16, by: 2).map { UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]) }
        // Compress the longest run of zero groups (RFC 5952).
        var bestStart = -1
        var bestLength = 0
        var index = 0
        while index < 8 {
            if groups[index] == 0 {
                var end = index
                while end < 8 && groups[end] == 0 { end += 1 }
                if end - index > bestLength && end - index > 1 {
                    bestStart = index
                    bestLength = end - index
                }
                index = end
            } else {
                index += 1
            }
        }
        let text = groups.map { String($0, radix: 16) }
        guard bestStart >= 0 else { return text.joined(separator: ":") }
        return text[..<bestStart].joined(separator: ":") + "::"
            + text[(bestStart + bestLength)...].joined(separator: ":")
    }
}
