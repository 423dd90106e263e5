import FerryConfig
import FerryLedger
import FerryProtocol
import FerryTLS
import FerryText
import FerryTrace
import FerryWire
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// `/v1/files/...`: download with ranges, upload with atomic commit, metadata, delete and listing.
struct FileRoutes<Storage: FileStorage>: RouterMiddleware {
    typealias Context = FerryRequestContext

    static var prefix: String { FerryAPI.files }

    let policy: AccessPolicy
    let store: FileStore<Storage>
    let ledger: any Ledger

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let rawPath = request.uri.path
        guard rawPath == Self.prefix || rawPath.hasPrefix(Self.prefix + "/") else {
            return try await next(request, context)
        }
        // The boundary where the storage layer's errors become problems.
        do {
            return try await route(request, rawPath: rawPath, context: context)
        } catch let error as StorageError {
            throw ProblemError(error)
        }
    }

    private func route(_ request: Request, rawPath: String, context: Context) async throws -> Response {
        let caller = try Caller(context: context, policy: policy)
        let path: PartnerPath
        do {
            path = try PartnerPath(encoded: rawPath.dropFirst(min(rawPath.count, Self.prefix.count + 1)))
        } catch {
            throw ProblemError.from(error)
        }
        let target = policy.resolve(path, partner: caller.partner)
        try await store.storage.prepareArea(target)
        switch request.method {
        case .get, .head:
            guard target.rights.contains(.read) else { throw ProblemError.denied(.read, path) }
            var isFolder = path.isDirectory || path.segments.isEmpty
            if !isFolder { isFolder = try await store.item(of: target)?.isFolder == true }
            if isFolder {
                return try await list(
                    path: path,
                    target: target,
                    caller: caller,
                    head: request.method == .head,
                    query: Self.query(request)
                )
            }
            return try await download(request: request, path: path, target: target, caller: caller)
        case .put:
            guard target.rights.contains(.write) else { throw ProblemError.denied(.write, path) }
            guard !path.isDirectory, !path.segments.isEmpty else {
                throw ProblemError(.notAFile, detail: "PUT needs a file name, not a folder")
            }
            return try await upload(request: request, path: path, target: target, caller: caller)
        case .delete:
            guard target.rights.contains(.delete) else { throw ProblemError.denied(.delete, path) }
            return try await delete(path: path, target: target, caller: caller)
        case .post:
            guard request.headers[.contentType]?.lowercased().hasPrefix(Batch.mediaType) == true else {
                throw ProblemError(
                    .unsupportedMediaType,
                    detail:
                        "Not a batch: POST on \(FerryAPI.files) takes a batch of files (Content-Type: \(Batch.mediaType)); upload one file with PUT"
                )
            }
            if !path.segments.isEmpty, !target.rights.contains(.write) { throw ProblemError.denied(.write, path) }
            if let existing = try await store.item(of: target), !existing.isFolder {
                throw ProblemError(.notAFolder, detail: "'\(path)' is a file; POST a batch to a folder")
            }
            let batch = BatchUpload(folder: path, caller: caller, policy: policy, store: store, ledger: ledger)
            return try await batch.run(request.body)
        default:
            throw ProblemError(
                .methodNotAllowed,
                detail: "use GET, HEAD, PUT, DELETE, or POST with a batch, on \(FerryAPI.files)"
            )
        }
    }

    // MARK: Download

    private func download(
        request: Request,
        path: PartnerPath,
        target: AccessPolicy.Target,
        caller: Caller
    ) async throws -> Response {
        // The file is opened once, without following links, and everything below is about what was opened.
        guard let place = try await store.storage.place(of: target, creating: false),
            let file = try await store.storage.openForReading(place)
        else {
            throw ProblemError(.notFound, detail: "no file at '\(path)'")
        }
        let stamp = file.item
        // What goes on the wire: the file, or in text mode the file converted from text as it is sent (its length,
        // digest and validator are the converted representation's).
        let text = policy.textMode(for: caller.partner, at: target)?.reversed
        let stored = try await store.digest(of: file, rootRelative: target.rootRelative)
        var wire: (digest: FileDigest, length: Int64)?
        if let text { wire = try await store.converted(file, by: text, rootRelative: target.rootRelative) }
        let digest = wire?.digest ?? stored
        let length = wire?.length ?? stamp.size
        let etag = text.map { TextRepresentation.etag(stamp.etag, $0) } ?? stamp.etag
        var headers: HTTPFields = [
            .contentType: FerryMediaType.octetStream,
            .eTag: etag,
            .lastModified: HTTPDate.string(stamp.modified),
            .acceptRanges: "bytes",
            .reprDigest: digest.reprDigestHeader,
        ]
        var range = RangeRequest(header: request.headers[.range], length: length)
        if let ifRange = request.headers[.ifRange], ifRange != etag {
            range = .whole
        }
        let span: Range<Int64>
        let status: HTTPResponse.Status
        switch range {
        case .whole:
            span = 0..<length
            status = .ok
        case .partial(let partial):
            span = partial
            status = .partialContent
            headers[.contentRange] = range.contentRange(length: length)
        case .unsatisfiable:
            var problem = ProblemError(.rangeNotSatisfiable, detail: "the file has \(length) bytes")
            problem.additionalHeaders[.contentRange] = range.contentRange(length: length)
            throw problem
        }
        headers[.contentLength] = String(span.count)
        if request.method == .head {
            return Response(status: status, headers: headers, body: .init())
        }
        let ledger = self.ledger
        let started = Date()
        var textEntry = caller.entry(operation: .get, path: target.rootRelative, direction: .outbound, started: started)
        if let text {
            textEntry.fileSHA256 = stored.hex
            textEntry.conversion = text.description
        }
        let entry = textEntry
        let body = ResponseBody(contentLength: Int(span.count)) { writer in
            var sent: Int64 = 0
            var failure: String?
            do {
                if let text {
                    try await TextRepresentation.stream(file, by: text, span: span) { chunk in
                        sent += Int64(chunk.readableBytes)
                        try await writer.write(chunk)
                    }
                } else {
                    try await file.forEachChunk(in: span) { chunk in
                        sent += Int64(chunk.readableBytes)
                        try await writer.write(chunk)
                    }
                }
                try await writer.finish(nil)
            } catch {
                failure = String(describing: error)
            }
            var row = entry
            row.bytes = sent
            row.sha256 = span.count == length ? digest.hex : nil
            row.ended = Date()
            row.result = failure == nil ? .ok : .failed
            row.error = failure
            try? await ledger.record(row)
            if let failure { throw DownloadInterrupted(reason: failure) }
        }
        return Response(status: status, headers: headers, body: body)
    }

    struct DownloadInterrupted: Error {
        let reason: String
    }

    // MARK: Upload

    private func upload(
        request: Request,
        path: PartnerPath,
        target: AccessPolicy.Target,
        caller: Caller
    ) async throws -> Response {
        let declared: FileDigest?
        do {
            declared = try request.headers[.reprDigest].flatMap { try FileDigest.parse(reprDigest: $0) }
        } catch {
            throw ProblemError(.badDigestHeader, detail: String(describing: error))
        }
        let refuseOverwrite = request.headers[.ifNoneMatch] == "*"
        let existing = try await store.item(of: target)
        if refuseOverwrite, existing != nil {
            throw ProblemError(.exists, detail: "If-None-Match: * was sent and '\(path)' already exists")
        }
        let started = Date()
        var entry = caller.entry(operation: .put, path: target.rootRelative, direction: .inbound, started: started)
        let contentLength = request.headers[.contentLength].flatMap { Int($0) }
        let replacing = existing.flatMap { $0.isFile ? $0.size : nil }
        // The quota is checked before a byte of the body is read: by Content-Length, or for a chunked body by its
        // file count now and by its bytes once they are all in (before the commit).
        var reservation = try await store.quotas.admit(
            target,
            caller: caller.partner,
            bytes: Int64(contentLength ?? 0),
            replacing: replacing
        )
        do {
            let committed = try await store.commit(
                body: request.body,
                to: target,
                declared: declared,
                refuseOverwrite: refuseOverwrite,
                contentLength: contentLength,
                text: policy.textMode(for: caller.partner, at: target)
            ) { bytes in
                guard contentLength == nil, reservation != nil else { return }
                await store.quotas.settle(reservation, committed: nil)
                reservation = nil
                reservation = try await store.quotas.admit(
                    target,
                    caller: caller.partner,
                    bytes: bytes,
                    replacing: replacing
                )
            }
            await store.quotas.settle(reservation, committed: committed.change)
            entry.bytes = committed.bytes
            entry.sha256 = committed.digest.hex
            entry.fileSHA256 = committed.text?.sha256
            entry.conversion = committed.text?.ledgerText
            entry.ended = Date()
            entry.result = .ok
            try await ledger.record(entry)
            let headers: HTTPFields = [
                .reprDigest: committed.digest.reprDigestHeader,
                .eTag: committed.item.etag,
                .location: Self.prefix + "/" + path.encoded,
            ]
            return Response(status: committed.replaced ? .noContent : .created, headers: headers, body: .init())
        } catch {
            await store.quotas.settle(reservation, committed: nil)
            entry.ended = Date()
            entry.result = .failed
            entry.error = ProblemError.ledgerText(error)
            try? await ledger.record(entry)
            throw error
        }
    }

    // MARK: Delete

    private func delete(path: PartnerPath, target: AccessPolicy.Target, caller: Caller) async throws -> Response {
        guard !path.segments.isEmpty, !target.inArea.isEmpty else {
            throw ProblemError(.cannotDeleteArea, detail: "the top of an area cannot be deleted")
        }
        guard let place = try await store.storage.place(of: target, creating: false),
            let stamp = try await store.storage.item(at: place)
        else {
            throw ProblemError(.notFound, detail: "nothing at '\(path)'")
        }
        let storage = store.storage
        do {
            // Holding the home's quota lock: no count of the home is taken between the removal and its record.
            try await store.quotas.removing(target, caller: caller.partner) {
                try await storage.remove(place, isFolder: stamp.isFolder)
                return stamp.isFile ? stamp.size : nil
            }
        } catch let error as StorageError where error.isFolderNotEmpty {
            throw ProblemError(.folderNotEmpty, detail: "delete the files inside '\(path)' first")
        }
        if !stamp.isFolder { try await store.digests.forget(path: target.rootRelative) }
        var entry = caller.entry(operation: .delete, path: target.rootRelative, direction: .inbound, started: Date())
        entry.bytes = 0
        entry.result = .ok
        try await ledger.record(entry)
        return Response(status: .noContent)
    }

    // MARK: Listing

    private func list(
        path: PartnerPath,
        target: AccessPolicy.Target,
        caller: Caller,
        head: Bool,
        query: [String: String]
    ) async throws -> Response {
        guard let place = try await store.storage.place(of: target, creating: false),
            let item = try await store.storage.item(at: place), item.isFolder
        else {
            throw ProblemError(.notFound, detail: "no folder at '\(path)'")
        }
        var limit = Listing.defaultLimit
        if let text = query["limit"] {
            guard let value = Int(text), (1...Listing.maximumLimit).contains(value) else {
                throw ProblemError(.badLimit, detail: "limit must be a number from 1 to \(Listing.maximumLimit)")
            }
            limit = value
        }
        let after = query["after"]
        // A cursor is a name of this folder (a reserved one included): one segment, never longer than a name.
        if let after,
            after.isEmpty || after.utf8.count > PartnerPath.maximumSegmentLength
                || after.utf8.contains(where: { $0 == 0 || $0 == UInt8(ascii: "/") })
        {
            throw ProblemError(
                .badLimit,
                detail:
                    "after must be one name of at most \(PartnerPath.maximumSegmentLength) bytes, as a previous page's next gave it"
            )
        }
        var entries: [Listing.Entry] = []
        let timestamps = ISO8601DateFormatter()
        let listed = try await store.storage.openFolder(place)
        let stored = try await store.storage.entries(in: listed, after: after, limit: limit)
        var items = stored.entries.filter { !$0.name.lowercased().hasPrefix(PartnerPath.reservedPrefix) }
        // The cursor of the next page: the last name this page went through (a reserved one included).
        var next = stored.more ? stored.entries.last?.name : nil
        if path.segments.isEmpty {
            // The mounts a partner sees at its top level belong to the same, ordered pages: each on the page whose
            // names it falls between.
            let bound = stored.more ? stored.entries.last?.name : nil
            for mount in policy.mounts(for: caller.partner)
            where !items.contains(where: { $0.name == mount }) && (after.map { Listing.precedes($0, mount) } ?? true)
                && (bound.map { !Listing.precedes($0, mount) } ?? true)
            {
                let item = try? await store.storage.item(at: store.storage.place(named: mount, in: listed))
                items.append(ListedName(name: mount, item: item))
            }
            items.sort { Listing.precedes($0.name, $1.name) }
            if items.count > limit {
                items = Array(items.prefix(limit))
                next = items.last?.name
            }
        }
        func relative(_ name: String) -> String {
            target.rootRelative.isEmpty ? name : target.rootRelative + "/" + name
        }
        // The page's known digests in one query.
        var stamps: [String: FileStamp] = [:]
        for entry in items { if let info = entry.item, info.isFile { stamps[relative(entry.name)] = info.stamp } }
        let known = (try? await store.digests.digests(for: stamps)) ?? [:]
        for (name, item) in items.map({ ($0.name, $0.item) }) {
            guard let info = item else {
                if path.segments.isEmpty, policy.mounts(for: caller.partner).contains(name) {
                    entries.append(.init(name: name, type: "directory", size: nil, modified: nil, sha256: nil))
                }
                continue
            }
            entries.append(
                .init(
                    name: name,
                    type: Self.listingType(info.kind),
                    size: info.isFile ? info.size : nil,
                    modified: timestamps.string(from: info.modified),
                    sha256: info.isFile ? known[relative(name)] : nil
                )
            )
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(
            Listing(path: "/" + path.relative, entries: entries, next: next)
        )
        let headers: HTTPFields = [.contentType: FerryMediaType.json, .contentLength: String(data.count)]
        return Response(
            status: .ok,
            headers: headers,
            body: head ? .init() : .init(byteBuffer: ByteBuffer(bytes: data))
        )
    }

    static func listingType(_ kind: StoredItem.Kind) -> String {
        switch kind {
        case .file: return "file"
        case .folder: return "directory"
        case .link: return "link"
        case .other: return "other"
        }
    }

    /// The request's query parameters (the last value of each name).
    static func query(_ request: Request) -> [String: String] {
        var parameters: [String: String] = [:]
        for (name, value) in request.uri.queryParameters { parameters[String(name)] = String(value) }
        return parameters
    }

}

/// The authenticated partner of a request and its TLS facts.
struct Caller: Sendable {
    let partner: String
    let identity: PeerIdentity
    let tls: TLSConnectionRecord.Snapshot
    /// The request's channel: whether it is still open tells a PATCH still streaming from one draining a dropped
    /// connection.
    let channel: any Channel

    init(context: FerryRequestContext, policy: AccessPolicy) throws {
        guard let snapshot = context.connection?.snapshot, let der = snapshot.peerCertificateDER,
            let identity = PeerIdentity.cached(derEncoded: der)
        else {
            throw ProblemError(
                .clientCertificateRequired,
                detail: "connect with a client certificate issued by a CA this server trusts"
            )
        }
        switch policy.partnerName(for: identity, chain: snapshot.verifiedChainDER) {
        case .success(let partner):
            self.partner = partner
        case .failure(let refusal):
            throw ProblemError(
                .unknownPartner,
                detail:
                    "the client certificate (subject '\(identity.subject)', issuer '\(identity.issuer)') \(refusal.reason)"
            )
        }
        self.identity = identity
        self.tls = snapshot
        self.channel = context.channel
    }

    func entry(
        operation: LedgerEntry.Operation,
        path: String,
        direction: LedgerEntry.Direction,
        started: Date
    ) -> LedgerEntry {
        LedgerEntry(
            direction: direction,
            partner: partner,
            operation: operation,
            // A refused path is stored as text that cannot reach a terminal raw, and bounded.
            path: TerminalText.escaped(String(path.prefix(1024))),
            bytes: 0,
            sha256: nil,
            started: started,
            result: .failed,
            tlsVersion: tls.version?.description,
            cipherSuite: tls.cipherSuite?.description,
            peer: LedgerEntry.PeerCertificate(identity)
        )
    }
}

extension HTTPField.Name {
    static let reprDigest = Self(FerryHeader.reprDigest)!
}

extension ProblemError {
    /// 403 for a right the partner does not hold on a path.
    static func denied(_ right: FerryConfiguration.Right, _ path: PartnerPath) -> ProblemError {
        ProblemError(.accessDenied, detail: "you have no \(right.rawValue) right on '\(path)'")
    }
}

/// Dates in HTTP headers (`Last-Modified`, `Upload-Expires`).
enum HTTPDate {
    static func string(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return formatter.string(from: date)
    }
}
