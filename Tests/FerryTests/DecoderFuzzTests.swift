import FerryTrace
import FerryWire
import Foundation
import NIOCore
import Testing

/// A long property-based run over the decoder: real handshakes and capture files, mutated (bit flips,
/// interesting bytes, length fields, truncation, duplication, insertion) and fed in random slices. Nothing may
/// crash, hang or loop. More iterations: `FERRY_FUZZ_ITERATIONS=200000 swift test --filter DecoderFuzz`.
/// The libFuzzer target over the same entry point is in `Fuzz/` (see docs/trace.md).
@Suite("Decoder fuzzing (property-based)", .timeLimit(.minutes(10)))
struct DecoderFuzzTests {
    static var iterations: Int {
        ProcessInfo.processInfo.environment["FERRY_FUZZ_ITERATIONS"].flatMap(Int.init) ?? 4000
    }

    /// A different seed explores other mutations: `FERRY_FUZZ_SEED=7`.
    static var seed: UInt64 {
        ProcessInfo.processInfo.environment["FERRY_FUZZ_SEED"].flatMap(UInt64.init) ?? 0
    }

    /// SplitMix64: a fixed seed makes every run reproducible.
    struct Random: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static func mutate(_ input: [UInt8], _ random: inout Random) -> [UInt8] {
        var bytes = input
        for _ in 0..<Int.random(in: 1...4, using: &random) {
            guard !bytes.isEmpty else { break }
            let at = Int.random(in: 0..<bytes.count, using: &random)
            switch Int.random(in: 0..<6, using: &random) {
            case 0: bytes[at] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &random)
            case 1: bytes[at] = [0x00, 0xFF, 0x7F, 0x80, 0x01, 0x16, 0x03][Int.random(in: 0..<7, using: &random)]
            case 2:  // a length field: two bytes set to something large, small or off by one
                if at + 1 < bytes.count {
                    let value = [0xFFFF, 0, 1, Int(bytes[at]) << 8 | Int(bytes[at + 1]) + 1, 0x4000][
                        Int.random(in: 0..<5, using: &random)
                    ]
                    bytes[at] = UInt8(truncatingIfNeeded: value >> 8)
                    bytes[at + 1] = UInt8(truncatingIfNeeded: value)
                }
            case 3: bytes.removeLast(Int.random(in: 0...(bytes.count - at), using: &random))
            case 4:
                let end = min(bytes.count, at + Int.random(in: 1...64, using: &random))
                bytes.insert(contentsOf: bytes[at..<end], at: at)
            default:
                bytes.insert(
                    contentsOf: (0..<Int.random(in: 1...16, using: &random)).map { _ in
                        UInt8.random(in: 0...255, using: &random)
                    },
                    at: at
                )
            }
        }
        return bytes
    }

    /// Feeds both directions in random slices and renders every format.
    static func exercise(client: [UInt8], server: [UInt8], _ random: inout Random) {
        var conversation = TLSConversation()
        var offsets = (client: 0, server: 0)
        var time = 0.0
        while offsets.client < client.count || offsets.server < server.count {
            let fromClient =
                offsets.server >= server.count || (offsets.client < client.count && Bool.random(using: &random))
            let source = fromClient ? client : server
            let start = fromClient ? offsets.client : offsets.server
            let end = min(source.count, start + Int.random(in: 1...300, using: &random))
            conversation.feed(
                ByteBuffer(bytes: source[start..<end]),
                from: fromClient ? .clientToServer : .serverToClient,
                at: time
            )
            time += 0.001
            if fromClient { offsets.client = end } else { offsets.server = end }
        }
        for format in TLSTraceRenderer.Format.allCases {
            _ = TLSTraceRenderer().render(conversation, format: format)
        }
    }

    @Test("mutated handshakes never crash or hang the decoder")
    func handshakes() {
        var random = Random(state: 0xF3_22 ^ Self.seed)
        let seeds = [
            (WireDecoderTests.legacyClientHello, WireDecoderTests.sslv3ServerFlight + WireDecoderTests.systemSSLAlert),
            (WireDecoderTests.tls13ClientHello, WireDecoderTests.sslv3ServerFlight),
        ]
        for iteration in 0..<Self.iterations {
            let (client, server) = seeds[iteration % seeds.count]
            Self.exercise(client: Self.mutate(client, &random), server: Self.mutate(server, &random), &random)
        }
    }

    @Test("mutated capture files never crash or hang the reader and reassembly")
    func captures() {
        var random = Random(state: 0xCA_97 ^ Self.seed)
        var writer = PcapngWriter()
        writer.client = TCPEndpoint(address: "10.0.0.1", port: 40000)
        let file = writer.file(
            chunks: [
                (.clientToServer, 1.0, ByteBuffer(bytes: WireDecoderTests.legacyClientHello)),
                (.serverToClient, 1.1, ByteBuffer(bytes: WireDecoderTests.sslv3ServerFlight)),
            ],
            keyLog: TLSKeyLog(
                text: "CLIENT_RANDOM " + String(repeating: "ab", count: 32) + " " + String(repeating: "cd", count: 48)
            )
        )
        let seed = Array(file.readableBytesView)
        // The unmutated file decodes to the connection it holds.
        let clean = try? CaptureFile(bytes: ByteBuffer(bytes: seed))
        #expect(clean.map { CaptureTrace(file: $0).connections.compactMap(\.conversation).first?.version } == .ssl3)
        for _ in 0..<Self.iterations / 4 {
            let bytes = Self.mutate(seed, &random)
            guard let capture = try? CaptureFile(bytes: ByteBuffer(bytes: bytes)) else { continue }
            for connection in CaptureTrace(file: capture).connections {
                if let conversation = connection.conversation {
                    _ = TLSTraceRenderer().render(conversation, format: .verbose)
                }
            }
        }
    }
}
