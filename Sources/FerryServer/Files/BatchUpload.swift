import Crypto
import FerryConfig
import FerryLedger
import FerryProtocol
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// `POST /v1/files/{folder}/` with a batch body (``Batch``): many small files in one request, each checked and
/// committed as its own PUT would be. What a batch saves is the per-request work (an HTTP exchange, a trip to
/// the ledger's thread, a folder fsync per file); what each file gets is unchanged (rights, path rules, the
/// declared SHA-256 verified, temporary file, fsync, rename, a ledger row).
struct BatchUpload<Storage: FileStorage> {
    let folder: PartnerPath
    let caller: Caller
    let policy: AccessPolicy
    let store: FileStore<Storage>
    let ledger: any Ledger

    /// The entry being received: written to its temporary file and hashed as its bytes arrive.
    struct Current {
        let header: Batch.Header
        var target: AccessPolicy.Target?
        var place: Storage.Place?
        var refusal: ProblemError?
        var file: Storage.Staged?
        /// The entry's hold on its partner's quota, settled when it is committed or dropped.
        var reservation: QuotaBook.Reservation?
        var hasher = SHA256()
        /// The partner's text mode, when it applies to this file: what is written is the converted text.
        var pipe: TextPipe?
        var entry: LedgerEntry

        /// Takes the next bytes of the entry (skipped when it was refused; a write or conversion failure refuses
        /// it).
        mutating func take(_ bytes: ByteBuffer) async {
            guard refusal == nil, let file else { return }
            bytes.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
            do {
                try await file.write(pipe == nil ? bytes : try pipe!.pass(bytes))
            } catch {
                refusal = ProblemError.wrap(error)
                file.discard()
            }
        }
    }

    /// What is committed but not yet in the ledger and the digest index.
    struct Pending {
        var rows: [LedgerEntry] = []
        var digests: [KnownDigest] = []
        /// The folders written to since the last flush, by path.
        var folders: [String: Storage.Folder] = [:]
    }

    func run<Body: AsyncSequence>(_ body: Body) async throws -> Response where Body.Element == ByteBuffer {
        var decoder = BatchDecoder(maximumEntrySize: min(Batch.maximumEntrySize, store.maximumSize))
        var results: [Batch.FileResult] = []
        var pending = Pending()
        var current: Current?
        var problem: Problem?
        var checkedFolders: [String: Storage.Folder] = [:]
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
                        guard results.count < BatchLimits.maximumEntries else {
                            problem = Problem(
                                .malformedBatch,
                                detail:
                                    "Too many files in one batch: a batch holds at most \(BatchLimits.maximumEntries) files; the first \(results.count) were handled, send the rest in another batch"
                            )
                            break reading
                        }
                        current = await begin(header, checkedFolders: &checkedFolders)
                    case .bytes(let bytes):
                        await current?.take(bytes)
                    case .entryEnd:
                        if var entry = current {
                            results.append(await finish(&entry, into: &pending))
                            current = nil
                            if pending.rows.count >= BatchLimits.flushEvery { try await flush(&pending) }
                        }
                    }
                }
            }
            if problem == nil {
                do { try decoder.finish() } catch { problem = Self.malformed(error) }
            }
        } catch {
            // The body stopped (the client went away): what was committed is kept and recorded.
            if let current {
                current.file?.discard()
                await store.quotas.settle(current.reservation, committed: nil)
                pending.rows.append(failed(current, reason: "the request body ended inside this file: \(error)"))
            }
            try? await flush(&pending)
            throw error
        }
        if let current, let problem {
            current.file?.discard()
            await store.quotas.settle(current.reservation, committed: nil)
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
            headers: [.contentType: FerryMediaType.json, .contentLength: String(data.count)],
            body: .init(byteBuffer: ByteBuffer(bytes: data))
        )
    }

    /// Resolves and checks an entry's target when its header arrives and opens its temporary file; a refused
    /// entry's bytes are skipped. A folder opened for an earlier entry of this request (without following links,
    /// made if missing) is used again by descriptor; a few dozen are kept open at most.
    func begin(_ header: Batch.Header, checkedFolders: inout [String: Storage.Folder]) async -> Current {
        var current = Current(
            header: header,
            entry: caller.entry(operation: .put, path: header.path, direction: .inbound, started: Date())
        )
        do {
            let joined = folder.relative.isEmpty ? header.path : folder.relative + "/" + header.path
            let path: PartnerPath
            do {
                path = try PartnerPath(plain: joined)
            } catch {
                throw ProblemError.from(error)
            }
            guard !path.isDirectory, !path.segments.isEmpty else {
                throw ProblemError(.notAFile, detail: "'\(header.path)' names a folder, not a file")
            }
            let target = policy.resolve(path, partner: caller.partner)
            current.entry.path = target.rootRelative
            guard target.rights.contains(.write) else { throw ProblemError.denied(.write, path) }
            let parent = (target.absolutePath as NSString).deletingLastPathComponent
            let place: Storage.Place
            let existing: StoredItem?
            if let folder = checkedFolders[parent], let name = target.inArea.last {
                place = store.storage.place(named: name, in: folder)
                existing = try await store.storage.item(at: place)
                if existing?.isFolder == true { throw StorageError.isAFolder }
            } else {
                try await store.storage.prepareArea(target)
                place = try await store.prepareParent(of: target)
                if checkedFolders.count >= BatchLimits.openFolders { checkedFolders.removeAll() }
                checkedFolders[parent] = store.storage.folder(holding: place)
                existing = try await store.storage.item(at: place)
            }
            current.reservation = try await store.quotas.admit(
                target,
                caller: caller.partner,
                bytes: header.size,
                replacing: existing.flatMap { $0.isFile ? $0.size : nil }
            )
            current.target = target
            current.place = place
            current.pipe = policy.textMode(for: caller.partner, at: target).map { TextPipe($0) }
            current.file = try await store.storage.stage(
                at: place,
                expectedLength: current.pipe == nil ? header.size : nil
            )
        } catch {
            current.refusal = ProblemError.wrap(error)
        }
        return current
    }

    /// Verifies and commits a complete entry; returns its result and queues its ledger row.
    func finish(_ current: inout Current, into pending: inout Pending) async -> Batch.FileResult {
        let header = current.header
        do {
            if let refusal = current.refusal { throw refusal }
            guard let target = current.target, let place = current.place, let file = current.file else {
                throw ProblemError(.storageError, detail: "No target")
            }
            let digest = FileDigest(bytes: Array(current.hasher.finalize()))!
            guard digest.hex == header.sha256 else {
                file.discard()
                throw ProblemError(
                    .digestMismatch,
                    detail:
                        "the header declared sha-256 \(header.sha256) but the \(header.size) bytes received hash to \(digest.hex); nothing was stored"
                )
            }
            let placed: Placed
            do {
                if current.pipe != nil { try await file.write(try current.pipe!.finish()) }
                try await file.finish()
                placed = try await store.storage.commit(file, at: place, replace: true)
            } catch {
                file.discard()
                throw error
            }
            pending.folders[(target.absolutePath as NSString).deletingLastPathComponent] = store.storage.folder(
                holding: place
            )
            let text = current.pipe?.outcome
            await store.quotas.settle(
                current.reservation,
                committed: ((text?.bytes ?? header.size) - (placed.replacedSize ?? 0), placed.replacedSize == nil)
            )
            current.reservation = nil
            pending.digests.append(
                .init(path: target.rootRelative, sha256: text?.sha256 ?? digest.hex, stamp: placed.item.stamp)
            )
            var row = current.entry
            row.bytes = header.size
            row.sha256 = digest.hex
            row.fileSHA256 = text?.sha256
            row.conversion = text?.ledgerText
            row.ended = Date()
            row.result = .ok
            pending.rows.append(row)
            return Batch.FileResult(
                path: header.path,
                status: placed.replacedSize != nil ? 204 : 201,
                bytes: header.size,
                sha256: digest.hex
            )
        } catch {
            current.file?.discard()
            await store.quotas.settle(current.reservation, committed: nil)
            current.reservation = nil
            var problem = ProblemError.wrap(error).problem
            problem.detail = problem.detail.map { TerminalText.escaped(String($0.prefix(BatchLimits.maximumDetail))) }
            pending.rows.append(failed(current, reason: problem.description))
            return Batch.FileResult(path: header.path, status: problem.status, problem: problem)
        }
    }

    func failed(_ current: Current, reason: String) -> LedgerEntry {
        var row = current.entry
        row.ended = Date()
        row.result = .failed
        row.error = TerminalText.escaped(String(reason.prefix(BatchLimits.maximumDetail)))
        return row
    }

    /// Makes what was committed durable and recorded: the folders' fsyncs, then the digests and ledger rows
    /// (one statement each).
    func flush(_ pending: inout Pending) async throws {
        for folder in pending.folders.values { store.storage.synchronize(folder) }
        if !pending.digests.isEmpty { try await store.digests.remember(pending.digests) }
        if !pending.rows.isEmpty { try await ledger.record(pending.rows) }
        pending = Pending()
    }

    static func malformed(_ error: BatchFormatError) -> Problem {
        Problem(.malformedBatch, detail: "\(error.description); the files before it were handled as listed")
    }
}

/// What one batch may hold and how often it flushes.
enum BatchLimits {
    /// The most folders a batch keeps open between its entries.
    static let openFolders = 32

    /// Ledger rows and digests are written (and folders fsynced) every this many files, and at the end.
    static let flushEvery = 64
    /// The most entries one batch may hold (Ferry's client sends at most 256): the report, the ledger rows and the
    /// memory a batch costs stay bounded whatever it holds.
    static let maximumEntries = 1000
    /// Refusal details in the report and the ledger are cut to this many characters, and texts from the
    /// request are escaped.
    static let maximumDetail = 512
}
