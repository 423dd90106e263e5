import FerryTestSupport
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

    /// Feeds both directions in random slices and renders every format.
    static func exercise(client: [UInt8], server: [UInt8], _ random: inout Mutation.Random) {
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
    func handshakes() async {
        var random = Mutation.Random(state: 0xF3_22 ^ Mutation.seed)
        let seeds = [
            (WireDecoderTests.legacyClientHello, WireDecoderTests.sslv3ServerFlight + WireDecoderTests.systemSSLAlert),
            (WireDecoderTests.tls13ClientHello, WireDecoderTests.sslv3ServerFlight),
        ]
        for iteration in 0..<Mutation.iterations {
            let (client, server) = seeds[iteration % seeds.count]
            Self.exercise(client: Mutation.mutate(client, &random), server: Mutation.mutate(server, &random), &random)
            await Mutation.pause(after: iteration)
        }
    }

    @Test("mutated capture files never crash or hang the reader and reassembly")
    func captures() async {
        var random = Mutation.Random(state: 0xCA_97 ^ Mutation.seed)
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
        for iteration in 0..<Mutation.iterations / 4 {
            await Mutation.pause(after: iteration)
            let bytes = Mutation.mutate(seed, &random)
            guard let capture = try? CaptureFile(bytes: ByteBuffer(bytes: bytes)) else { continue }
            for connection in CaptureTrace(file: capture).connections {
                if let conversation = connection.conversation {
                    _ = TLSTraceRenderer().render(conversation, format: .verbose)
                }
            }
        }
    }
}
