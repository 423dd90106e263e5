import Benchmark
import Crypto
import FerryProtocol
import FerryTrace
import FerryWire
import NIOCore
import NIOEmbedded
import NIOTLS

/// Ferry's hot paths, one benchmark each: decoding a ClientHello record, SHA-256 over a stream of chunks,
/// path normalisation, and what the handshake tap costs per record once the handshake is over (against the
/// same pipeline without it).
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .throughput],
        maxDuration: .seconds(2)
    )

    let hello = ClientHelloBuilder(
        version: .tls13,
        random: Array(repeating: 7, count: 32),
        serverName: "files.example",
        x25519PublicKey: Array(repeating: 9, count: 32)
    ).record()
    Benchmark("decode a ClientHello record (TLSConversation.feed)") { benchmark in
        for _ in benchmark.scaledIterations {
            var conversation = TLSConversation()
            blackHole(conversation.feed(hello, from: .clientToServer, at: 0))
        }
    }

    let chunk = ByteBuffer(repeating: 0x5A, count: 256 << 10)
    Benchmark("SHA-256 of 16 MiB in 256 KiB ByteBuffer chunks", configuration: .init(scalingFactor: .one)) {
        benchmark in
        for _ in benchmark.scaledIterations {
            var hasher = SHA256()
            for _ in 0..<64 {
                chunk.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
            }
            blackHole(hasher.finalize())
        }
    }

    // The same 16 MiB through the SHA-256 whose state can travel between nodes (object-store uploads only).
    Benchmark("ResumableSHA256 of 16 MiB in 256 KiB ByteBuffer chunks", configuration: .init(scalingFactor: .one)) {
        benchmark in
        for _ in benchmark.scaledIterations {
            var hasher = ResumableSHA256()
            for _ in 0..<64 { hasher.update(chunk) }
            blackHole(hasher.finalize())
        }
    }

    Benchmark("normalise a percent-encoded partner path") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try? PartnerPath(encoded: "inbound/2026/11/29/invoices%20batch%2042/part-0007.csv"))
        }
    }

    /// A pipeline after the handshake, with or without the tap in front; each iteration passes a 16 KiB
    /// record-sized buffer through it.
    func pipeline(tap: Bool) throws -> EmbeddedChannel {
        let record = TLSConnectionRecord(role: .server)
        let channel = EmbeddedChannel()
        if tap { try channel.pipeline.syncOperations.addHandler(TLSTapHandler(record: record)) }
        try channel.pipeline.syncOperations.addHandler(TLSHandshakeObserver(record: record))
        try channel.writeInbound(hello)
        _ = try channel.readInbound(as: ByteBuffer.self)
        channel.pipeline.syncOperations.fireUserInboundEventTriggered(
            TLSUserEvent.handshakeCompleted(negotiatedProtocol: nil)
        )
        // The chunks the tap keeps after the handshake, so that what follows is its steady state.
        for _ in 0..<8 {
            try channel.writeInbound(hello)
            _ = try channel.readInbound(as: ByteBuffer.self)
        }
        return channel
    }
    let payload = ByteBuffer(repeating: 0x17, count: 16 << 10)
    for tap in [true, false] {
        Benchmark(tap ? "16 KiB read through the tap after the handshake" : "16 KiB read without the tap (baseline)") {
            benchmark in
            let channel = try pipeline(tap: tap)
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                try channel.writeInbound(payload)
                blackHole(try channel.readInbound(as: ByteBuffer.self))
            }
            benchmark.stopMeasurement()
            _ = try channel.finish()
        }
    }
}
