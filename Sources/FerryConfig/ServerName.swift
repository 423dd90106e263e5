import NIOCore

/// The name a client sends in SNI and checks the server's certificate against.
public enum ServerName {
    /// The name given (`--sni`, a target's `serverName`), else the host unless it is an IP address: SNI carries
    /// host names only (RFC 6066 §3), and an address is checked against the certificate's IP SANs instead.
    public static func forHost(_ host: String, given: String?) -> String? {
        given ?? ((try? SocketAddress(ipAddress: host, port: 0)) != nil ? nil : host)
    }
}
