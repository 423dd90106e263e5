import FerryConfig
import FerryTrace
import HTTPTypes
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTPTypes

/// The first handler of every connection, below TLS: it closes a connection that has not completed its TLS
/// handshake within the deadline, and one that moves fewer than `minimumBytes` in either direction during a
/// whole window (a silent or trickling peer, slowloris headers, a body sent one byte a second, a download the
/// peer never reads, or a keep-alive connection left idle). Counting costs two additions per buffer.
final class ConnectionGuard: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let limits: FerryConfiguration.ConnectionLimits
    let record: TLSConnectionRecord
    private var read = 0
    private var written = 0
    /// Whether the channel was writable for some time of this window (a peer that reads nothing keeps it
    /// unwritable, so bytes handed to the socket then do not count as progress).
    private var wasWritable = true
    private var deadline: Scheduled<Void>?
    private var window: Scheduled<Void>?
    /// Requests read whole and not yet answered: while the server owes an answer, a quiet window is the server's
    /// work (a digest, a listing), not a stalled peer, and does not close the connection.
    private var owed = 0

    init(limits: FerryConfiguration.ConnectionLimits, record: TLSConnectionRecord) {
        self.limits = limits
        self.record = record
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stop()
    }

    func channelInactive(context: ChannelHandlerContext) {
        stop()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        read &+= Self.unwrapInboundIn(data).readableBytes
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        written &+= Self.unwrapOutboundIn(data).readableBytes
        context.write(data, promise: promise)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { wasWritable = true }
        context.fireChannelWritabilityChanged()
    }

    private func start(_ context: ChannelHandlerContext) {
        guard deadline == nil, window == nil else { return }
        let loop = context.eventLoop.assumeIsolated()
        let handshake = limits.handshakeTimeout
        deadline = loop.scheduleTask(in: .nanoseconds(Int64(handshake * 1e9))) { [record] in
            guard !record.snapshot.handshakeComplete else { return }
            record.refuse(
                "the TLS handshake did not complete within \(Self.seconds(handshake)) (server.limits.handshake-timeout)"
            )
            context.close(promise: nil)
        }
        scheduleWindow(context)
    }

    /// Checks, at the end of each window, that the connection moved enough bytes; closes it when not.
    private func scheduleWindow(_ context: ChannelHandlerContext) {
        let period = TimeAmount.nanoseconds(Int64(limits.stallTimeout * 1e9))
        window = context.eventLoop.assumeIsolated().scheduleTask(in: period) { [self] in
            let moved =
                owed > 0 || read >= limits.minimumBytes
                || (written >= limits.minimumBytes && (wasWritable || context.channel.isWritable))
            read = 0
            written = 0
            wasWritable = context.channel.isWritable
            guard moved else {
                window = nil
                if !record.snapshot.handshakeComplete {
                    record.refuse(
                        "fewer than \(limits.minimumBytes) bytes moved in \(Self.seconds(limits.stallTimeout)) during the handshake (server.limits.stall-timeout)"
                    )
                }
                context.close(promise: nil)
                return
            }
            scheduleWindow(context)
        }
    }

    /// Called on the event loop by `ResponseDebt` as requests end and answers start.
    func owe(_ change: Int) { owed = max(0, owed + change) }

    private func stop() {
        deadline?.cancel()
        deadline = nil
        window?.cancel()
        window = nil
    }

    static func seconds(_ value: Double) -> String {
        value == value.rounded() ? "\(Int(value)) s" : "\(value) s"
    }
}

@available(*, unavailable)
extension ConnectionGuard: Sendable {}

/// Tells the connection's guard when the quiet is the server's: from the end of a request until the head of its
/// final response (it owes an answer), and while it holds back reading a request body it is in the middle of (it
/// asked for no more: the storage it writes to makes it wait). A peer is stalled only when the server asked for bytes
/// and none came. It sits in each HTTP/1.1 connection and each HTTP/2 stream (whose guard is the parent's).
final class ResponseDebt: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private var ended = 0
    private var answered = 0
    private var reported = 0
    /// A request's head came and its end has not.
    private var inBody = false
    /// The server asked for more bytes and has not had them yet.
    private var readPending = false
    private var connectionGuard: ConnectionGuard?
    /// HTTP/1.1: how long a keep-alive connection may wait between requests (nil on an HTTP/2 stream, whose
    /// connection closes itself when it has no streams); and the close that is due.
    private let idleTimeout: TimeAmount?
    private var idleClose: Scheduled<Void>?

    init(idleTimeout: TimeAmount? = nil) {
        self.idleTimeout = idleTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // An HTTP/1.1 connection holds its guard; an HTTP/2 stream's parent does (on the same event loop).
        connectionGuard = try? context.pipeline.syncOperations.handler(type: ConnectionGuard.self)
        if connectionGuard == nil, let parent = context.channel.parent, parent.eventLoop === context.eventLoop {
            connectionGuard = try? parent.pipeline.syncOperations.handler(type: ConnectionGuard.self)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        connectionGuard?.owe(-reported)
        reported = 0
        idleClose?.cancel()
        idleClose = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head:
            inBody = true
            idleClose?.cancel()
            idleClose = nil
        case .end:
            inBody = false
            ended += 1
        case .body:
            break
        }
        report()
        context.fireChannelRead(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        readPending = false
        report()
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        readPending = true
        report()
        context.read()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch Self.unwrapOutboundIn(data) {
        case .head(let response) where response.status.kind != .informational:
            answered += 1
            report()
        case .end:
            // Every request answered and none begun: the keep-alive wait starts. (Hummingbird's own idle timer is
            // off: it also cut a request whose body the server held back reading for longer than the timeout.)
            if let idleTimeout, !inBody, ended == answered, idleClose == nil {
                let loop = context.eventLoop.assumeIsolated()
                idleClose = loop.scheduleTask(in: idleTimeout) { [weak self] in
                    self?.idleClose = nil
                    context.close(promise: nil)
                }
            }
        default:
            break
        }
        context.write(data, promise: promise)
    }

    /// An answer that starts before its request ends (an early refusal) owes nothing.
    private func report() {
        let owed = max(0, ended - answered) + (inBody && !readPending ? 1 : 0)
        connectionGuard?.owe(owed - reported)
        reported = owed
    }
}

@available(*, unavailable)
extension ResponseDebt: Sendable {}

/// Counts open connections, in all and per source address, so that one client (or a crowd) cannot take every
/// file descriptor.
final class ConnectionCounter: Sendable {
    let limits: FerryConfiguration.ConnectionLimits
    private let state = NIOLockedValueBox((total: 0, bySource: [String: Int]()))
    /// Refusals since the last log line, and when that was: under a flood one line per 10 s says how many.
    private let refusals = NIOLockedValueBox((count: 0, logged: NIODeadline.distantPast))

    /// The number of refusals to log now (with the one just made), or `nil` to stay quiet.
    func refusalToLog() -> Int? {
        refusals.withLockedValue { state in
            state.count += 1
            let now = NIODeadline.now()
            guard now - state.logged >= .seconds(10) else { return nil }
            defer { state = (0, now) }
            return state.count
        }
    }

    init(limits: FerryConfiguration.ConnectionLimits) {
        self.limits = limits
    }

    /// Admits a connection from `source`, or says why not. An admitted connection must be released once.
    func admit(source: String) -> String? {
        state.withLockedValue { state in
            if state.total >= limits.maximumConnections {
                return
                    "the server holds its maximum of \(limits.maximumConnections) connections (server.limits.max-connections)"
            }
            let fromSource = state.bySource[source, default: 0]
            if fromSource >= limits.maximumPerSource {
                return
                    "\(source) holds the maximum of \(limits.maximumPerSource) connections per address (server.limits.max-connections-per-address)"
            }
            state.total += 1
            state.bySource[source] = fromSource + 1
            return nil
        }
    }

    func release(source: String) {
        state.withLockedValue { state in
            state.total -= 1
            let left = state.bySource[source, default: 1] - 1
            state.bySource[source] = left > 0 ? left : nil
        }
    }

    var open: Int { state.withLockedValue { $0.total } }
}
