public import FerryConfig
public import FerryProtocol
import Foundation

/// Where a command points: a server (host, port) and a path in the partner's view of it.
///
/// Written as `https://host:port/path` (the path may include the `/v1/files` prefix or not) or
/// `PARTNER:path` with the partner's URL from the configuration.
public struct RemoteTarget: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var path: PartnerPath
    /// The configured partner, when the target named one.
    public var partner: String?
    /// The name sent in SNI and checked against the server's certificate, when it differs from `host`
    /// (`--sni`); nil: the host, unless it is an IP address.
    public var serverName: String?

    public init(host: String, port: Int, path: PartnerPath, partner: String? = nil) {
        self.host = host
        self.port = port
        self.path = path
        self.partner = partner
    }

    /// Parses a target as typed on the command line.
    public static func parse(_ text: String, configuration: FerryConfiguration) throws -> RemoteTarget {
        if text.hasPrefix("https://") {
            return try parseURL(text, partner: nil)
        }
        if text.hasPrefix("http://") {
            throw TransferError(
                .usage,
                "'\(text)' is plain HTTP; Ferry only speaks HTTPS with mutual TLS. Use https://"
            )
        }
        guard let colon = text.firstIndex(of: ":") else {
            throw TransferError(.usage, "'\(text)' is not a target: use https://HOST:PORT/PATH or PARTNER:PATH")
        }
        let name = String(text[..<colon])
        guard let partner = configuration.partners[name] else {
            let known = configuration.partners.keys.sorted()
            throw TransferError(
                .usage,
                "no partner '\(name)' in the configuration"
                    + (known.isEmpty
                        ? "; define partners.\(name).url in the config file"
                        : " (known: \(known.joined(separator: ", ")))")
            )
        }
        guard let url = partner.url else {
            throw TransferError(.usage, "partner '\(name)' has no url; set partners.\(name).url to https://HOST:PORT")
        }
        var base = try parseURL(url, partner: name)
        let rest = String(text[text.index(after: colon)...])
        let joined = (base.path.relative.isEmpty ? "" : base.path.relative + "/") + rest.drop(while: { $0 == "/" })
        base.path = try pathFrom(plain: joined)
        return base
    }

    static func parseURL(_ text: String, partner: String?) throws -> RemoteTarget {
        let rest = text.dropFirst("https://".count)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<slash]
        var pathText = String(rest[slash...])
        if let query = pathText.firstIndex(where: { $0 == "?" || $0 == "#" }) { pathText = String(pathText[..<query]) }
        var host: String
        var port = 443
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") {
                guard let value = Int(after.dropFirst()) else { throw TransferError(.usage, "bad port in '\(text)'") }
                port = value
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            guard let value = Int(authority[authority.index(after: colon)...]) else {
                throw TransferError(.usage, "bad port in '\(text)'")
            }
            port = value
        } else {
            host = String(authority)
        }
        guard !host.isEmpty else { throw TransferError(.usage, "no host in '\(text)'") }
        var encoded = Substring(pathText.drop(while: { $0 == "/" }))
        let api = FerryAPI.files.dropFirst()
        for prefix in [api + "/", api] where encoded.hasPrefix(prefix) {
            encoded = encoded.dropFirst(prefix.count)
            break
        }
        do {
            return RemoteTarget(host: host, port: port, path: try PartnerPath(encoded: encoded), partner: partner)
        } catch {
            throw TransferError(.usage, error.description)
        }
    }

    static func pathFrom(plain: String) throws -> PartnerPath {
        do {
            return try PartnerPath(plain: plain)
        } catch {
            throw TransferError(.usage, error.description)
        }
    }

    /// The request target for this path.
    public var requestPath: String { FerryAPI.file(path) }

    /// The file's URL, as the ledger records it.
    public var url: String { "https://\(authority)\(requestPath)" }

    /// `host:port`, with brackets for IPv6.
    public var authority: String { (host.contains(":") ? "[\(host)]" : host) + ":\(port)" }
}
