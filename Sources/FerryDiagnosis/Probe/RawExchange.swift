import FerryWire
import NIOCore
import NIOPosix

/// One TCP connection that sends bytes Ferry built itself and collects what the server answers, until a
/// condition holds, the server closes, or time runs out.
struct RawExchange {
    enum Failure: Error, Sendable, CustomStringConvertible {
        case connect(String)
        var description: String {
            switch self {
            case .connect(let why): return why
            }
        }
    }

    struct Outcome: Sendable {
        var chunks: [(direction: TLSDirection, time: Double, bytes: ByteBuffer)] = []
        var closedByServer = false
        var timedOut = false
    }

    /// Sends `hello` and reads until `done(outcome)` is true, the server closes, or `timeout` passes.
    static func run(
        host: String,
        port: Int,
        hello: ByteBuffer,
        connectTimeout: TimeAmount,
        timeout: Duration,
        done: @escaping @Sendable (Outcome) -> Bool
    ) async throws -> Outcome {
        let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(connectTimeout)
                .connect(host: host, port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw Failure.connect(describe(error))
        }
        let started = ContinuousClock.now
        func now() -> Double {
            let elapsed = ContinuousClock.now - started
            return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        }
        let underlying = channel.channel
        do {
            return try await exchange(
                channel,
                underlying: underlying,
                hello: hello,
                timeout: timeout,
                started: started,
                now: now,
                done: done
            )
        } catch {
            // Not a connection failure: the connection broke during the exchange.
            var outcome = Outcome()
            outcome.chunks.append((.clientToServer, 0, hello))
            outcome.closedByServer = true
            return outcome
        }
    }

    private static func exchange(
        _ channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>,
        underlying: any Channel,
        hello: ByteBuffer,
        timeout: Duration,
        started: ContinuousClock.Instant,
        now: () -> Double,
        done: @escaping @Sendable (Outcome) -> Bool
    ) async throws -> Outcome {
        try await channel.executeThenClose { inbound, outbound in
            var outcome = Outcome()
            outcome.chunks.append((.clientToServer, 0, hello))
            // A server that speaks first and hangs up (a banner) may close before the hello is written:
            // what it sent is still there to read.
            try? await outbound.write(hello)
            let timer = Task {
                try? await Task.sleep(for: timeout)
                if !Task.isCancelled { underlying.close(promise: nil) }
            }
            defer { timer.cancel() }
            do {
                for try await bytes in inbound {
                    outcome.chunks.append((.serverToClient, now(), bytes))
                    if done(outcome) { return outcome }
                }
                if timer.isCancelled == false && ContinuousClock.now - started >= timeout {
                    outcome.timedOut = true
                } else {
                    outcome.closedByServer = true
                }
            } catch {
                outcome.closedByServer = true
            }
            return outcome
        }
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? NIOConnectionError, let first = error.connectionErrors.first {
            return "\(first.error)"
        }
        if let error = error as? ChannelError, case .connectTimeout = error { return "connection timed out" }
        return String(describing: error)
    }
}
