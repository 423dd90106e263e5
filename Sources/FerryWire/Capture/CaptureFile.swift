public import NIOCore

/// A packet read from a capture file: when, and the bytes at the link layer.
public struct CapturedPacket: Sendable {
    public let time: Double
    public let linkType: UInt32
    public let data: ByteBuffer
}

/// Why a capture file could not be read.
public struct CaptureError: Error, Sendable, CustomStringConvertible {
    public let description: String
}

/// Reads pcap and pcapng files: packets with their link type, and TLS key-log lines from pcapng Decryption
/// Secrets Blocks.
public struct CaptureFile: Sendable {
    public private(set) var packets: [CapturedPacket] = []
    public private(set) var keyLog = TLSKeyLog()
    public let format: String

    public init(bytes: ByteBuffer) throws(CaptureError) {
        guard let magic = bytes.getInteger(at: bytes.readerIndex, endianness: .little, as: UInt32.self) else {
            throw CaptureError(description: "the file is too short to be a capture")
        }
        switch magic {
        case 0x0A0D_0D0A:
            format = "pcapng"
            try readPcapng(bytes)
        case 0xA1B2_C3D4, 0xD4C3_B2A1, 0xA1B2_3C4D, 0x4D3C_B2A1:
            format = "pcap"
            try readPcap(bytes)
        default:
            throw CaptureError(description: "not a pcap or pcapng file (starts with 0x\(String(magic, radix: 16)))")
        }
    }

    private mutating func readPcap(_ bytes: ByteBuffer) throws(CaptureError) {
        var buffer = bytes
        let raw = buffer.readInteger(endianness: .little, as: UInt32.self)!
        let endianness: Endianness = raw == 0xA1B2_C3D4 || raw == 0xA1B2_3C4D ? .little : .big
        let nanoseconds = raw == 0xA1B2_3C4D || raw == 0x4D3C_B2A1
        guard
            let (_, _, _, _, _, network) = buffer.readMultipleIntegers(
                endianness: endianness,
                as: (UInt16, UInt16, Int32, UInt32, UInt32, UInt32).self
            )
        else {
            throw CaptureError(description: "pcap header is truncated")
        }
        while buffer.readableBytes >= 16 {
            let (seconds, fraction, captured, _) = buffer.readMultipleIntegers(
                endianness: endianness,
                as: (UInt32, UInt32, UInt32, UInt32).self
            )!
            guard let data = buffer.readSlice(length: Int(captured)) else { break }
            let time = Double(seconds) + Double(fraction) / (nanoseconds ? 1e9 : 1e6)
            packets.append(CapturedPacket(time: time, linkType: network & 0x0FFF_FFFF, data: data))
        }
    }

    private mutating func readPcapng(_ bytes: ByteBuffer) throws(CaptureError) {
        var buffer = bytes
        var endianness: Endianness = .little
        var interfaces: [(linkType: UInt32, resolution: Double)] = []
        while buffer.readableBytes >= 12 {
            let start = buffer.readerIndex
            guard let type = buffer.getInteger(at: start, endianness: endianness, as: UInt32.self) else { break }
            if type == 0x0A0D_0D0A {
                // Section Header: its byte-order magic decides the section's endianness.
                guard let magic = buffer.getInteger(at: start + 8, endianness: .little, as: UInt32.self) else { break }
                endianness = magic == 0x1A2B_3C4D ? .little : .big
                interfaces = []
            }
            guard let length = buffer.getInteger(at: start + 4, endianness: endianness, as: UInt32.self), length >= 12,
                length % 4 == 0,
                Int(length) <= buffer.readableBytes, var body = buffer.getSlice(at: start + 8, length: Int(length) - 12)
            else {
                throw CaptureError(description: "pcapng block at byte \(start) has a bad length")
            }
            buffer.moveReaderIndex(forwardBy: Int(length))
            switch type {
            case 1:  // Interface Description
                guard
                    let (linkType, _, _) = body.readMultipleIntegers(
                        endianness: endianness,
                        as: (UInt16, UInt16, UInt32).self
                    )
                else { continue }
                var resolution = 1e-6
                // Options: if_tsresol (9).
                while let (code, optionLength) = body.readMultipleIntegers(
                    endianness: endianness,
                    as: (UInt16, UInt16).self
                ), code != 0 {
                    guard var value = body.readSlice(length: (Int(optionLength) + 3) & ~3) else { break }
                    if code == 9, let exponent = value.readInteger(as: UInt8.self) {
                        resolution = exponent & 0x80 == 0 ? pow10(-Int(exponent)) : pow2(-Int(exponent & 0x7F))
                    }
                }
                interfaces.append((UInt32(linkType), resolution))
            case 6:  // Enhanced Packet
                guard
                    let (interface, high, low, captured, _) = body.readMultipleIntegers(
                        endianness: endianness,
                        as: (UInt32, UInt32, UInt32, UInt32, UInt32).self
                    ),
                    Int(interface) < interfaces.count, let data = body.readSlice(length: Int(captured))
                else { continue }
                let ticks = UInt64(high) << 32 | UInt64(low)
                packets.append(
                    CapturedPacket(
                        time: Double(ticks) * interfaces[Int(interface)].resolution,
                        linkType: interfaces[Int(interface)].linkType,
                        data: data
                    )
                )
            case 3:  // Simple Packet
                guard let original = body.readInteger(endianness: endianness, as: UInt32.self),
                    let first = interfaces.first
                else { continue }
                let data = body.readSlice(length: min(Int(original), body.readableBytes))!
                packets.append(CapturedPacket(time: packets.last?.time ?? 0, linkType: first.linkType, data: data))
            case 10:  // Decryption Secrets
                guard
                    let (secretsType, secretsLength) = body.readMultipleIntegers(
                        endianness: endianness,
                        as: (UInt32, UInt32).self
                    ),
                    secretsType == 0x544C_534B, let text = body.readString(length: Int(secretsLength))
                else { continue }
                for line in text.split(whereSeparator: \.isNewline) { keyLog.add(line: String(line)) }
            default:
                continue
            }
        }
    }
}

func pow10(_ exponent: Int) -> Double {
    var value = 1.0
    for _ in 0..<abs(exponent) { value *= 10 }
    return exponent < 0 ? 1 / value : value
}

func pow2(_ exponent: Int) -> Double {
    var value = 1.0
    for _ in 0..<abs(exponent) { value *= 2 }
    return exponent < 0 ? 1 / value : value
}
