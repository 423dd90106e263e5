import FerryConfig
import FerryTrace
import HTTPTypes
import NIOCore
import NIOEmbedded
import NIOHTTPTypes
import Testing

@testable import FerryServer

/// The stall rule blames the peer only for quiet it caused: a connection is cut when the server asked for bytes and
/// none came, never while the server holds back reading a body (its storage makes it wait) or owes an answer.
@Suite("Connection guard")
struct ConnectionGuardTests {
    static func channel() throws -> EmbeddedChannel {
        var limits = FerryConfiguration.ConnectionLimits()
        limits.handshakeTimeout = 10_000
        limits.stallTimeout = 30
        limits.minimumBytes = 1024
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(
            ConnectionGuard(limits: limits, record: TLSConnectionRecord(role: .server))
        )
        try channel.pipeline.syncOperations.addHandler(DropWrites())
        try channel.pipeline.syncOperations.addHandler(ResponseDebt(idleTimeout: .seconds(5)))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    /// A part arriving at the HTTP layer (what the decoder below would pass up), then the end of that read.
    static func arrive(_ part: HTTPRequestPart, on channel: EmbeddedChannel) throws {
        let context = try channel.pipeline.syncOperations.context(handlerType: ConnectionGuard.self)
        context.fireChannelRead(NIOAny(part))
        context.fireChannelReadComplete()
    }

    static let head = HTTPRequestPart.head(
        HTTPRequest(method: .put, scheme: "https", authority: "ferry", path: "/v1/files/in/a.bin")
    )

    @Test(
        "a body the server holds back from reading for minutes keeps its connection; once it asks again, the peer's quiet counts"
    )
    func heldBody() throws {
        let channel = try Self.channel()
        try Self.arrive(Self.head, on: channel)
        try Self.arrive(.body(ByteBuffer(repeating: 1, count: 100)), on: channel)
        // No read asked for: the server is waiting for its storage.
        channel.embeddedEventLoop.advanceTime(by: .seconds(300))
        #expect(channel.isActive, "the server's own wait must not cut the partner")
        // The server asks for more, and the peer sends nothing.
        channel.read()
        channel.embeddedEventLoop.advanceTime(by: .seconds(61))
        #expect(!channel.isActive, "a peer that sends nothing when asked is cut")
    }

    @Test(
        "HTTP/1.1 keep-alive: idle-timeout after the last answer closes the connection; a new request stops the clock"
    )
    func keepAlive() throws {
        let channel = try Self.channel()
        func exchange() throws {
            try Self.arrive(Self.head, on: channel)
            try Self.arrive(.end(nil), on: channel)
            channel.write(HTTPResponsePart.head(HTTPResponse(status: .ok)), promise: nil)
            channel.write(HTTPResponsePart.end(nil), promise: nil)
        }
        try exchange()
        channel.embeddedEventLoop.advanceTime(by: .seconds(4))
        try exchange()
        channel.embeddedEventLoop.advanceTime(by: .seconds(4))
        #expect(channel.isActive, "each answer starts the idle clock again")
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!channel.isActive, "idle for 5 s after the last answer")
    }

    @Test("a peer that sends a head and then nothing while the server asks for its body is cut within two windows")
    func silentPeer() throws {
        let channel = try Self.channel()
        try Self.arrive(Self.head, on: channel)
        channel.read()
        channel.embeddedEventLoop.advanceTime(by: .seconds(61))
        #expect(!channel.isActive)
    }
}

/// Stands for the TLS and socket layers below HTTP in these tests: answers go no further.
final class DropWrites: ChannelOutboundHandler {
    typealias OutboundIn = HTTPResponsePart
    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        promise?.succeed()
    }
}
