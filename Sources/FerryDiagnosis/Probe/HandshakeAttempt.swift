import FerryTLS
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

    /// How long the handshake may take before it counts as stalled.
    static let waitSeconds = 5.0

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
            for _ in 0..<Int(waitSeconds * 20) {
                if record.snapshot.handshakeComplete || !channel.isActive { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            if record.snapshot.handshakeComplete && channel.isActive {
                // Send nothing; a server that rejects the client certificate after its Finished says so now.
                try? await Task.sleep(for: .milliseconds(300))
            }
            let completed = record.snapshot.handshakeComplete
            let stillOpen = channel.isActive
            // The error as it stands before this side closes: a server that closes TCP after the close_notify
            // sent below (nginx) has not failed anything. After a completed handshake, only an alert counts.
            var error = caught.withLockedValue { $0 }
            if completed, let text = error, text.contains("uncleanShutdown") || text.contains("EOF during") {
                error = nil
            }
            error = error.map(Self.plain)
            try? await channel.close()
            // A handshake that neither completed nor failed with an error: the server's answer stopped (a stalled
            // relay, a server that hangs) or the connection closed without an alert. Either is a failure.
            if !completed && error == nil {
                error =
                    stillOpen
                    ? "the handshake did not complete within \(Int(waitSeconds)) s: the server's answer stopped"
                    : Self.closedEarly
            }
            return Outcome(
                conversation: record.recorder.conversation(),
                error: error,
                completed: completed && error == nil
            )
        } catch {
            return Outcome(
                conversation: record.recorder.conversation(),
                error: Self.plain(Self.describe(error)),
                completed: false
            )
        }
    }

    static let closedEarly = "the connection closed before the handshake completed, without an alert"

    /// BoringSSL's words for a connection that ended mid-handshake, in the report's words.
    static func plain(_ error: String) -> String {
        error.contains("EOF during handshake") || error.contains("uncleanShutdown")
            ? closedEarly : TLSErrorText.plain(error)
    }

    /// A connection error's first cause, in plain words.
    static func describe(_ error: any Error) -> String {
        if let error = error as? NIOConnectionError, let first = error.connectionErrors.first {
            return TLSErrorText.plain(first.error)
        }
        return TLSErrorText.plain(error)
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
