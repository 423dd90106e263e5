import Crypto
import FerryConfig
import FerryLedger
import FerryProtocol
import FerryTLS
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// tus 1.0.0 resumable uploads under `/v1/uploads`: core, creation, creation-with-upload, termination,
/// checksum (sha1, sha256) and expiration. The last byte triggers digest verification and an atomic commit
/// to the target, with the same rights checks as `PUT`.
struct UploadRoutes<Storage: FileStorage>: RouterMiddleware {
    typealias Context = FerryRequestContext

    static var prefix: String { FerryAPI.uploads }
    static var version: String { TusProtocol.version }
    static var extensions: String { TusProtocol.extensions.joined(separator: ",") }
    static var checksumAlgorithms: String { TusProtocol.checksumAlgorithms.joined(separator: ",") }
    static var contentType: String { FerryMediaType.tusOffset }
    /// During a PATCH without a checksum, the part file is fsynced and the offset acknowledged this often, so a
    /// crash loses at most this much.
    static var checkpointBytes: Int64 { 8 << 20 }

    let policy: AccessPolicy
    let files: FileStore<Storage>
    let uploads: UploadStore<Storage>
    let ledger: any Ledger
    let maximumSize: Int64

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let path = request.uri.path
        guard path == Self.prefix || path.hasPrefix(Self.prefix + "/") else {
            return try await next(request, context)
        }
        do {
            var response = try await route(request, path: path, context: context)
            response.headers[.tusResumable] = Self.version
            return response
        } catch var problem as ProblemError {
            problem.additionalHeaders[.tusResumable] = Self.version
            throw problem
        } catch let error as StorageError {
            // The boundary where the storage layer's errors become problems.
            var problem = ProblemError(error)
            problem.additionalHeaders[.tusResumable] = Self.version
            throw problem
        }
    }

    private func route(_ request: Request, path: String, context: Context) async throws -> Response {
        let id = path.dropFirst(Self.prefix.count).drop { $0 == "/" }
        if request.method == .options {
            return Response(
                status: .noContent,
                headers: [
                    .tusVersion: Self.version,
                    .tusExtension: Self.extensions,
                    .tusMaxSize: String(maximumSize),
                    .tusChecksumAlgorithm: Self.checksumAlgorithms,
                ]
            )
        }
        if let version = request.headers[.tusResumable], version != Self.version {
            var problem = ProblemError(.tusVersion, detail: "this server speaks tus \(Self.version)")
            problem.additionalHeaders[.tusVersion] = Self.version
            throw problem
        }
        let caller = try Caller(context: context, policy: policy)
        if id.isEmpty {
            guard request.method == .post else {
                throw ProblemError(.methodNotAllowed, detail: "use POST to create an upload, OPTIONS to discover")
            }
            return try await create(request, caller: caller)
        }
        guard let record = await uploads.load(id, partner: caller.partner) else {
            throw ProblemError(
                .uploadNotFound,
                detail: "no upload '\(id)' for you; it may have expired or been completed"
            )
        }
        switch request.method {
        case .head:
            // A PATCH whose connection dropped still drains what had arrived: wait for it, so those bytes are
            // counted. A PATCH still streaming keeps going; then the last acknowledged offset is the answer.
            _ = await uploads.waitUntilIdle(record.id, timeout: .seconds(20))
            guard let current = await uploads.load(id, partner: caller.partner) else {
                throw ProblemError(.uploadNotFound, detail: "the upload was completed or terminated")
            }
            return Response(
                status: .ok,
                headers: headers(
                    for: current,
                    extra: [
                        .uploadLength: String(current.length), .uploadMetadata: current.metadata,
                        .cacheControl: "no-store",
                    ]
                )
            )
        case .patch:
            return try await uploads.exclusively(record.id, on: caller.channel) {
                // Re-read under the lock: another request may have moved the offset meanwhile. Only here, with
                // no PATCH writing, may the part file be cut back to the acknowledged offset.
                guard let current = try await uploads.loadForWriting(id, partner: caller.partner) else {
                    throw ProblemError(.uploadNotFound, detail: "the upload was completed or terminated")
                }
                return try await patch(request, record: current, caller: caller)
            }
        case .delete:
            return try await uploads.exclusively(record.id, on: caller.channel) {
                await uploads.remove(record.id)
                return Response(status: .noContent)
            }
        default:
            throw ProblemError(.methodNotAllowed, detail: "use HEAD, PATCH or DELETE on an upload")
        }
    }

    // MARK: Creation

    private func create(_ request: Request, caller: Caller) async throws -> Response {
        if request.headers[.uploadDeferLength] != nil {
            throw ProblemError(.deferLengthUnsupported, detail: "send Upload-Length")
        }
        guard let lengthText = request.headers[.uploadLength], let length = Int64(lengthText), length >= 0 else {
            throw ProblemError(.uploadLength, detail: "send Upload-Length with the file's size in bytes")
        }
        guard length <= maximumSize else {
            throw ProblemError(.tooLarge, detail: "\(length) bytes exceed this server's maximum of \(maximumSize)")
        }
        let rawMetadata = request.headers[.uploadMetadata] ?? ""
        let metadata: [String: String]
        do {
            metadata = try TusMetadata.parse(rawMetadata)
        } catch {
            throw ProblemError(.badMetadata, detail: error.description)
        }
        guard let plainPath = metadata[TusProtocol.pathKey] ?? metadata[TusProtocol.filenameKey], !plainPath.isEmpty
        else {
            throw ProblemError(.pathRequired, detail: "put the target path in Upload-Metadata as 'path' (base64)")
        }
        let target = try await writableTarget(plainPath, caller: caller)
        let place = try await files.prepareParent(of: target.target)
        // A file converted in text mode goes elsewhere first; one stored as it arrives is written at its place.
        let storedAsSent = policy.textMode(for: caller.partner, at: target.target) == nil
        var declaredDigest: String?
        if let declared = metadata[TusProtocol.sha256Key] {
            guard let digest = FileDigest(hex: declared) else {
                throw ProblemError(
                    .badMetadata,
                    detail: "Malformed sha256: Upload-Metadata sha256 must be 64 hexadecimal digits"
                )
            }
            declaredDigest = digest.hex
        }
        let sha256 = declaredDigest
        let id = UploadID.new()
        try await files.quotas.openUpload(id, target: target.target, caller: caller.partner, length: length)
        // Held from the record's creation to the end of the first bytes: the expiry sweep passes over a busy upload,
        // and one it removed between the two would answer this POST with 500.
        return try await uploads.exclusively(id, on: caller.channel) {
            let record: UploadRecord
            do {
                record = try await uploads.create(
                    id: id,
                    partner: caller.partner,
                    path: target.path.relative,
                    length: length,
                    sha256: sha256,
                    metadata: rawMetadata,
                    place: storedAsSent ? place : nil
                )
            } catch {
                await files.quotas.closeUpload(id)
                throw error
            }
            let location = Self.prefix + "/" + record.id
            var response: Response
            if request.headers[.contentType] == Self.contentType {
                // creation-with-upload: the POST may carry the first bytes.
                response = try await patch(request, record: record, caller: caller, checkOffset: false)
            } else if length == 0 {
                response = try await finish(record, caller: caller)
            } else {
                return Response(status: .created, headers: headers(for: record, extra: [.location: location]))
            }
            response.status = .created
            response.headers[.location] = location
            return response
        }
    }

    private func writableTarget(
        _ plainPath: String,
        caller: Caller
    ) async throws -> (path: PartnerPath, target: AccessPolicy.Target) {
        let path: PartnerPath
        do {
            path = try PartnerPath(plain: plainPath)
        } catch {
            throw ProblemError.from(error)
        }
        guard !path.segments.isEmpty, !path.isDirectory else {
            throw ProblemError(.notAFile, detail: "the upload's path must name a file")
        }
        let target = policy.resolve(path, partner: caller.partner)
        guard target.rights.contains(.write) else { throw ProblemError.denied(.write, path) }
        try await files.storage.prepareArea(target)
        return (path, target)
    }

    // MARK: PATCH

    private func patch(
        _ request: Request,
        record: UploadRecord,
        caller: Caller,
        checkOffset: Bool = true
    ) async throws -> Response {
        guard request.headers[.contentType] == Self.contentType else {
            throw ProblemError(.unsupportedMediaType, detail: "PATCH bodies must be \(Self.contentType)")
        }
        if checkOffset {
            guard let offsetText = request.headers[.uploadOffset], let offset = Int64(offsetText) else {
                throw ProblemError(.uploadOffset, detail: "send Upload-Offset; HEAD tells the current one")
            }
            guard offset == record.offset else {
                var problem = ProblemError(
                    .offsetMismatch,
                    detail:
                        "the upload is at \(record.offset), the request starts at \(offset); resume from \(record.offset)"
                )
                problem.additionalHeaders[.uploadOffset] = String(record.offset)
                throw problem
            }
        }
        let checksum = try request.headers[.uploadChecksum].map(UploadChecksum.init(header:))
        var record = record
        try await receive(request.body, into: &record, checksum: checksum)
        if record.offset == record.length {
            return try await finish(record, caller: caller)
        }
        return Response(status: .noContent, headers: headers(for: record))
    }

    /// Appends the body to the part file. Without a checksum, progress is acknowledged every
    /// `checkpointBytes` and when the connection drops; with one, the PATCH counts only whole and verified.
    private func receive(_ body: RequestBody, into record: inout UploadRecord, checksum: UploadChecksum?) async throws {
        let start = record.offset
        var written = start
        var hasher = checksum?.makeHasher()
        // The whole file's digest follows the bytes when this server saw all of them before this PATCH.
        var whole: SHA256? = start == 0 ? SHA256() : uploads.takeDigest(record.id, at: start)
        var sinceCheckpoint: Int64 = 0
        var failure: (any Error)?
        var part = try await files.storage.openPart(id: record.id, at: written)
        defer { part.close() }
        do {
            for try await chunk in body {
                guard written + Int64(chunk.readableBytes) <= record.length else {
                    throw ProblemError(
                        .tooLarge,
                        detail:
                            "Beyond Upload-Length: the upload is \(record.length) bytes; this PATCH goes past the end"
                    )
                }
                hasher?.update(chunk)
                if whole != nil { chunk.withUnsafeReadableBytes { whole!.update(bufferPointer: $0) } }
                try await part.write(chunk)
                written += Int64(chunk.readableBytes)
                sinceCheckpoint += Int64(chunk.readableBytes)
                if checksum == nil && sinceCheckpoint >= Self.checkpointBytes {
                    let durable = try await part.checkpoint(final: false)
                    if durable > record.offset {
                        record.offset = durable
                        record.lastActivity = Date()
                        try await uploads.save(record)
                    }
                    sinceCheckpoint = 0
                }
            }
        } catch {
            failure = error
        }
        // What arrived is made durable even when the request was cancelled (a stopping server cuts requests after
        // its grace period): the checkpoint below counts on these bytes.
        do {
            let unflushed = part
            (part, written) = try await Task.detached {
                var part = unflushed
                let durable = try await part.checkpoint(final: true)
                return (part, durable)
            }.value
        } catch {
            failure = failure ?? error
        }
        let keepsPartialBytes = checksum == nil && !(failure is ProblemError || failure is StorageError)
        if let failure, !keepsPartialBytes {
            if let kept = try? await files.storage.truncatePart(id: record.id, to: record.offset), kept > record.offset
            {
                // The storage kept durable parts of this request (an object store's): they count.
                record.offset = kept
                try? await uploads.save(record)
            }
            throw failure
        }
        if let checksum, let hasher, !checksum.matches(hasher) {
            record.offset = start
            guard try await files.storage.truncatePart(id: record.id, to: start) == start else {
                // The storage cannot take back what it made durable (an object store's completed parts), and some
                // of those bytes are wrong: the upload cannot go on.
                await uploads.remove(record.id)
                throw ProblemError(
                    .checksumMismatch,
                    detail:
                        "Upload-Checksum \(checksum.algorithm) does not match this PATCH's bytes, some of which the storage already holds for good; the upload was discarded: start it again (smaller PATCHes avoid this)"
                )
            }
            throw ProblemError(
                .checksumMismatch,
                detail:
                    "Upload-Checksum \(checksum.algorithm) does not match this PATCH's bytes; they were discarded, the offset stays \(start)"
            )
        }
        record.offset = written
        record.lastActivity = Date()
        try await uploads.save(record)
        if let whole { uploads.keepDigest(whole, for: record.id, at: written) }
        if let failure { throw failure }
    }

    /// Verifies the whole file and commits it to its target.
    private func finish(_ record: UploadRecord, caller: Caller) async throws -> Response {
        let started = record.created
        var entry = caller.entry(operation: .tus, path: record.path, direction: .inbound, started: started)
        do {
            let (_, target) = try await writableTarget(record.path, caller: caller)
            entry.path = target.rootRelative
            let digest: FileDigest
            if let running = uploads.takeDigest(record.id, at: record.length) {
                digest = FileDigest(bytes: Array(running.finalize()))!
            } else {
                // Bytes from before a restart, or written by another node: the storage's own digest of the part.
                digest = try await files.storage.digestOfPart(id: record.id)
            }
            if let declared = record.sha256, declared != digest.hex {
                await uploads.remove(record.id)
                throw ProblemError(
                    .digestMismatch,
                    detail:
                        "Upload-Metadata declared sha256 \(declared) but the \(record.length) bytes received hash to \(digest.hex); nothing was stored and the upload was discarded"
                )
            }
            let committed: FileStore<Storage>.Committed
            if let text = policy.textMode(for: caller.partner, at: target) {
                do {
                    committed = try await files.installConvertedPart(
                        record.id,
                        at: target,
                        digest: digest,
                        bytes: record.length,
                        text: text
                    )
                } catch let error as ProblemError where error.problem.slug == ProblemKind.conversionFailed.slug {
                    // The bytes arrived whole but are not the text agreed: sending them again cannot help.
                    await uploads.remove(record.id)
                    throw error
                }
            } else {
                committed = try await files.installPart(record.id, at: target, digest: digest, bytes: record.length)
            }
            await uploads.forget(record.id, committed: committed.change)
            entry.bytes = committed.bytes
            entry.sha256 = digest.hex
            entry.fileSHA256 = committed.text?.sha256
            entry.conversion = committed.text?.ledgerText
            entry.ended = Date()
            entry.result = .ok
            try await ledger.record(entry)
            return Response(
                status: .noContent,
                headers: [.uploadOffset: String(record.length), .reprDigest: digest.reprDigestHeader]
            )
        } catch {
            entry.ended = Date()
            entry.error = ProblemError.ledgerText(error)
            try? await ledger.record(entry)
            throw error
        }
    }

    private func headers(for record: UploadRecord, extra: HTTPFields = [:]) -> HTTPFields {
        var headers: HTTPFields = [
            .uploadOffset: String(record.offset), .uploadExpires: HTTPDate.string(uploads.expiry(of: record)),
        ]
        headers.append(contentsOf: extra)
        return headers
    }
}

/// An `Upload-Checksum` header: `sha1 <base64>` or `sha256 <base64>`.
struct UploadChecksum {
    let algorithm: String
    let expected: [UInt8]

    init(header: String) throws {
        let parts = header.split(separator: " ")
        guard parts.count == 2, let data = Data(base64Encoded: String(parts[1])) else {
            throw ProblemError(.badChecksumHeader, detail: "expected 'ALGORITHM BASE64'")
        }
        let algorithm = parts[0].lowercased()
        guard TusProtocol.checksumAlgorithms.contains(algorithm) else {
            throw ProblemError(
                .checksumAlgorithm,
                detail: "use one of \(TusProtocol.checksumAlgorithms.joined(separator: ","))"
            )
        }
        self.algorithm = algorithm
        self.expected = Array(data)
    }

    enum Hasher {
        case sha1(Insecure.SHA1)
        case sha256(SHA256)

        mutating func update(_ buffer: ByteBuffer) {
            buffer.withUnsafeReadableBytes { bytes in
                switch self {
                case .sha1(var hasher):
                    hasher.update(bufferPointer: bytes)
                    self = .sha1(hasher)
                case .sha256(var hasher):
                    hasher.update(bufferPointer: bytes)
                    self = .sha256(hasher)
                }
            }
        }
    }

    func makeHasher() -> Hasher {
        algorithm == "sha1" ? .sha1(Insecure.SHA1()) : .sha256(SHA256())
    }

    func matches(_ hasher: Hasher) -> Bool {
        switch hasher {
        case .sha1(let hasher): return Array(hasher.finalize()) == expected
        case .sha256(let hasher): return Array(hasher.finalize()) == expected
        }
    }
}

extension HTTPField.Name {
    static let tusResumable = Self(FerryHeader.tusResumable)!
    static let tusVersion = Self(FerryHeader.tusVersion)!
    static let tusExtension = Self(FerryHeader.tusExtension)!
    static let tusMaxSize = Self(FerryHeader.tusMaxSize)!
    static let tusChecksumAlgorithm = Self(FerryHeader.tusChecksumAlgorithm)!
    static let uploadLength = Self(FerryHeader.uploadLength)!
    static let uploadOffset = Self(FerryHeader.uploadOffset)!
    static let uploadMetadata = Self(FerryHeader.uploadMetadata)!
    static let uploadDeferLength = Self(FerryHeader.uploadDeferLength)!
    static let uploadChecksum = Self(FerryHeader.uploadChecksum)!
    static let uploadExpires = Self(FerryHeader.uploadExpires)!
}
