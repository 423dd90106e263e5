import FerryTrace
import FerryWire
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// A real handshake through NIOSSL (BoringSSL) with the user's client certificate, recorded by the tap
/// and decrypted with the session keys, so a rejection after the handshake (TLS 1.3) is seen too.
enum HandshakeAttempt {
    struct Outcome: Sendable {
        let conversation: TLSConversation
        let error: String?
        let completed: Bool
    }

    static func run(host: String, port: Int, serverName: String?, configuration: TLSConfiguration) async -> Outcome {
        let keys = TLSKeyLogStore(capacity: 16)
        var configuration = configuration
        configuration.keyLogCallback = keys.callback
        let record = TLSConnectionRecord(role: .client, keys: keys)
        do {
            let context = try NIOSSLContext(configuration: configuration)
            let caught = NIOLockedValueBox<String?>(nil)
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.seconds(5))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let sync = channel.pipeline.syncOperations
                        try sync.addHandler(TLSTapHandler(record: record), position: .first)
                        try sync.addHandler(NIOSSLClientHandler(context: context, serverHostname: serverName))
                        try sync.addHandler(TLSHandshakeObserver(record: record))
                        try sync.addHandler(ErrorCatcher(caught))
                    }
                }
                .connect(host: host, port: port).get()
            // Wait for the handshake (or its failure), then a moment for a post-handshake rejection (TLS 1.3).
            for _ in 0..<100 {
                if record.snapshot.handshakeComplete || !channel.isActive { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            if record.snapshot.handshakeComplete && channel.isActive {
                // Send nothing; a server that rejects the client certificate after its Finished says so now.
                try? await Task.sleep(for: .milliseconds(300))
            }
            try? await channel.close()
            let error = caught.withLockedValue { $0 }
            return Outcome(conversation: record.recorder.conversation(), error: error, completed: record.snapshot.handshakeComplete && error == nil)
        } catch {
            return Outcome(conversation: record.recorder.conversation(), error: String(describing: error), completed: false)
        }
    }

    /// Keeps the first error the pipeline reports.
    final class ErrorCatcher: ChannelInboundHandler {
        typealias InboundIn = NIOAny
        let caught: NIOLockedValueBox<String?>

        init(_ caught: NIOLockedValueBox<String?>) {
            self.caught = caught
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            caught.withLockedValue { if $0 == nil { $0 = String(describing: error) } }
            context.close(promise: nil)
        }
    }
}
