public import FerryTrace
public import Hummingbird
public import NIOCore

/// The request context: Hummingbird's core storage plus the TLS facts of the request's connection.
public struct FerryRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The connection's TLS record (version, cipher, peer certificate).
    public let connection: TLSConnectionRecord?
    /// The channel the request arrived on (for HTTP/2, its stream).
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
        self.connection = FerryRequestContext.registry.record(for: source.channel)
    }

    /// The registry of the running server's connections.
    ///
    /// Hummingbird builds contexts from the channel alone, so the registry is process-wide; it is keyed by channel
    /// identity, so several servers in one process (tests) share it safely.
    static let registry = ConnectionRegistry()
}
