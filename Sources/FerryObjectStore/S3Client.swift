public import AsyncHTTPClient
import Crypto
public import Foundation
public import NIOCore
import NIOHTTP1

/// The operations Ferry needs from an S3-compatible object store, signed with SigV4: objects (put, ranged get,
/// head, delete, list) and multipart uploads (create, upload a part, list parts, complete, abort, list open ones).
public struct S3Client: Sendable {
    public struct Settings: Sendable, Equatable {
        /// `https://s3.eu-central-1.amazonaws.com`, `http://127.0.0.1:8333`, ...
        public var endpoint: String
        public var bucket: String
        public var region: String
        /// Bucket in the path (`/bucket/key`, what most S3-compatible servers want) or in the host name
        /// (`bucket.s3.amazonaws.com/key`).
        public var pathStyle: Bool
        /// Requests in flight at most (each holds a connection); more wait their turn (``RequestGate``).
        public var connections: Int

        public init(
            endpoint: String,
            bucket: String,
            region: String = "us-east-1",
            pathStyle: Bool = true,
            connections: Int = 32
        ) {
            self.endpoint = endpoint
            self.bucket = bucket
            self.region = region
            self.pathStyle = pathStyle
            self.connections = connections
        }
    }

    /// An object's length, entity tag and modification time (whole seconds: what every answer can give, so a
    /// listing and a HEAD of one object agree).
    public struct ObjectInfo: Sendable, Equatable {
        public let key: String
        public let size: Int64
        public let etag: String
        public let modified: Date

        public init(key: String, size: Int64, etag: String, modified: Date) {
            self.key = key
            self.size = size
            self.etag = etag
            self.modified = modified
        }

        init(key: String, size: Int64, headers: HTTPHeaders) {
            let date = headers.first(name: "last-modified").flatMap(S3Client.httpDate)
            self.init(
                key: key,
                size: size,
                etag: headers.first(name: "etag") ?? "",
                modified: date ?? Date(timeIntervalSince1970: 0)
            )
        }
    }

    /// A page of a listing; `next` continues it.
    public struct Listing: Sendable {
        public let objects: [ObjectInfo]
        /// With a delimiter: the names under the prefix that go on past it ("folders"), each ending in it.
        public let folders: [String]
        public let next: String?
    }

    /// A multipart upload the store holds open.
    public struct OpenUpload: Sendable, Equatable {
        public let key: String
        public let uploadID: String
        public let initiated: String
    }

    /// A completed part of a multipart upload.
    public struct Part: Sendable, Equatable {
        public let number: Int
        public let etag: String
        public let size: Int64

        public init(number: Int, etag: String, size: Int64) {
            self.number = number
            self.etag = etag
            self.size = size
        }
    }

    /// The most of an XML answer read (a listing page of 1,000 keys is well under it).
    static let maximumAnswer = 8 << 20

    public let settings: Settings
    private let signer: SigV4Signer
    private let http: HTTPClient
    private let scheme: String
    private let authority: String
    private let gate: RequestGate

    /// The process's client for object stores (like `HTTPClient.shared`, never shut down): a store that does not
    /// answer fails a request after the connect timeout, instead of being retried until the request's deadline.
    public static let sharedHTTP: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.timeout.connect = .seconds(10)
        configuration.connectionPool.retryConnectionEstablishment = false
        // Above any client's `connections`: the gate, not the pool, decides how many requests run.
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = maximumConnections
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    /// Requests in flight this client allows now (with several nodes, its share of `storage.s3.connections`).
    public var requestLimit: Int { gate.limit }

    /// Sets how many requests may be in flight (the node's share as nodes come and go).
    public func setRequestLimit(_ limit: Int) {
        gate.setLimit(min(limit, Self.maximumConnections))
    }

    /// The most `storage.s3.connections` may be.
    public static let maximumConnections = 512

    public init(settings: Settings, credentials: ObjectStoreCredentials, http: HTTPClient = sharedHTTP) throws {
        guard let url = URL(string: settings.endpoint), let scheme = url.scheme?.lowercased(),
            scheme == "https" || scheme == "http", let host = url.host, !host.isEmpty,
            url.path.isEmpty || url.path == "/", url.query == nil
        else {
            throw ObjectStoreError(
                "storage.s3.endpoint: '\(settings.endpoint)' is not an endpoint URL such as https://s3.eu-central-1.amazonaws.com or http://127.0.0.1:8333 (scheme and host, no path)"
            )
        }
        guard Self.isBucketName(settings.bucket) else {
            throw ObjectStoreError(
                "storage.s3.bucket: '\(settings.bucket)' is not a bucket name (3 to 63 lower-case letters, digits, '.' and '-')"
            )
        }
        self.settings = settings
        self.signer = SigV4Signer(credentials: credentials, region: settings.region)
        self.http = http
        self.gate = RequestGate(limit: min(settings.connections, Self.maximumConnections))
        self.scheme = scheme
        var authority = settings.pathStyle ? host : "\(settings.bucket).\(host)"
        if let port = url.port { authority += ":\(port)" }
        self.authority = authority
    }

    static func isBucketName(_ name: String) -> Bool {
        (3...63).contains(name.utf8.count)
            && name.utf8.allSatisfy {
                ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z"))
                    || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9"))
                    || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-")
            }
    }

    // MARK: objects

    /// Stores `body` as `key` (one request: small objects; large ones go as multipart uploads). `onlyIfAbsent`
    /// sends `If-None-Match: *`: a store that honours it refuses with 412 `PreconditionFailed` when the key exists.
    public func put(_ key: String, body: ByteBuffer, onlyIfAbsent: Bool = false) async throws {
        _ = try await send(
            .PUT,
            key: key,
            headers: onlyIfAbsent ? [("if-none-match", "*")] : [],
            body: body,
            operation: "put"
        ) { _ in }
    }

    /// Streams `key`, or the bytes `range` of it, to `body`; false when there is no such object. With `ifMatch` (an
    /// entity tag), an object replaced since is refused (412 `PreconditionFailed`). An answer that breaks off is an
    /// `ObjectStoreError`; `body`'s own errors pass through as they are.
    public func read(
        _ key: String,
        range: ClosedRange<Int64>? = nil,
        ifMatch: String? = nil,
        _ body: (ByteBuffer) async throws -> Void
    ) async throws -> Bool {
        var headers: [(String, String)] = []
        if let range { headers.append(("range", "bytes=\(range.lowerBound)-\(range.upperBound)")) }
        if let ifMatch { headers.append(("if-match", ifMatch)) }
        return try await send(.GET, key: key, headers: headers, operation: "get", missingIsNil: true) { response in
            guard let response else { return false }
            var iterator = response.body.makeAsyncIterator()
            while true {
                let chunk: ByteBuffer?
                do {
                    chunk = try await iterator.next()
                } catch {
                    throw ObjectStoreError("the object store's answer to get \(key) broke off: \(error)")
                }
                guard let chunk else { return true }
                try await body(chunk)
            }
        }
    }

    /// The object's length, entity tag and modification time, nil when there is none.
    public func head(_ key: String) async throws -> ObjectInfo? {
        try await send(.HEAD, key: key, operation: "head", missingIsNil: true) { response in
            response.map {
                ObjectInfo(
                    key: key,
                    size: $0.headers.first(name: "content-length").flatMap { Int64($0) } ?? 0,
                    headers: $0.headers
                )
            }
        }
    }

    /// Deletes `key` (no error when there is none).
    public func delete(_ key: String) async throws {
        try await send(.DELETE, key: key, operation: "delete") { _ in }
    }

    /// One page of the keys under `prefix`, in the store's order (UTF-8 byte order), from `continuation`, or
    /// after the key `startAfter`; with `delimiter` ("/"), keys that go on past it are rolled up into `folders`.
    public func list(
        prefix: String,
        delimiter: String? = nil,
        startAfter: String? = nil,
        continuation: String? = nil,
        maximum: Int = 1000
    ) async throws -> Listing {
        var query = [("list-type", "2"), ("prefix", prefix), ("max-keys", String(maximum))]
        if let delimiter { query.append(("delimiter", delimiter)) }
        if let startAfter { query.append(("start-after", startAfter)) }
        if let continuation { query.append(("continuation-token", continuation)) }
        let answer = try await xml(.GET, key: nil, query: query, operation: "list")
        let objects = answer.all("Contents").map {
            ObjectInfo(
                key: $0.value("Key") ?? "",
                size: Int64($0.value("Size") ?? "") ?? 0,
                etag: $0.value("ETag") ?? "",
                modified: $0.value("LastModified").flatMap(Self.isoDate) ?? Date(timeIntervalSince1970: 0)
            )
        }
        let folders = answer.all("CommonPrefixes").compactMap { $0.value("Prefix") }
        let truncated = answer.value("IsTruncated") == "true"
        return Listing(
            objects: objects,
            folders: folders,
            next: truncated ? answer.value("NextContinuationToken") : nil
        )
    }

    /// Creates the bucket (tests and first setup; an existing bucket of one's own is not an error).
    public func createBucket() async throws {
        do {
            try await send(.PUT, key: nil, operation: "create bucket") { _ in }
        } catch let error as ObjectStoreError where error.code == "BucketAlreadyOwnedByYou" {
            return
        }
    }

    // MARK: multipart uploads

    public func createMultipartUpload(_ key: String) async throws -> String {
        let answer = try await xml(.POST, key: key, query: [("uploads", "")], operation: "create multipart upload")
        guard let id = answer.value("UploadId"), !id.isEmpty else {
            throw ObjectStoreError("the object store created a multipart upload for \(key) without an UploadId")
        }
        return id
    }

    /// Uploads part `number` (1 to 10,000); its entity tag, which completing the upload names.
    public func uploadPart(_ key: String, uploadID: String, number: Int, body: ByteBuffer) async throws -> Part {
        let etag = try await send(
            .PUT,
            key: key,
            query: [("partNumber", String(number)), ("uploadId", uploadID)],
            body: body,
            operation: "upload part \(number)"
        ) { $0?.headers.first(name: "etag") }
        guard let etag else {
            throw ObjectStoreError("the object store answered part \(number) of \(key) without an ETag")
        }
        return Part(number: number, etag: etag, size: Int64(body.readableBytes))
    }

    /// The parts the store holds for an upload, in order (what a node taking the upload over starts from).
    public func listParts(_ key: String, uploadID: String) async throws -> [Part] {
        var parts: [Part] = []
        var marker: String?
        repeat {
            var query = [("uploadId", uploadID)]
            if let marker { query.append(("part-number-marker", marker)) }
            let answer = try await xml(.GET, key: key, query: query, operation: "list parts")
            parts += answer.all("Part").compactMap { part in
                guard let number = Int(part.value("PartNumber") ?? "") else { return nil }
                return Part(
                    number: number,
                    etag: part.value("ETag") ?? "",
                    size: Int64(part.value("Size") ?? "") ?? 0
                )
            }
            marker = answer.value("IsTruncated") == "true" ? answer.value("NextPartNumberMarker") : nil
        } while marker != nil
        return parts.sorted { $0.number < $1.number }
    }

    /// Makes the object from the parts: it appears whole, or not at all. `onlyIfAbsent` as for `put`.
    public func completeMultipartUpload(
        _ key: String,
        uploadID: String,
        parts: [Part],
        onlyIfAbsent: Bool = false
    ) async throws {
        var body = "<CompleteMultipartUpload>"
        for part in parts.sorted(by: { $0.number < $1.number }) {
            body += "<Part><PartNumber>\(part.number)</PartNumber><ETag>\(part.etag.xmlEscaped)</ETag></Part>"
        }
        body += "</CompleteMultipartUpload>"
        // The store may answer 200 and then an error in the body (it takes a while to assemble a large object).
        _ = try await xml(
            .POST,
            key: key,
            query: [("uploadId", uploadID)],
            headers: onlyIfAbsent ? [("if-none-match", "*")] : [],
            body: ByteBuffer(string: body),
            operation: "complete multipart upload"
        )
    }

    public func abortMultipartUpload(_ key: String, uploadID: String) async throws {
        try await send(.DELETE, key: key, query: [("uploadId", uploadID)], operation: "abort multipart upload") { _ in }
    }

    /// The multipart uploads open under `prefix` (for the expiry sweep).
    public func openUploads(prefix: String) async throws -> [OpenUpload] {
        var uploads: [OpenUpload] = []
        var markers: (key: String, id: String)?
        repeat {
            var query = [("uploads", ""), ("prefix", prefix)]
            if let markers { query += [("key-marker", markers.key), ("upload-id-marker", markers.id)] }
            let answer = try await xml(.GET, key: nil, query: query, operation: "list multipart uploads")
            uploads += answer.all("Upload").map {
                OpenUpload(
                    key: $0.value("Key") ?? "",
                    uploadID: $0.value("UploadId") ?? "",
                    initiated: $0.value("Initiated") ?? ""
                )
            }
            markers =
                answer.value("IsTruncated") == "true"
                ? (answer.value("NextKeyMarker") ?? "", answer.value("NextUploadIdMarker") ?? "") : nil
        } while markers != nil
        return uploads
    }

    // MARK: requests

    /// A date in an HTTP header (`Last-Modified`), to the second.
    static func httpDate(_ text: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter.date(from: text)
    }

    /// A date in a listing (`2026-12-07T02:10:12.000Z`), cut to the second as HEAD's `Last-Modified` is.
    static func isoDate(_ text: String) -> Date? {
        let seconds = text.split(separator: ".").first.map { String($0).hasSuffix("Z") ? String($0) : $0 + "Z" }
        return seconds.flatMap { ISO8601DateFormatter().date(from: $0) }
    }

    private func xml(
        _ method: HTTPMethod,
        key: String?,
        query: [(String, String)],
        headers: [(String, String)] = [],
        body: ByteBuffer? = nil,
        operation: String
    ) async throws -> XMLTree {
        let data = try await send(
            method,
            key: key,
            query: query,
            headers: headers,
            body: body,
            operation: operation
        ) { response in
            guard let response else {
                throw ObjectStoreError("the object store has no \(key ?? settings.bucket) (\(operation))", status: 404)
            }
            return try await Self.collect(response.body, operation: operation)
        }
        let tree = try XMLTree.parse(Data(data.readableBytesView))
        if tree.name == "Error" { throw failure(tree, status: 200, key: key, operation: operation) }
        return tree
    }

    private static func collect(_ body: HTTPClientResponse.Body, operation: String) async throws -> ByteBuffer {
        do {
            return try await body.collect(upTo: maximumAnswer)
        } catch is NIOTooManyBytesError {
            throw ObjectStoreError("the object store's answer to \(operation) is larger than \(maximumAnswer) bytes")
        }
    }

    /// Sends a signed request once a place in the gate is free, and `handle` reads its answer while it holds the place
    /// (nil for 404 when `missingIsNil`).
    private func send<T>(
        _ method: HTTPMethod,
        key: String?,
        query: [(String, String)] = [],
        headers: [(String, String)] = [],
        body: ByteBuffer? = nil,
        operation: String,
        missingIsNil: Bool = false,
        _ handle: (HTTPClientResponse?) async throws -> T
    ) async throws -> T {
        try await gate.withPlace {
            var attempt = 1
            while true {
                let response: HTTPClientResponse?
                do {
                    response = try await answer(
                        method,
                        key: key,
                        query: query,
                        headers: headers,
                        body: body,
                        operation: operation,
                        missingIsNil: missingIsNil
                    )
                } catch let error as ObjectStoreError where Self.isTransient(error) && attempt < Self.attempts {
                    // 500 InternalError, 503 SlowDown and the like say "try again": after 100 ms, then 400 ms, as
                    // the stores' own SDKs do. Every request Ferry sends may be repeated (its body is in memory).
                    try await Task.sleep(for: .milliseconds(100 << (2 * (attempt - 1))))
                    attempt += 1
                    continue
                }
                return try await handle(response)
            }
        }
    }

    /// How many times a request is sent when the store answers that it failed for now.
    static let attempts = 3

    /// An answer that says to try again: a 5xx status (InternalError, SlowDown, ServiceUnavailable), not a refusal.
    static func isTransient(_ error: ObjectStoreError) -> Bool {
        guard let status = error.status else { return false }
        return [500, 502, 503, 504].contains(status)
    }

    /// Sends a signed request; nil for 404 when `missingIsNil`; an `ObjectStoreError` naming the store's error
    /// code for any other answer that is not 2xx.
    private func answer(
        _ method: HTTPMethod,
        key: String?,
        query: [(String, String)],
        headers: [(String, String)],
        body: ByteBuffer?,
        operation: String,
        missingIsNil: Bool
    ) async throws -> HTTPClientResponse? {
        var path = settings.pathStyle ? "/\(settings.bucket)" : ""
        if let key { path += "/" + SigV4Signer.encode(key, keepSlash: true) }
        if path.isEmpty { path = "/" }
        var hasher = SHA256()
        body?.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
        let payloadHash = SigV4Signer.hex(hasher.finalize())
        let signed = signer.sign(
            method: method.rawValue,
            host: authority,
            path: path,
            query: query,
            headers: headers + [("x-amz-content-sha256", payloadHash)],
            payloadHash: payloadHash,
            date: Date()
        )
        let canonicalQuery = SigV4Signer.canonicalQuery(query)
        var request = HTTPClientRequest(
            url: "\(scheme)://\(authority)\(path)\(query.isEmpty ? "" : "?" + canonicalQuery)"
        )
        request.method = method
        request.headers.add(name: "host", value: authority)
        for (name, value) in signed.headers { request.headers.add(name: name, value: value) }
        request.headers.add(name: "authorization", value: signed.authorization)
        if let body {
            request.headers.add(name: "content-length", value: String(body.readableBytes))
            request.body = .bytes(body)
        }
        let response: HTTPClientResponse
        do {
            let timeout: TimeAmount = .seconds(60 + Int64((body?.readableBytes ?? 0) >> 20))
            response = try await http.execute(request, timeout: timeout)
        } catch {
            throw ObjectStoreError(
                "cannot reach the object store at \(settings.endpoint) (\(operation)\(key.map { " \($0)" } ?? "")): \(error). Is it running, and is storage.s3.endpoint right?"
            )
        }
        if (200..<300).contains(response.status.code) { return response }
        if response.status == .notFound, missingIsNil { return nil }
        let data = (try? await response.body.collect(upTo: 64 << 10)) ?? ByteBuffer()
        if method != .HEAD, data.readableBytes > 0, let tree = try? XMLTree.parse(Data(data.readableBytesView)) {
            throw failure(tree, status: Int(response.status.code), key: key, operation: operation)
        }
        throw ObjectStoreError(
            "the object store answered \(operation)\(key.map { " \($0)" } ?? "") with \(response.status)",
            status: Int(response.status.code)
        )
    }

    private func failure(_ tree: XMLTree, status: Int, key: String?, operation: String) -> ObjectStoreError {
        let code = tree.value("Code") ?? "unknown"
        let message = tree.value("Message") ?? ""
        let hint: String
        switch code {
        case "SignatureDoesNotMatch", "InvalidAccessKeyId", "AccessDenied":
            hint =
                ": check the access key (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY or the credentials file) and storage.s3.region"
        case "NoSuchBucket": hint = ": create the bucket \(settings.bucket), or correct storage.s3.bucket"
        case "NoSuchUpload": hint = ": the multipart upload was completed or aborted elsewhere"
        default: hint = ""
        }
        return ObjectStoreError(
            "the object store refused \(operation)\(key.map { " of \($0)" } ?? ""): \(status) \(code) \(message)\(hint)",
            status: status,
            code: code
        )
    }
}
