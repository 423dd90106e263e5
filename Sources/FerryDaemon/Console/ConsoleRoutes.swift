import FerryConfig
import FerryDiagnosis
import FerryLedger
import FerryQueue
import Foundation
import HTTPTypes
import Hummingbird
import Mustache
import NIOCore

/// The web console: server-rendered pages over the admin plane's data (the ledger, the queue, partners,
/// certificates), on the control socket and on the admin TCP listener. Every value is HTML-escaped by the templates;
/// the pages carry a policy that allows no script, no frame and no form sent elsewhere.
struct Console: Sendable {
    let admin: AdminPlane
    let store: any QueueStore
    let runner: QueueRunner
    let door: AdminDoor
    let clock: @Sendable () -> Date
    let forms = FormGuard()
    let library: MustacheLibrary

    init(
        admin: AdminPlane,
        store: any QueueStore,
        runner: QueueRunner,
        door: AdminDoor,
        clock: @escaping @Sendable () -> Date
    ) {
        self.admin = admin
        self.store = store
        self.runner = runner
        self.door = door
        self.clock = clock
        var library = MustacheLibrary()
        for (name, text) in ConsoleTemplates.all {
            // The templates are part of the program: one that does not parse is a bug caught by every console test.
            try! library.register(text, named: name)
        }
        self.library = library
    }

    static let pages: [(href: String, label: String)] = [
        ("/console", "Overview"), ("/console/transfers", "Transfers"), ("/console/handshakes", "Failed handshakes"),
        ("/console/partners", "Partners"), ("/console/certificates", "Certificates"), ("/console/queue", "Queue"),
    ]

    func add(to router: Router<ControlContext>) {
        router.get("/console") { request, _ in try await overview(request) }
        router.get("/console/style.css") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "text/css; charset=utf-8", .cacheControl: "no-cache"],
                body: .init(byteBuffer: ByteBuffer(string: ConsoleTemplates.style))
            )
        }
        router.get("/console/transfers") { request, _ in try await transfers(request, handshakes: false) }
        router.get("/console/handshakes") { request, _ in try await transfers(request, handshakes: true) }
        router.get("/console/transfers/:id") { request, context in
            try await transfer(request, id: try context.parameters.require("id"))
        }
        router.get("/console/partners") { request, _ in try await partners(request) }
        router.get("/console/certificates") { request, _ in try certificates(request) }
        router.get("/console/queue") { request, _ in try await queue(request) }
        router.post("/console/queue/:id/:action") { request, context in
            try await change(
                request,
                id: try context.parameters.require("id"),
                action: try context.parameters.require("action")
            )
        }
        router.get("/console/login") { request, _ in
            guard case .network(.some, _) = door else {
                return Response(status: .seeOther, headers: [.location: "/console"])
            }
            return page("login", title: "Sign in", current: nil, request: request, values: [:])
        }
        router.post("/console/login") { request, _ in try await login(request) }
        router.post("/console/logout") { request, _ in
            let form = try await Self.form(request)
            guard forms.accepts(form["csrf"], session: session(request)) else { throw Self.forged }
            return Response(
                status: .seeOther,
                headers: [.location: "/console/login", .setCookie: cookie(value: "", maxAge: 0)]
            )
        }
    }

    // MARK: Pages

    func overview(_ request: Request) async throws -> Response {
        let now = clock()
        let since = now.addingTimeInterval(-86_400)
        let day = try await admin.ledger.transfers(LedgerQuery(since: since, limit: 10_000))
        var transfers = 0
        var failed = 0
        var handshakes = 0
        var bytes: Int64 = 0
        let currentHour = Int(now.timeIntervalSince1970 / 3600)
        var hours = [Int: (ok: Int, failed: Int)]()
        for entry in day.entries {
            if entry.operation == .tls {
                handshakes += 1
                continue
            }
            transfers += 1
            if entry.result == .failed { failed += 1 } else { bytes += entry.bytes }
            let hour = Int(entry.ended.timeIntervalSince1970 / 3600)
            var counts = hours[hour] ?? (0, 0)
            if entry.result == .failed { counts.failed += 1 } else { counts.ok += 1 }
            hours[hour] = counts
        }
        let busiest = max(1, hours.values.map { $0.ok + $0.failed }.max() ?? 1)
        let rows: [[String: Any]] = (0..<24).map { back in
            let hour = currentHour - back
            let counts = hours[hour] ?? (0, 0)
            return [
                "hour": Self.hour(Date(timeIntervalSince1970: Double(hour) * 3600)), "ok": counts.ok,
                "failed": counts.failed, "total": counts.ok + counts.failed, "busiest": busiest,
            ]
        }
        let depth = try await AdminRoutes.queueDepth(store)
        let queue: [[String: Any]] = QueueEntry.State.allCases.filter { !$0.isFinal }.map { state in
            ["state": state.rawValue, "count": depth[state.rawValue] ?? 0]
        }
        let warning = admin.configuration.expiryWarning
        let expiring = admin.certificates().filter { $0.isDue(within: warning, now: now) }
            .sorted { $0.notAfter < $1.notAfter }
            .map { certificate -> [String: Any] in
                [
                    "subject": certificate.subject, "role": certificate.role,
                    "days": certificate.daysLeft < 0
                        ? "expired \(-certificate.daysLeft) days ago" : "\(certificate.daysLeft) days left",
                    "notAfter": Self.time(certificate.notAfter), "level": certificate.daysLeft < 0 ? "expired" : "due",
                ]
            }
        let health = admin.health()
        return page(
            "overview",
            title: "Overview",
            current: "/console",
            request: request,
            values: [
                "day": [
                    "transfers": transfers, "failed": failed, "handshakes": handshakes, "bytes": Self.bytes(bytes),
                ],
                "truncated": day.next != nil,
                "hours": rows, "queue": queue,
                "expiring": expiring, "hasExpiring": !expiring.isEmpty,
                "warningDays": Int(warning / 86_400),
                "health": ["listen": health.listen, "storage": health.storage, "database": health.database],
                "started": Self.time(health.started),
            ]
        )
    }

    func transfers(_ request: Request, handshakes: Bool) async throws -> Response {
        let parameters = request.uri.queryParameters
        // Empty fields of the search form mean no filter.
        func value(_ name: String) -> String? { parameters.get(name).flatMap { $0.isEmpty ? nil : $0 } }
        var query = LedgerQuery(partner: value("partner"), pathPrefix: handshakes ? nil : value("path"), limit: 100)
        query.operation = handshakes ? .tls : nil
        query.direction = handshakes ? nil : value("direction").flatMap(LedgerEntry.Direction.init(rawValue:))
        query.result = handshakes ? .failed : value("result").flatMap(LedgerEntry.Result.init(rawValue:))
        if let after = value("after") {
            guard let cursor = LedgerCursor(after) else {
                return problem(
                    request,
                    title: "Transfers",
                    current: nil,
                    "The link to older rows is not one this console made; start from the newest.",
                    status: .badRequest
                )
            }
            query.after = cursor
        }
        let result = try await admin.ledger.transfers(query)
        let rows = result.entries.map { entry -> [String: Any] in
            [
                "id": entry.id, "ended": Self.time(entry.ended), "partner": entry.partner,
                "operation": entry.operation.name, "direction": entry.direction == .inbound ? "in" : "out",
                "path": entry.path, "bytes": Self.bytes(entry.bytes), "result": entry.result.rawValue,
                "error": entry.error as Any, "peerSubject": entry.peer?.subject ?? "none",
                "findings": entry.findings.isEmpty ? "none" : entry.findings.joined(separator: ", "),
            ]
        }
        var next: String?
        if let cursor = result.next {
            var items = parameters.map { ($0.key, $0.value) }.filter { $0.0 != "after" && !$0.1.isEmpty }
                .map { (String($0.0), String($0.1)) }
            items.append(("after", cursor.description))
            var components = URLComponents()
            components.queryItems = items.map { URLQueryItem(name: $0.0, value: $0.1) }
            next = (handshakes ? "/console/handshakes" : "/console/transfers") + (components.string ?? "")
        }
        func options(_ values: [(String, String)], selected: String?) -> [[String: Any]] {
            values.map { ["value": $0.0, "label": $0.1, "selected": $0.0 == (selected ?? "")] }
        }
        return page(
            handshakes ? "handshakes" : "transfers",
            title: handshakes ? "Failed handshakes" : "Transfers",
            current: handshakes ? "/console/handshakes" : "/console/transfers",
            request: request,
            values: [
                "rows": rows, "next": next as Any, "handshakesOnly": handshakes,
                "action": handshakes ? "/console/handshakes" : "/console/transfers",
                "caption": rows.isEmpty
                    ? "Nothing matches" : "\(rows.count) rows, newest first\(next == nil ? "" : "; older ones follow")",
                "filter": ["partner": value("partner") ?? "", "path": value("path") ?? ""],
                "directions": options([("", "any"), ("in", "in"), ("out", "out")], selected: value("direction")),
                "results": options([("", "any"), ("ok", "ok"), ("failed", "failed")], selected: value("result")),
            ]
        )
    }

    func transfer(_ request: Request, id: String) async throws -> Response {
        guard let detail = try await admin.transfer(id: id, store: store) else {
            return problem(
                request,
                title: "Transfer",
                current: nil,
                "No ledger row has the id \(id); it may have passed the ledger's retention.",
                status: .notFound
            )
        }
        let entry = detail.transfer
        var facts: [(String, String)] = [
            ("Result", entry.result.rawValue + (entry.error.map { ": " + $0 } ?? "")),
            ("Partner", entry.partner), ("Operation", "\(entry.operation.name) \(entry.direction.rawValue)"),
            ("Path", entry.path), ("Bytes", Self.bytes(entry.bytes)),
            ("Started", Self.time(entry.started)), ("Ended", Self.time(entry.ended)),
            ("Duration", String(format: "%.3f s", entry.ended.timeIntervalSince(entry.started))),
        ]
        if let digest = entry.sha256 { facts.append(("SHA-256 on the wire", digest)) }
        if let digest = entry.fileSHA256 { facts.append(("SHA-256 of the stored file", digest)) }
        if let conversion = entry.conversion { facts.append(("Text conversion", conversion)) }
        facts.append(("TLS version", entry.tlsVersion ?? "not recorded"))
        facts.append(("Cipher suite", entry.cipherSuite ?? "not recorded"))
        if let peer = entry.peer {
            let mark = peer.verified ? "" : " (offered, not verified)"
            facts.append(("Peer certificate" + mark, peer.subject))
            facts.append(("Issued by", peer.issuer))
            facts.append(("Serial", peer.serial))
        }
        facts.append(("Ledger row", entry.id))
        let findings = detail.findings.map { finding -> [String: Any] in
            [
                "id": finding.id, "title": finding.title, "severity": finding.severity.rawValue,
                "side": finding.side.rawValue, "rule": finding.rule, "evidence": finding.evidence,
                "hasEvidence": !finding.evidence.isEmpty, "fixes": finding.fixes, "hasFixes": !finding.fixes.isEmpty,
            ]
        }
        return page(
            "transfer",
            title: entry.operation == .tls ? "Failed handshake" : "Transfer \(entry.operation.name) \(entry.path)",
            current: nil,
            request: request,
            values: [
                "facts": facts.map { ["name": $0.0, "value": $0.1] },
                "findings": findings, "hasFindings": !findings.isEmpty,
                "isHandshake": entry.operation == .tls, "trace": detail.trace as Any,
                "queued": detail.queued.map { queued -> [String: Any] in
                    [
                        "id": queued.entry.id, "state": queued.entry.state.rawValue,
                        "origin": queued.entry.origin as Any,
                        "events": queued.events.map { event -> [String: Any] in
                            [
                                "time": Self.time(event.time), "state": event.state.rawValue, "attempt": event.attempt,
                                "message": event.message ?? "",
                            ]
                        },
                    ]
                } as Any,
            ]
        )
    }

    func partners(_ request: Request) async throws -> Response {
        let partners = try await admin.partners()
        let rows = partners.map { partner -> [String: Any] in
            var quota: [String] = []
            if let bytes = partner.quota.bytes { quota.append(Self.bytes(bytes)) }
            if let files = partner.quota.files { quota.append("\(files) files") }
            if let uploads = partner.quota.uploads { quota.append("\(uploads) open uploads") }
            var components = URLComponents()
            components.queryItems = [URLQueryItem(name: "p", value: partner.name)]
            return [
                "name": partner.name, "url": partner.url as Any,
                "query": String(components.percentEncodedQuery?.dropFirst(2) ?? ""),
                "bindings": partner.bindings, "hasBindings": !partner.bindings.isEmpty,
                "areas": partner.areas.map {
                    ["area": $0.area, "mount": $0.mount, "rights": $0.rights.joined(separator: ", ")]
                },
                "text": partner.text as Any,
                "quota": quota.isEmpty ? "none" : quota.joined(separator: ", "),
                "lastSeen": partner.lastSeen.map(Self.time) ?? "never",
            ]
        }
        return page(
            "partners",
            title: "Partners",
            current: "/console/partners",
            request: request,
            values: ["rows": rows, "count": rows.count]
        )
    }

    func certificates(_ request: Request) throws -> Response {
        let now = clock()
        let warning = admin.configuration.expiryWarning
        let rows = admin.certificates().sorted { $0.notAfter < $1.notAfter }.map { certificate -> [String: Any] in
            [
                "role": certificate.role, "subject": certificate.subject, "issuer": certificate.issuer,
                "serial": certificate.serial, "notAfter": Self.time(certificate.notAfter), "days": certificate.daysLeft,
                "partners": certificate.partners.joined(separator: ", "),
                "level": certificate.daysLeft < 0
                    ? "expired" : certificate.isDue(within: warning, now: now) ? "due" : "",
            ]
        }
        return page(
            "certificates",
            title: "Certificates",
            current: "/console/certificates",
            request: request,
            values: ["rows": rows]
        )
    }

    func queue(_ request: Request, notice: String? = nil) async throws -> Response {
        let chosen = request.uri.queryParameters.get("state").flatMap {
            $0.isEmpty ? nil : QueueEntry.State(rawValue: String($0))
        }
        let states: Set<QueueEntry.State>? = chosen.map { [$0] }
        let entries = try await store.entries(in: states)
        let token = forms.value(for: session(request))
        let rows = entries.prefix(500).map { entry -> [String: Any] in
            var actions: [[String: Any]] = []
            if [.scheduled, .queued, .retrying].contains(entry.state) {
                actions.append(["action": "hold", "label": "Hold"])
            }
            if entry.state == .held { actions.append(["action": "release", "label": "Release"]) }
            if !entry.state.isFinal { actions.append(["action": "cancel", "label": "Cancel"]) }
            return [
                "id": entry.id, "shortID": String(entry.id.prefix(8)), "state": entry.state.rawValue,
                "direction": entry.direction.rawValue, "partner": entry.partner, "local": entry.local,
                "remote": entry.remote, "attempts": entry.attempts, "lastError": entry.lastError ?? "",
                "actions": actions.map {
                    $0.merging(["id": entry.id, "csrf": token, "shortID": String(entry.id.prefix(8))]) { a, _ in a }
                },
            ]
        }
        let stateOptions: [[String: Any]] =
            [["value": "", "label": "any", "selected": chosen == nil]]
            + QueueEntry.State.allCases.map { ["value": $0.rawValue, "label": $0.rawValue, "selected": $0 == chosen] }
        return page(
            "queue",
            title: "Queue",
            current: "/console/queue",
            request: request,
            values: [
                "rows": rows, "states": stateOptions,
                "caption": entries.count > 500
                    ? "The first 500 of \(entries.count) entries" : "\(entries.count) entries",
                "notice": (notice ?? Self.doneNotice(request)) as Any,
            ]
        )
    }

    /// What the redirect after a change says: composed here from the action and the entry's short id, never text
    /// from the link (a link anyone can send must not put their words on this page).
    static func doneNotice(_ request: Request) -> String? {
        let parameters = request.uri.queryParameters
        guard let done = parameters.get("done"), ["held", "released", "cancelled"].contains(done),
            let entry = parameters.get("entry"), (1...36).contains(entry.count),
            entry.allSatisfy({ $0.isHexDigit || $0 == "-" })
        else { return nil }
        return "Entry \(entry) \(done)."
    }

    /// Hold, release or cancel from the queue page; then back to it (303), with what was done.
    func change(_ request: Request, id: String, action: String) async throws -> Response {
        let form = try await Self.form(request)
        guard forms.accepts(form["csrf"], session: session(request)) else { throw Self.forged }
        guard try await store.entry(id: id) != nil else {
            return problem(
                request,
                title: "Queue",
                current: "/console/queue",
                "No queue entry has the id \(id): it may have been purged.",
                status: .notFound
            )
        }
        // The console offers hold, release and cancel (a retry is the API's and `ferry queue retry`'s).
        let words = ["hold": "held", "release": "released", "cancel": "cancelled"]
        guard let done = words[action] else {
            throw ControlFailure(.notFound, "no action '\(action)' on the console: hold, release or cancel")
        }
        do {
            _ = try await ControlRoutes.apply(action, id: id, store: store, runner: runner, now: clock())
        } catch let error as QueueError {
            return problem(request, title: "Queue", current: "/console/queue", error.description, status: .conflict)
        }
        var components = URLComponents()
        components.queryItems = [
            URLQueryItem(name: "done", value: done), URLQueryItem(name: "entry", value: String(id.prefix(8))),
        ]
        return Response(status: .seeOther, headers: [.location: "/console/queue" + (components.string ?? "")])
    }

    func login(_ request: Request) async throws -> Response {
        guard case .network(let token?, _) = door else {
            return Response(status: .seeOther, headers: [.location: "/console"])
        }
        let form = try await Self.form(request)
        guard let presented = form["token"], token.accepts(presented) else {
            return page(
                "login",
                title: "Sign in",
                current: nil,
                request: request,
                values: ["notice": "That is not this server's admin token."],
                status: .unauthorized
            )
        }
        return Response(
            status: .seeOther,
            headers: [
                .location: "/console",
                .setCookie: cookie(value: token.session(now: clock()), maxAge: Int(AdminToken.sessionLength)),
            ]
        )
    }

    // MARK: Rendering

    func page(
        _ template: String,
        title: String,
        current: String?,
        request: Request,
        values: [String: Any],
        status: HTTPResponse.Status = .ok
    ) -> Response {
        var context = values
        context["title"] = title
        context["server"] = admin.configuration.listen
        context["version"] = admin.health().version
        // Before signing in there is nowhere to go.
        context["nav"] =
            template == "login"
            ? [] : Self.pages.map { ["href": $0.href, "label": $0.label, "current": $0.href == current] }
        let session = session(request)
        if case .network = door, session != nil {
            context["session"] = ["csrf": forms.value(for: session)]
        }
        let html = library.render(Self.present(context) ?? [:], withTemplate: template) ?? ""
        return Response(status: status, headers: Self.pageHeaders, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    /// The values with every absent optional removed (Mustache would print an absent value as `nil`), so that
    /// `{{#value}}` sections show only what is there.
    static func present(_ value: Any) -> Any? {
        let mirror = Mirror(reflecting: value)
        if mirror.displayStyle == .optional {
            guard let wrapped = mirror.children.first?.value else { return nil }
            return present(wrapped)
        }
        if let dictionary = value as? [String: Any] { return dictionary.compactMapValues { present($0) } }
        if let array = value as? [[String: Any]] { return array.compactMap { present($0) } }
        return value
    }

    /// A page that says what went wrong, with the status.
    func problem(
        _ request: Request,
        title: String,
        current: String?,
        _ message: String,
        status: HTTPResponse.Status
    ) -> Response {
        page("problem", title: title, current: current, request: request, values: ["message": message], status: status)
    }

    static let pageHeaders: HTTPFields = [
        .contentType: "text/html; charset=utf-8",
        .contentSecurityPolicy:
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        .xContentTypeOptions: "nosniff",
        HTTPField.Name("Referrer-Policy")!: "no-referrer",
        .cacheControl: "no-store",
    ]

    /// The console session of a request on the TCP listener (nil on the control socket or without one).
    func session(_ request: Request) -> String? {
        guard case .network = door else { return nil }
        return request.cookies[ControlAPI.sessionCookie]?.value
    }

    func cookie(value: String, maxAge: Int) -> String {
        var cookie = "\(ControlAPI.sessionCookie)=\(value); Path=/; HttpOnly; SameSite=Strict; Max-Age=\(maxAge)"
        if case .network(_, secure: true) = door { cookie += "; Secure" }
        return cookie
    }

    static let forged = ControlFailure(
        .forbidden,
        "the form was not sent from this console's page (or its session ended): reload the page and try again"
    )

    /// A form's fields (`application/x-www-form-urlencoded`, at most 16 KiB).
    static func form(_ request: Request) async throws -> [String: String] {
        let body = try await request.body.collect(upTo: 16_384)
        var components = URLComponents()
        components.percentEncodedQuery = String(buffer: body).replacingOccurrences(of: "+", with: "%20")
        var fields: [String: String] = [:]
        for item in components.queryItems ?? [] where fields[item.name] == nil {
            fields[item.name] = item.value ?? ""
        }
        return fields
    }

    static func time(_ date: Date) -> String {
        date.formatted(
            Date.VerbatimFormatStyle(
                format:
                    "\(year: .defaultDigits)-\(month: .twoDigits)-\(day: .twoDigits) \(hour: .twoDigits(clock: .twentyFourHour, hourCycle: .zeroBased)):\(minute: .twoDigits):\(second: .twoDigits)",
                timeZone: .gmt,
                calendar: Calendar(identifier: .gregorian)
            )
        )
    }

    static func hour(_ date: Date) -> String { String(time(date).prefix(13)) + ":00" }

    static func bytes(_ count: Int64) -> String {
        count.formatted(.number.grouping(.automatic).locale(Locale(identifier: "en_US_POSIX")))
    }
}
