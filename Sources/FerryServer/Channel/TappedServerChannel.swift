import FerryTrace
public import HummingbirdCore
public import Logging
public import NIOCore
import NIOSSL

/// Wraps Hummingbird's TLS child channel so that the TLS tap sits before the TLS handler and a handshake
/// observer right after it, and registers the connection's record so request contexts can find it.
public struct TappedServerChannel<Base: ServerChildChannel>: ServerChildChannel {
    public typealias Value = Base.Value

    let base: Base
    let registry: ConnectionRegistry
    let flightRecorder: HandshakeFlightRecorder

    init(_ base: Base, registry: ConnectionRegistry, flightRecorder: HandshakeFlightRecorder) {
        self.base = base
        self.registry = registry
        self.flightRecorder = flightRecorder
    }

    public func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let record = TLSConnectionRecord(role: .server, keys: flightRecorder.keys)
        do {
            try channel.pipeline.syncOperations.addHandler(TLSTapHandler(record: record), position: .first)
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        registry.register(channel, record: record)
        let registry = self.registry
        let flightRecorder = self.flightRecorder
        channel.closeFuture.whenComplete { _ in
            registry.remove(channel)
            flightRecorder.connectionClosed(record)
        }
        return base.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let tls = try channel.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self)
            try channel.pipeline.syncOperations.addHandler(TLSHandshakeObserver(record: record), position: .after(tls))
            return value
        }
    }

    public func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}
