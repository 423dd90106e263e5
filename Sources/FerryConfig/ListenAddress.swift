/// Parses `HOST:PORT` and `[IPv6]:PORT`, the form of `server.listen` and of `ferry diagnose`'s target.
public enum ListenAddress {
    public static func parse(_ text: String) throws -> (host: String, port: Int) {
        var host: Substring
        var portText: Substring
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw ConfigError("listen: '\(text)' needs a port, e.g. [::1]:8443") }
            portText = rest.dropFirst()
        } else if let colon = text.lastIndex(of: ":") {
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        } else {
            throw ConfigError("listen: '\(text)' is not HOST:PORT, e.g. 127.0.0.1:8443")
        }
        if host.isEmpty { host = "0.0.0.0" }
        guard let port = Int(portText), (0...65535).contains(port) else {
            throw ConfigError("listen: '\(portText)' in '\(text)' is not a port number (0-65535)")
        }
        return (String(host), port)
    }
}
