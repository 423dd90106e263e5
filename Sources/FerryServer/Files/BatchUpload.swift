import Crypto
import FerryConfig
import FerryLedger
import FerryProtocol
import Foundation
import Hummingbird
import HTTPTypes
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// `POST /v1/files/{folder}/` with a batch body (``Batch``): many small files in one request, each checked and
/// committed as its own PUT would be. What a batch saves is the per-request work (an HTTP exchange, a trip to
/// the ledger's thread, a folder fsync per file); what each file gets is unchanged (rights, path rules, the
/// declared SHA-256 verified, temporary file, fsync, rename, a ledger row).
struct BatchUpload {
    let folder: PartnerPath
    let caller: Caller
    let policy: AccessPolicy
    let store: FileStore
    let ledger: Ledger

    /// Ledger rows and digests are written (and folders fsynced) every this many files, and at the end.
    static let flushEvery = 64

    /// The entry being received.
    struct Current {
        let header: Batch.Header
        var target: AccessPolicy.Target?
        var refusal: ProblemError?
        var bytes = ByteBuffer()
        var entry: LedgerEntry
    }

    /// What is committed but not yet in the ledger and the digest index.
    struct Pending {
        var rows: [LedgerEntry] = []
        var digests: [Ledger.KnownDigest] = []
        var folders: Set<String> = []
    }

    func run<Body: AsyncSequence>(_ body: Body) async throws -> Response where Body.Element == ByteBuffer {
        var decoder = BatchDecoder()
        var results: [Batch.FileResult] = []
        var pending = Pending()
        var current: Current?
        var problem: Problem?
        do {
            reading: for try await chunk in body {
                var chunk = chunk
                while true {
                    let event: BatchDecoder.Event?
                    do {
                        event = try decoder.next(from: &chunk)
                    } catch {
                        problem = Self.malformed(error)
                        break reading
                    }
                    guard let event else { break }
                    switch event {
                    case .header(let header):
                        current = begin(header)
                    case .bytes(var bytes):
                        if current?.refusal == nil { current?.bytes.writeBuffer(&bytes) }
                    case .entryEnd:
                        if var entry = current {
                            results.append(finish(&entry, into: &pending))
                            current = nil
                            if pending.rows.count >= Self.flushEvery { try await flush(&pending) }
                        }
                    }
                }
            }
            if problem == nil {
                do { try decoder.finish() } catch { problem = Self.malformed(error) }
            }
        } catch {
            // The body stopped (the client went away): what was committed is kept and recorded.
            if let current { pending.rows.append(failed(current, reason: "the request body ended inside this file: \(error)")) }
            try? await flush(&pending)
            throw error
        }
        if let current, let problem {
            pending.rows.append(failed(current, reason: problem.detail ?? problem.title))
            results.append(Batch.FileResult(path: current.header.path, status: problem.status, problem: problem))
        }
        try await flush(&pending)
        let report = Batch.Report(files: results, problem: problem)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(report)
        return Response(
            status: problem == nil ? .ok : .badRequest,
            headers: [.contentType: "application/json", .contentLength: String(data.count)],
            body: .init(byteBuffer: ByteBuffer(bytes: data))
        )
    }

    /// Resolves and checks an entry's target when its header arrives; a refused entry's bytes are skipped.
    func begin(_ header: Batch.Header) -> Current {
        var current = Current(header: header, entry: caller.entry(operation: "PUT", path: header.path, direction: .inbound, started: Date()))
        do {
            let joined = folder.relative.isEmpty ? header.path : folder.relative + "/" + header.path
            let path: PartnerPath
            do {
                path = try PartnerPath(plain: joined)
            } catch {
                throw ProblemError.from(error)
            }
            guard !path.isDirectory, !path.segments.isEmpty else {
                throw ProblemError("not-a-file", .badRequest, "Not a file path", detail: "'\(header.path)' names a folder, not a file")
            }
            let target = policy.resolve(path, partner: caller.partner)
            current.entry.path = target.rootRelative
            guard target.rights.contains(.write) else { throw FileRoutes.denied(.write, path) }
            try store.checkContainment(target)
            try store.prepareParent(of: target)
            current.target = target
            current.bytes.reserveCapacity(Int(header.size))
        } catch {
            current.refusal = ProblemError.wrap(error)
        }
        return current
    }

    /// Verifies and commits a complete entry; returns its result and queues its ledger row.
    func finish(_ current: inout Current, into pending: inout Pending) -> Batch.FileResult {
        let header = current.header
        do {
            if let refusal = current.refusal { throw refusal }
            guard let target = current.target else { throw ProblemError("storage-error", .internalServerError, "No target") }
            var hasher = SHA256()
            current.bytes.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
            let digest = FileDigest(bytes: Array(hasher.finalize()))!
            guard digest.hex == header.sha256 else {
                throw ProblemError(
                    "digest-mismatch", .badRequest, "Digest mismatch",
                    detail: "the header declared sha-256 \(header.sha256) but the \(header.size) bytes received hash to \(digest.hex); nothing was stored")
            }
            try FileManager.default.createDirectory(atPath: store.temporaryDirectory, withIntermediateDirectories: true)
            let temporary = store.temporaryDirectory + "/put-" + UUID().uuidString.lowercased()
            let placed: (replaced: Bool, stamp: FileStore.Stamp)
            do {
                try FileStore.writeDurably(current.bytes, to: temporary)
                placed = try store.place(temporary, at: target, refuseOverwrite: false)
            } catch {
                unlink(temporary)
                throw error
            }
            pending.folders.insert((target.absolutePath as NSString).deletingLastPathComponent)
            pending.digests.append(.init(path: target.rootRelative, sha256: digest.hex, stamp: placed.stamp.ledgerStamp))
            var row = current.entry
            row.bytes = header.size
            row.sha256 = digest.hex
            row.ended = Date()
            row.result = .ok
            pending.rows.append(row)
            return Batch.FileResult(path: header.path, status: placed.replaced ? 204 : 201, bytes: header.size, sha256: digest.hex)
        } catch {
            let problem = ProblemError.wrap(error).problem
            pending.rows.append(failed(current, reason: problem.description))
            return Batch.FileResult(path: header.path, status: problem.status, problem: problem)
        }
    }

    func failed(_ current: Current, reason: String) -> LedgerEntry {
        var row = current.entry
        row.ended = Date()
        row.result = .failed
        row.error = reason
        return row
    }

    /// Makes what was committed durable and recorded: the folders' fsyncs, then the digests and ledger rows
    /// (one statement each).
    func flush(_ pending: inout Pending) async throws {
        for folder in pending.folders { FileStore.syncDirectory(folder) }
        if !pending.digests.isEmpty { try await ledger.remember(pending.digests) }
        if !pending.rows.isEmpty { try await ledger.record(pending.rows) }
        pending = Pending()
    }

    static func malformed(_ error: BatchFormatError) -> Problem {
        Problem("malformed-batch", status: 400, title: "Malformed batch", detail: "\(error.description); the files before it were handled as listed")
    }
}

extension ProblemError {
    /// Any error as a problem (storage errors keep their reason).
    static func wrap(_ error: any Error) -> ProblemError {
        if let problem = error as? ProblemError { return problem }
        return ProblemError("storage-error", .internalServerError, "Cannot store", detail: String(describing: error))
    }
}
