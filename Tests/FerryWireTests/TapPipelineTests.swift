import FerryWire
import NIOCore
import NIOEmbedded
import NIOTLS
import Testing

@testable import FerryTrace

/// The tap and the handshake observer as handlers in a channel (NIO's `EmbeddedChannel`): bytes pass through
/// untouched, the record learns what the handshake negotiated, the recording stops after the handshake, and a
/// refused cipher suite closes the connection.
@Suite("The tap and the observer in a pipeline")
struct TapPipelineTests {
    /// A client hello and the server's answer, as bytes on the wire.
    static let clientHello = TLSTapTests.record(
        22,
        version: 0x0301,
        TLSTapTests.handshake(
            1,
            [0x03, 0x03] + Array(repeating: 0x55, count: 32) + [0] + [0x00, 0x02, 0x13, 0x01] + [1, 0]
        )
    )

    /// The tap first (raw bytes), a stand-in for the TLS handler's events, the observer after it.
    static func pipeline(
        suiteRefusal: @escaping @Sendable (UInt16, String) -> String? = { _, _ in nil }
    ) throws -> (EmbeddedChannel, TLSConnectionRecord, Completions) {
        let record = TLSConnectionRecord(role: .server)
        let completions = Completions()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(TLSTapHandler(record: record))
        try channel.pipeline.syncOperations.addHandler(
            TLSHandshakeObserver(record: record, suiteRefusal: suiteRefusal) { _ in completions.count += 1 }
        )
        // Connected, so that a close is visible as the channel going inactive.
        try channel.connect(to: SocketAddress(ipAddress: "192.0.2.1", port: 443)).wait()
        #expect(channel.isActive)
        return (channel, record, completions)
    }

    final class Completions: @unchecked Sendable {
        var count = 0
    }

    @Test(
        "bytes pass through both ways unchanged, fed whole or a byte at a time, and the record learns version and suite",
        arguments: [1, 7, 10_000]
    )
    func passThrough(step: Int) throws {
        let (channel, record, _) = try Self.pipeline()
        defer { _ = try? channel.finish() }
        var inbound: [UInt8] = []
        for start in stride(from: 0, to: Self.clientHello.count, by: step) {
            try channel.writeInbound(
                ByteBuffer(bytes: Self.clientHello[start..<min(start + step, Self.clientHello.count)])
            )
        }
        while let buffer = try channel.readInbound(as: ByteBuffer.self) { inbound += Array(buffer.readableBytesView) }
        #expect(inbound == Self.clientHello)
        let serverHello = TLSTapTests.tls13ServerHello()
        try channel.writeOutbound(ByteBuffer(bytes: serverHello))
        #expect(try channel.readOutbound(as: ByteBuffer.self).map { Array($0.readableBytesView) } == serverHello)
        #expect(record.snapshot.version == .tls13)
        #expect(record.snapshot.cipherSuite == TLSCipherSuite(rawValue: 0x1301))
        #expect(record.recorder.chunks.map(\.direction).last == .serverToClient)
        #expect(record.recorder.conversation().clientHello?.cipherSuites == [TLSCipherSuite(rawValue: 0x1301)])
    }

    @Test(
        "the handshake's end is recorded once (ALPN, no certificate without a TLS handler), the event goes on, and the recording stops soon after"
    )
    func completion() throws {
        let (channel, record, completions) = try Self.pipeline()
        defer { _ = try? channel.finish() }
        try channel.writeInbound(ByteBuffer(bytes: Self.clientHello))
        try channel.writeOutbound(ByteBuffer(bytes: TLSTapTests.tls13ServerHello()))
        let forwarded = EventCatcher()
        try channel.pipeline.syncOperations.addHandler(forwarded)
        channel.pipeline.fireUserInboundEventTriggered(TLSUserEvent.handshakeCompleted(negotiatedProtocol: "h2"))
        #expect(record.snapshot.handshakeComplete && record.snapshot.applicationProtocol == "h2")
        #expect(record.snapshot.peerCertificateDER == nil)
        #expect(completions.count == 1)
        #expect(forwarded.events == 1, "the observer passes the event on")
        // Application data after the handshake: a few chunks are kept, then none, whatever the volume.
        for _ in 0..<20 {
            try channel.writeInbound(ByteBuffer(bytes: Array(repeating: 0x17, count: 100)))
            try channel.writeOutbound(ByteBuffer(bytes: Array(repeating: 0x17, count: 100)))
        }
        while try channel.readInbound(as: ByteBuffer.self) != nil {}
        while try channel.readOutbound(as: ByteBuffer.self) != nil {}
        #expect(
            record.recorder.chunks.count <= 2 + TLSTapHandler.chunksKeptAfterHandshake,
            "\(record.recorder.chunks.count)"
        )
        #expect(channel.isActive)
    }

    @Test("a cipher suite the policy refuses closes the connection once the handshake ends, with the reason recorded")
    func refusedSuite() throws {
        let (channel, record, _) = try Self.pipeline { code, name in
            code == 0x1301 ? "\(name) is not allowed by this profile" : nil
        }
        try channel.writeInbound(ByteBuffer(bytes: Self.clientHello))
        try channel.writeOutbound(ByteBuffer(bytes: TLSTapTests.tls13ServerHello()))
        channel.pipeline.fireUserInboundEventTriggered(TLSUserEvent.handshakeCompleted(negotiatedProtocol: nil))
        #expect(!channel.isActive)
        #expect(record.snapshot.policyRefusal == "TLS_AES_128_GCM_SHA256 is not allowed by this profile")
    }

    final class EventCatcher: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = NIOAny
        var events = 0
        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if event is TLSUserEvent { events += 1 }
        }
    }
}
