import Crypto
import FerryConfig
public import Foundation
import HTTPTypes
import Hummingbird

/// The operators' bearer token (`admin.token-file`) and what is derived from it: console sessions (a signed expiry
/// in a cookie) and the forms' anti-forgery values. Compared in constant time; never logged.
public struct AdminToken: Sendable {
    /// HMAC key of this process: a session or form value made by another run (or another token) is not accepted.
    private let key: SymmetricKey
    /// The token's HMAC under `key`, compared against what a request presents.
    private let expected: HashedAuthenticationCode<SHA256>
    /// How long a console session lasts.
    public static let sessionLength: TimeInterval = 12 * 3600

    public init(token: String) {
        key = SymmetricKey(size: .bits256)
        expected = HMAC<SHA256>.authenticationCode(for: Data(token.utf8), using: key)
    }

    /// Reads the token file: the first line, at least 32 characters with no spaces, in a file only its owner may read.
    public static func load(_ path: String) throws -> AdminToken {
        let permissions: Int
        do {
            permissions = (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? 0
        } catch {
            throw ConfigError(
                "admin.token-file \(path) cannot be read: create it with `openssl rand -hex 32 > \(path); chmod 600 \(path)`"
            )
        }
        guard permissions & 0o077 == 0 else {
            throw ConfigError(
                "admin.token-file \(path) may be read by others (mode \(String(permissions & 0o777, radix: 8))): run `chmod 600 \(path)`"
            )
        }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigError("admin.token-file \(path) is not a readable text file: \(error.localizedDescription)")
        }
        let token =
            text.split(whereSeparator: \.isNewline).first.map(String.init)?.trimmingCharacters(in: .whitespaces) ?? ""
        // A long token of few distinct characters ("aaaa...") is a password an attacker can guess.
        guard token.count >= 32, !token.contains(where: \.isWhitespace), Set(token).count >= 10 else {
            throw ConfigError(
                "admin.token-file \(path) must hold one random token of at least 32 characters (and at least 10 different ones) without spaces on its first line, e.g. from `openssl rand -hex 32`"
            )
        }
        return AdminToken(token: token)
    }

    /// Whether `presented` is the token.
    public func accepts(_ presented: String) -> Bool {
        HMAC<SHA256>.isValidAuthenticationCode(expected, authenticating: Data(presented.utf8), using: key)
    }

    /// A session cookie's value: its expiry and the HMAC of it.
    public func session(now: Date = .now) -> String {
        let expiry = Int(now.addingTimeInterval(Self.sessionLength).timeIntervalSince1970)
        return "\(expiry).\(sign("session|\(expiry)"))"
    }

    /// Whether a session cookie's value was made by this process and has not expired.
    public func acceptsSession(_ value: String, now: Date = .now) -> Bool {
        let parts = value.split(separator: ".", maxSplits: 1).map(String.init)
        guard parts.count == 2, let expiry = Int(parts[0]), Double(expiry) > now.timeIntervalSince1970 else {
            return false
        }
        return Self.equal(sign("session|\(expiry)"), parts[1])
    }

    func sign(_ text: String) -> String {
        lowercaseHex(HMAC<SHA256>.authenticationCode(for: Data(text.utf8), using: key))
    }

    /// Compares two texts of the same kind in time that does not depend on where they differ.
    static func equal(_ a: String, _ b: String) -> Bool {
        let a = Array(a.utf8)
        let b = Array(b.utf8)
        guard a.count == b.count else { return false }
        return zip(a, b).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}

/// The anti-forgery value of the console's forms: an HMAC (by a key of this process) of the session it belongs to,
/// so a page of another site can neither read nor guess it.
struct FormGuard: Sendable {
    private let key = SymmetricKey(size: .bits256)

    func value(for session: String?) -> String {
        lowercaseHex(HMAC<SHA256>.authenticationCode(for: Data("form|\(session ?? "")".utf8), using: key))
    }

    func accepts(_ presented: String?, session: String?) -> Bool {
        guard let presented else { return false }
        return AdminToken.equal(value(for: session), presented)
    }
}

/// Bytes as lowercase hexadecimal, two digits each (MACs, serial numbers).
func lowercaseHex(_ bytes: some Sequence<UInt8>) -> String {
    bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
}

/// The door an operator came through.
enum AdminDoor: Sendable {
    /// The control socket: the kernel checked who connects (SO_PEERCRED).
    case socket
    /// The TCP listener: the bearer token or a console session (nil: the client certificate TLS required is the
    /// credential); `secure` when it speaks TLS.
    case network(AdminToken?, secure: Bool)
}

extension ControlAPI {
    /// The console's session cookie.
    static let sessionCookie = "ferry_console"
}

/// The TCP listener's check: a bearer token (`Authorization: Bearer ...`), or for the console a session cookie.
/// Without a token (`admin.tls.client-ca` alone) TLS has already checked the operator's certificate.
/// A cookie opens the console and reads the API, but changes only through the console's forms (which carry their
/// anti-forgery value), never through the JSON API.
struct TokenCheck: RouterMiddleware {
    let token: AdminToken?

    static let open: Set<String> = ["/console/login", "/console/style.css"]

    func handle(
        _ request: Request,
        context: ControlContext,
        next: (Request, ControlContext) async throws -> Response
    ) async throws -> Response {
        let path = request.uri.path
        guard let token else { return try await next(request, context) }
        if Self.open.contains(path) { return try await next(request, context) }
        if let authorization = request.headers[.authorization] {
            let parts = authorization.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "bearer", token.accepts(String(parts[1])) else {
                throw Self.refusal("the bearer token is not this server's admin token")
            }
            return try await next(request, context)
        }
        let readOnly = request.method == .get || request.method == .head
        if let session = request.cookies[ControlAPI.sessionCookie]?.value, token.acceptsSession(session),
            readOnly || path.hasPrefix("/console/")
        {
            return try await next(request, context)
        }
        if path == "/console" || path.hasPrefix("/console/") {
            return Response(status: .seeOther, headers: [.location: "/console/login"])
        }
        throw Self.refusal("send the admin token as `Authorization: Bearer TOKEN` (the content of admin.token-file)")
    }

    static func refusal(_ message: String) -> ControlFailure {
        ControlFailure(.unauthorized, message, authenticate: #"Bearer realm="ferry-admin""#)
    }
}

/// Browsers on the operator's machine can reach the control socket through a tunnel (`ssh -L`), where the socket's
/// peer check sees the tunnel, not the page. Two checks keep other sites' pages out: a request whose `Host` is not
/// a loopback address or a single-label name (`localhost`, `ferry`) is refused, so a DNS name an attacker points
/// at 127.0.0.1 cannot read the API; and a change (any method but GET and HEAD) whose `Origin` is another site is
/// refused on either door.
struct BrowserCheck: RouterMiddleware {
    let door: AdminDoor

    func handle(
        _ request: Request,
        context: ControlContext,
        next: (Request, ControlContext) async throws -> Response
    ) async throws -> Response {
        let host = request.head.authority ?? ""
        if case .socket = door, !Self.isLocalName(host) {
            throw ControlFailure(
                .forbidden,
                "Host '\(host)' is not a name for this machine: reach the control socket as localhost or 127.0.0.1 (a DNS name could point another site's page at it)"
            )
        }
        if request.method != .get, request.method != .head, let origin = request.headers[.origin] {
            let originHost = origin.split(separator: "/", omittingEmptySubsequences: true).dropFirst().first.map(
                String.init
            )
            guard let originHost, originHost.lowercased() == host.lowercased() else {
                throw ControlFailure(.forbidden, "a change from another site's page (Origin \(origin)) is refused")
            }
        }
        return try await next(request, context)
    }

    /// `localhost`, a loopback address, or a name without dots, with or without a port.
    static func isLocalName(_ authority: String) -> Bool {
        var host = Substring(authority)
        if host.hasPrefix("["), let close = host.firstIndex(of: "]") {
            host = host[host.index(after: host.startIndex)..<close]
            return host == "::1"
        }
        if let colon = host.lastIndex(of: ":") { host = host[..<colon] }
        let name = host.lowercased()
        if name.isEmpty || name == "localhost" { return true }
        if name.hasPrefix("127."), name.allSatisfy({ $0.isNumber || $0 == "." }) { return true }
        return !name.contains(".")
    }
}
