public import FerryConfig
public import FerryQueue
import FerryText
public import Foundation
public import Hummingbird
import Logging
public import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// The request context of the control socket: the channel, for the peer's credentials.
public struct ControlContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }

    public var requestDecoder: JSONDecoder { ControlAPI.decoder() }
    public var responseEncoder: JSONEncoder { ControlAPI.encoder() }
}

/// Only the daemon's own user (and root) may use the control socket: the socket is 0600 in a folder closed to
/// others, and each connection's peer credentials (SO_PEERCRED) are checked as well, so a socket file whose mode
/// was widened by someone still answers no one else.
struct PeerCheck: RouterMiddleware {
    func handle(
        _ request: Request,
        context: ControlContext,
        next: (Request, ControlContext) async throws -> Response
    ) async throws -> Response {
        #if os(Linux)
        guard let provider = context.channel as? any SocketOptionProvider else {
            throw HTTPError(.forbidden, message: "the control socket cannot tell who is connecting")
        }
        let credentials: PeerCredentials = try await provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET),
            name: SocketOptionName(SO_PEERCRED)
        ).get()
        guard credentials.uid == geteuid() || credentials.uid == 0 else {
            throw HTTPError(
                .forbidden,
                message:
                    "uid \(credentials.uid) may not use this daemon's control socket (only uid \(geteuid()) and root)"
            )
        }
        #endif
        return try await next(request, context)
    }
}

/// Linux's `struct ucred` (which Glibc's module map leaves out): what SO_PEERCRED tells of a Unix socket's peer.
struct PeerCredentials: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}

/// The daemon's answer to a request it cannot carry out: the status and the reason, as JSON.
struct ControlFailure: Error, HTTPResponseError {
    let status: HTTPResponse.Status
    let message: String
    /// The methods a path takes, for a 405.
    let allow: String?
    /// The scheme to authenticate with, for a 401.
    let authenticate: String?

    init(_ status: HTTPResponse.Status, _ message: String, allow: String? = nil, authenticate: String? = nil) {
        self.status = status
        self.message = message
        self.allow = allow
        self.authenticate = authenticate
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        let body = try ControlAPI.encoder().encode(ControlProblem(error: message))
        var headers: HTTPFields = [.contentType: "application/json"]
        if let allow { headers[.allow] = allow }
        if let authenticate { headers[.wwwAuthenticate] = authenticate }
        return Response(
            status: status,
            headers: headers,
            body: .init(byteBuffer: ByteBuffer(bytes: body))
        )
    }
}

/// Each path of the control API answers only its methods (HEAD with GET): another method is 405 with `Allow`, not
/// a 404 that reads as "no such path". Paths not listed (the console's) are left to their routes.
struct MethodCheck: RouterMiddleware {
    /// Path patterns (`*`: one segment) and their methods; the first pattern that matches counts.
    static let table: [(pattern: [Substring], methods: [HTTPRequest.Method])] = [
        (ControlAPI.transfers, [.get]), (ControlAPI.transfers + "/*", [.get]), (ControlAPI.handshakes, [.get]),
        (ControlAPI.partners, [.get]), (ControlAPI.certificates, [.get]), (ControlAPI.health, [.get]),
        (ControlAPI.metrics, [.get]), (ControlAPI.openAPI, [.get]),
        (ControlAPI.queue, [.get, .post]), (ControlAPI.queue + "/purge", [.post]), (ControlAPI.queue + "/*", [.get]),
        (ControlAPI.queue + "/*/*", [.post]), (ControlAPI.deliveries, [.get]), (ControlAPI.schedules, [.get, .post]),
        (ControlAPI.schedules + "/*", [.delete]),
    ].map { ($0.0.split(separator: "/", omittingEmptySubsequences: false), $0.1) }

    /// The methods `path` answers, or nil for a path not in the table.
    static func methods(_ path: String) -> [HTTPRequest.Method]? {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        return table.first { row in
            row.pattern.count == segments.count && zip(row.pattern, segments).allSatisfy { $0 == "*" || $0 == $1 }
        }?.methods
    }

    func handle(
        _ request: Request,
        context: ControlContext,
        next: (Request, ControlContext) async throws -> Response
    ) async throws -> Response {
        if let methods = Self.methods(request.uri.path) {
            let allowed = methods.contains(.get) ? methods + [.head] : methods
            guard allowed.contains(request.method) else {
                let names = allowed.map(\.rawValue).joined(separator: ", ")
                throw ControlFailure(
                    .methodNotAllowed,
                    "\(request.uri.path) takes \(names), not \(request.method.rawValue)",
                    allow: names
                )
            }
        }
        return try await next(request, context)
    }
}

/// The control API's routes over the queue, its runner and the configuration (partners and their defaults).
enum ControlRoutes {
    static func router(
        store: any QueueStore,
        runner: QueueRunner,
        configuration: FerryConfiguration,
        clock: @escaping @Sendable () -> Date,
        admin: AdminPlane? = nil,
        door: AdminDoor = .socket
    ) -> Router<ControlContext> {
        let router = Router(context: ControlContext.self)
        switch door {
        case .socket: router.add(middleware: PeerCheck())
        case .network(let token, _): router.add(middleware: TokenCheck(token: token))
        }
        router.add(middleware: BrowserCheck(door: door))
        router.add(middleware: MethodCheck())
        if let admin {
            AdminRoutes.add(admin, store: store, to: router)
            Console(admin: admin, store: store, runner: runner, door: door, clock: clock).add(to: router)
        }
        let queue = router.group(RouterPath(ControlAPI.queue))
        queue.get { request, _ -> Response in
            let states = try stateFilter(request, QueueEntry.State.self)
            return try reply(try await store.entries(in: states))
        }
        queue.post { request, _ -> Response in
            let body = try await decode(QueueRequest.self, from: request)
            let entry = try makeEntry(body, configuration: configuration, now: clock())
            try await store.add(entry)
            runner.wake()
            return try reply(entry, status: .created)
        }
        queue.post("purge") { _, _ -> Response in
            try reply(PurgeResult(purged: try await store.purge(now: clock(), keep: 0)))
        }
        queue.get(":id") { _, context -> Response in
            let id = try context.parameters.require("id")
            guard let entry = try await store.entry(id: id) else { throw missing(id) }
            return try reply(EntryDetail(entry: entry, events: try await store.events(id: id)))
        }
        queue.post(":id/:action") { _, context -> Response in
            let id = try context.parameters.require("id")
            let action = try context.parameters.require("action")
            guard try await store.entry(id: id) != nil else { throw missing(id) }
            let now = clock()
            do {
                guard let entry = try await apply(action, id: id, store: store, runner: runner, now: now) else {
                    throw ControlFailure(.notFound, "no action '\(action)': use hold, release, retry or cancel")
                }
                return try reply(entry)
            } catch let error as QueueError {
                throw ControlFailure(.conflict, error.description)
            }
        }
        router.get(RouterPath(ControlAPI.deliveries)) { request, _ -> Response in
            let states = try stateFilter(request, Delivery.State.self)
            var limit = 100
            if let text = request.uri.queryParameters.get("limit") {
                guard let number = Int(text), (1...10_000).contains(number) else {
                    throw ControlFailure(.badRequest, "limit='\(text)' is not a whole number from 1 to 10000")
                }
                limit = number
            }
            return try reply(try await store.deliveries(in: states, limit: limit).map(DeliveryView.init))
        }
        let schedules = router.group(RouterPath(ControlAPI.schedules))
        schedules.get { _, _ -> Response in try reply(try await store.schedules()) }
        schedules.post { request, _ -> Response in
            let body = try await decode(ScheduleRequest.self, from: request)
            let schedule = try makeSchedule(body, configuration: configuration, now: clock())
            try await store.add(schedule)
            runner.wake()
            return try reply(schedule, status: .created)
        }
        schedules.delete(":id") { _, context -> Response in
            let id = try context.parameters.require("id")
            guard try await store.removeSchedule(id: id) else {
                throw ControlFailure(
                    .notFound,
                    "no schedule \(id): see `ferry schedule ls` for the schedules there are"
                )
            }
            return Response(status: .noContent)
        }
        return router
    }

    /// The `state` query parameter (comma-separated) as a set of states; nil when absent; 400 naming the ones there are.
    static func stateFilter<State: RawRepresentable & CaseIterable & Hashable>(
        _ request: Request,
        _: State.Type
    ) throws -> Set<State>? where State.RawValue == String {
        guard let text = request.uri.queryParameters.get("state") else { return nil }
        var states = Set<State>()
        // An empty name (`state=`, `held,,done`) is a mistake, not "every state".
        for name in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard let state = State(rawValue: String(name)) else {
                throw ControlFailure(
                    .badRequest,
                    "'\(name)' is not a state here: use \(State.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            states.insert(state)
        }
        return states
    }

    /// A request body as JSON of `type`, or 400 naming the field that is missing or wrong (the same `{"error": ...}`
    /// shape as every other refusal here); a body over 1 MiB is 413.
    static func decode<T: Decodable>(_ type: T.Type, from request: Request) async throws -> T {
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: 1 << 20)
        } catch is NIOTooManyBytesError {
            throw ControlFailure(.contentTooLarge, "the request body is over 1 MiB")
        }
        do {
            return try ControlAPI.decoder().decode(T.self, from: Data(body.readableBytesView))
        } catch let error as DecodingError {
            throw ControlFailure(.badRequest, describe(error))
        }
    }

    /// A decoding error in the words of the request: which field, and what was wrong with it.
    static func describe(_ error: DecodingError) -> String {
        func name(_ path: [any CodingKey]) -> String {
            path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
                .replacingOccurrences(of: ".[", with: "[")
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "the request lacks '\(name(context.codingPath + [key]))'"
        case .typeMismatch(let type, let context):
            let expected: String
            switch type {
            case is String.Type: expected = "a string"
            case is Int.Type, is Int64.Type: expected = "a whole number"
            case is Double.Type: expected = "a number"
            case is Bool.Type: expected = "true or false"
            case is [Any].Type: expected = "a list"
            default: expected = String(describing: type).hasPrefix("Dictionary") ? "an object" : "a \(type)"
            }
            let what = context.codingPath.isEmpty ? "the request body" : "'\(name(context.codingPath))'"
            return "\(what) is not \(expected)"
        case .valueNotFound(_, let context):
            return "'\(name(context.codingPath))' is null; give a value or leave it out"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty
                ? "the request body is not JSON: \(context.debugDescription)"
                : "'\(name(context.codingPath))': \(context.debugDescription)"
        @unknown default:
            return "the request body cannot be read: \(error)"
        }
    }

    static func reply(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: try ControlAPI.encoder().encode(value)))
        )
    }

    /// Carries out a queue action (hold, release, retry, cancel) on an entry and wakes the runner; nil for an action
    /// there is not. A change the entry's state does not allow throws its `QueueError`. The API and the console share it.
    static func apply(
        _ action: String,
        id: String,
        store: any QueueStore,
        runner: QueueRunner,
        now: Date
    ) async throws -> QueueEntry? {
        let entry: QueueEntry
        switch action {
        case "hold": entry = try await store.change(id: id) { try $0.hold(now: now) }
        case "release": entry = try await store.change(id: id) { try $0.release(now: now) }
        case "retry": entry = try await store.change(id: id) { try $0.retryNow(now: now) }
        case "cancel": entry = try await runner.cancel(id: id)
        default: return nil
        }
        runner.wake()
        return entry
    }

    static func missing(_ id: String) -> ControlFailure {
        ControlFailure(.notFound, "no queue entry \(id): see `ferry queue ls` for the entries there are")
    }

    /// Checks a request against the configuration: a configured partner with a URL, an absolute local path, a
    /// remote path; retries from the request over the partner's.
    static func makeEntry(_ request: QueueRequest, configuration: FerryConfiguration, now: Date) throws -> QueueEntry {
        try check(request, configuration: configuration)
        // A plain path that is not there now is a mistake now (a glob may match later; a schedule's file may come).
        let name = (request.local as NSString).lastPathComponent
        if request.direction == .send, !name.contains(where: { "*?[".contains($0) }),
            !FileManager.default.fileExists(atPath: request.local)
        {
            throw ControlFailure(.unprocessableContent, "\(request.local) does not exist: nothing was queued")
        }
        var entry = QueueEntry(
            direction: request.direction,
            partner: request.partner,
            local: request.local,
            remote: request.remote,
            priority: request.priority ?? 0,
            notBefore: request.at,
            retry: configuration.retryRule(partner: request.partner, request: request.retry),
            now: now
        )
        entry.rateLimit = request.rateLimit
        entry.text = request.text
        return entry
    }

    /// The longest wait, deadline or interval a request may give: 100 years, as `ConfigLoader.duration` allows.
    static let longest = ConfigLoader.longestDuration

    static func check(_ request: QueueRequest, configuration: FerryConfiguration) throws {
        guard let partner = configuration.partners.first(where: { $0.key == request.partner })?.value else {
            let known = configuration.partners.filter { $0.value.url != nil }.keys.sorted()
            throw ControlFailure(
                .unprocessableContent,
                "no partner '\(request.partner)' in the daemon's configuration"
                    + (known.isEmpty
                        ? "; define partners.\(request.partner).url in its config file"
                        : " (partners it can reach: \(known.joined(separator: ", ")))")
            )
        }
        guard partner.url != nil else {
            throw ControlFailure(
                .unprocessableContent,
                "partner '\(request.partner)' has no url in the daemon's configuration; set partners.\(request.partner).url"
            )
        }
        guard request.local.hasPrefix("/") else {
            throw ControlFailure(.unprocessableContent, "the local path '\(request.local)' must be absolute")
        }
        if request.local.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
            || request.remote.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
        {
            throw ControlFailure(.unprocessableContent, "a path with a control character cannot be queued")
        }
        if let priority = request.priority, !(-1000...1000).contains(priority) {
            throw ControlFailure(.unprocessableContent, "priority must be between -1000 and 1000")
        }
        if let rate = request.rateLimit, rate <= 0 {
            throw ControlFailure(.unprocessableContent, "the rate limit must be a positive number of bytes per second")
        }
        if let retry = request.retry {
            if let retries = retry.retries, !(-1...1_000_000).contains(retries) {
                throw ControlFailure(
                    .unprocessableContent,
                    "retries must be from 0 to 1000000, or -1 for no count limit"
                )
            }
            for (name, value) in [("retryWait", retry.retryWait), ("retryMaximumWait", retry.retryMaximumWait)] {
                if let value, !(value > 0 && value <= longest) {
                    throw ControlFailure(.unprocessableContent, "\(name) must be more than 0 and at most \(longest) s")
                }
            }
            if let deadline = retry.deadline, !(deadline >= 0 && deadline <= longest) {
                throw ControlFailure(.unprocessableContent, "deadline must be from 0 (none) to \(longest) s")
            }
        }
        if let text = request.text {
            do {
                _ = try TextConversion.textMode(settings: text)
            } catch {
                throw ControlFailure(.unprocessableContent, "text mode: \(error.description)")
            }
        }
    }

    static func makeSchedule(
        _ request: ScheduleRequest,
        configuration: FerryConfiguration,
        now: Date
    ) throws -> Schedule {
        try check(request.transfer, configuration: configuration)
        let recurrence: Schedule.Recurrence
        switch (request.every, request.cron) {
        case (let seconds?, nil):
            guard seconds <= longest else {
                throw ControlFailure(.unprocessableContent, "every must be at most \(longest) s (100 years)")
            }
            recurrence = .every(seconds: seconds)
        case (nil, let expression?): recurrence = .cron(expression: expression, timeZone: request.timeZone ?? "UTC")
        default: throw ControlFailure(.unprocessableContent, "a schedule has either --every or --cron")
        }
        for hold in request.holds where hold.duration <= 0 {
            throw ControlFailure(
                .unprocessableContent,
                "a hold must end after it starts (\(hold.start) to \(hold.end))"
            )
        }
        let transfer = request.transfer
        do {
            return try Schedule(
                recurrence: recurrence,
                direction: transfer.direction,
                partner: transfer.partner,
                local: transfer.local,
                remote: transfer.remote,
                priority: transfer.priority ?? 0,
                retry: configuration.retryRule(partner: transfer.partner, request: transfer.retry),
                holds: request.holds,
                now: now
            )
        } catch {
            throw ControlFailure(.unprocessableContent, error.description)
        }
    }
}
