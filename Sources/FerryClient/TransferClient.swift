import Crypto
public import FerryLedger
public import FerryProtocol
public import FerryTLS
import FerryTrace
import FerryWire
import Foundation
public import NIOCore
import NIOHTTP1
import NIOSSL
import _NIOFileSystem

#if canImport(Glibc)
import Glibc
import CoreFoundation
#endif

/// Ferry's client: streams files to and from a server over mutual TLS, checks SHA-256 end to end, and keeps
/// a ledger row per transfer.
public struct TransferClient: Sendable {
    public let tls: ResolvedClientTLS
    public let ledger: (any Ledger)?
    public var progress: ProgressDisplay

    /// Bytes per read from a local file.
    static let chunkLength: ByteCount = .kibibytes(256)
    /// Ranges up to this size are read in one go, in place.
    static let smallRead: Int64 = 1 << 20

    /// Reads a small range of a file with plain system calls.
    static func readInPlace(_ file: String, range: Range<Int64>) throws -> ByteBuffer {
        var buffer = ByteBuffer()
        try readInPlace(file, range: range, appendingTo: &buffer)
        return buffer
    }

    /// Reads a small range of a file with plain system calls onto the end of `buffer`.
    static func readInPlace(_ file: String, range: Range<Int64>, appendingTo buffer: inout ByteBuffer) throws {
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw TransferError(.localIO, "cannot read \(file): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var failure: Int32 = 0
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: Int(range.count)) { raw in
            var done = 0
            while done < Int(range.count) {
                let count = pread(fd, raw.baseAddress! + done, Int(range.count) - done, off_t(range.lowerBound) + off_t(done))
                if count < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    break
                }
                if count == 0 { break }
                done += count
            }
            return done
        }
        if failure != 0 { throw TransferError(.localIO, "cannot read \(file): \(String(cString: strerror(failure)))") }
    }

    /// When uploads use the resumable (tus) protocol.
    public enum UploadMode: Sendable, Equatable {
        /// Resumable for files of at least `threshold` bytes, a single PUT below.
        case automatic(threshold: Int64)
        /// Always a single PUT.
        case whole
        /// Always resumable.
        case resumable
    }

    public var uploadMode: UploadMode = .automatic(threshold: 8 << 20)
    /// Whole-file uploads of several files share this many kept-alive connections, each sending its share in
    /// turn (small files are dominated by round trips, which parallel connections overlap).
    public var parallelism = 4
    /// Folders named in `send` are sent with the files under them (as `scp -r`); without it they are refused.
    public var recursive = false
    /// Called for each file `send` has sent, as soon as it is verified (in the order they finish, from
    /// several tasks at once), so that a long run reports as it goes and a failure does not hide what went.
    public var report: (@Sendable (TransferResult) -> Void)?
    public var retry = RetryPolicy()
    /// An upload bandwidth limit in bytes per second (`nil`: as fast as the network allows).
    public var rateLimit: Int64?
    /// A connection on which nothing moves for this long is treated as dropped (and retried).
    public var stallTimeout: TimeAmount = ClientConnection.defaultStallTimeout
    /// Where unfinished resumable uploads are remembered; `nil` keeps no state between runs.
    public var resumeDirectory: String?
    /// Messages for the user (e.g. "resuming at 40%"), written to standard error by the CLI.
    public var notify: @Sendable (String) -> Void = { _ in }
    /// Receives each connection's handshake trace (`--trace`, `--pcapng`); `nil`: no traces.
    public var trace: TraceCollector?

    public init(tls: ResolvedClientTLS, ledger: (any Ledger)?, progress: ProgressDisplay = ProgressDisplay(enabled: false)) {
        self.tls = tls
        self.ledger = ledger
        self.progress = progress
    }

    func usesResumable(size: Int64) -> Bool {
        switch uploadMode {
        case .automatic(let threshold): return size >= threshold
        case .whole: return false
        case .resumable: return true
        }
    }

    // MARK: send

    /// A file to send: where it is, its path under the target folder, its size.
    struct Plan: Sendable {
        let local: String
        let remote: RemoteTarget
        /// The path below the target folder (for a batch entry), or `nil` when the target names the file.
        let relative: String?
        let size: Int64
    }

    /// Uploads files. With several files, a folder (`recursive`), or a target ending in `/`, each file goes
    /// into the target folder under its own name (a folder's files under the folder's name, as `scp -r` does);
    /// otherwise the single file is stored under the target path.
    public func send(files: [String], to target: RemoteTarget) async throws -> [TransferResult] {
        let sources = try Self.expand(files, recursive: recursive, notify: notify)
        let intoFolder = sources.count > 1 || sources.first?.inFolder == true || target.path.isDirectory || target.path.segments.isEmpty
        var plans: [Plan] = []
        for source in sources {
            var remote = target
            var relative: String?
            if intoFolder {
                do {
                    remote.path = try PartnerPath(plain: (target.path.relative.isEmpty ? "" : target.path.relative + "/") + source.relative)
                } catch {
                    throw TransferError(.usage, "cannot send '\(source.local)': \(error.description)")
                }
                relative = source.relative
            }
            plans.append(Plan(local: source.local, remote: remote, relative: relative, size: source.size))
        }
        var results = [TransferResult?](repeating: nil, count: plans.count)
        // Whole-file uploads share up to `parallelism` kept-alive connections; resumable ones manage their own,
        // with retries.
        let whole = plans.indices.filter { !usesResumable(size: plans[$0].size) }
        let lanes = max(1, min(parallelism, whole.count))
        var client = self
        if lanes > 1 {
            // One progress line cannot follow several files at once: the summary lines tell instead.
            client.progress = ProgressDisplay(enabled: false)
        }
        let shares = (0..<lanes).map { lane in stride(from: lane, to: whole.count, by: lanes).map { whole[$0] } }.filter { !$0.isEmpty }
        let work = shares.map { client.steps(for: $0, of: plans) }
        var folder = target
        folder.path = PartnerPath(folderOf: target.path)
        let planned = plans
        try await withThrowingTaskGroup(of: [(Int, TransferResult)].self) { group in
            for steps in work {
                group.addTask { [client, folder, planned] in
                    let connection = try await ClientConnection.connect(to: target, tls: client.tls, stallTimeout: client.stallTimeout, trace: client.trace)
                    return try await connection.withSession { session in
                        var sent: [(Int, TransferResult)] = []
                        for step in steps {
                            switch step {
                            case .single(let index):
                                let plan = planned[index]
                                let result = try await client.upload(plan.local, size: plan.size, to: plan.remote, session: &session, connection: connection)
                                client.report?(result)
                                sent.append((index, result))
                            case .batch(let indices):
                                sent += try await client.uploadBatch(indices.map { ($0, planned[$0]) }, to: folder, session: &session, connection: connection)
                            }
                        }
                        return sent
                    }
                }
            }
            for try await batch in group {
                for (index, result) in batch { results[index] = result }
            }
        }
        for index in plans.indices where results[index] == nil {
            let result = try await uploadResumable(plans[index].local, to: plans[index].remote)
            report?(result)
            results[index] = result
        }
        return results.compactMap { $0 }
    }

    /// Uploads one file of `size` bytes (checked by `send`) with a single PUT on the shared session.
    private func upload(_ file: String, size: Int64, to remote: RemoteTarget, session: inout HTTPSession, connection: ClientConnection) async throws -> TransferResult {
        let started = Date()
        var hasher = SHA256()
        var sent: Int64 = 0
        progress.start(name: URL(fileURLWithPath: file).lastPathComponent, total: size)
        defer { progress.finish() }
        try await session.sendHead(
            method: .PUT,
            uri: remote.requestPath,
            headers: [("Content-Length", String(size)), ("Content-Type", FerryMediaType.octetStream)]
        )
        let head = try await streamBody(file, range: 0..<size, hasher: &hasher, sent: &sent, session: &session, connection: connection)
        guard (200..<300).contains(head.status.code), sent == size else {
            let rejection = try await session.rejection(head, doing: "upload of \(file) to \(remote.path)")
            try? await record(.outbound, .put, remote, bytes: sent, sha256: nil, started: started, connection: connection, error: rejection.message)
            throw rejection
        }
        _ = try await session.collectBody(limit: 64 << 10)
        let local = FileDigest(bytes: Array(hasher.finalize()))!
        let serverDigest = head.headers.first(name: FerryHeader.reprDigest).flatMap { try? FileDigest.parse(reprDigest: $0) }
        guard let serverDigest, serverDigest == local else {
            let message = "integrity check failed for \(file): local sha-256 \(local.hex), server \(serverDigest?.hex ?? "sent no digest")"
            try? await record(.outbound, .put, remote, bytes: sent, sha256: local.hex, started: started, connection: connection, error: message)
            throw TransferError(.integrity, message)
        }
        try? await record(.outbound, .put, remote, bytes: sent, sha256: local.hex, started: started, connection: connection, error: nil)
        return result("send", local: file, remote: remote, bytes: sent, digest: local, status: Int(head.status.code), started: started, connection: connection)
    }

    /// Sends bytes `range` of a file as the request body (then the end), hashing them; stops early when the
    /// server answers before the end; returns the response head.
    func streamBody(
        _ file: String,
        range: Range<Int64>,
        hasher: inout SHA256,
        sent: inout Int64,
        session: inout HTTPSession,
        connection: ClientConnection
    ) async throws -> HTTPResponseHead {
        var writeFailure: (any Error)?
        var streamed: Int64 = 0
        let began = ContinuousClock.now
        func send(_ chunk: ByteBuffer) async throws {
            // The server answered before the end: it refused the upload; stop sending and read why.
            if connection.responseArrival.hasArrived { throw AnsweredEarly() }
            chunk.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
            try await session.sendBody(chunk)
            streamed += Int64(chunk.readableBytes)
            if let rateLimit, rateLimit > 0 {
                // Stay under the limit: sleep until the bytes sent so far are due.
                let due = began + .milliseconds(streamed * 1000 / rateLimit)
                if due > .now { try await Task.sleep(until: due) }
            }
            sent += Int64(chunk.readableBytes)
            progress.advance(chunk.readableBytes)
        }
        do {
            if range.count <= Self.smallRead {
                // A small file is read in place with one open, read and close: for many small files the
                // thread hops of a streamed read cost more than the bytes.
                try await send(try Self.readInPlace(file, range: range))
            } else {
                try await FileSystem.shared.withFileHandle(forReadingAt: FilePath(file)) { handle in
                    for try await chunk in handle.readChunks(in: range, chunkLength: Self.chunkLength) {
                        try await send(chunk)
                    }
                }
            }
            if streamed != Int64(range.count) {
                throw TransferError(.localIO, "\(file) changed while it was being sent (\(streamed) of \(range.count) bytes read)")
            }
            try await session.sendEnd()
        } catch let error as TransferError {
            throw error
        } catch is AnsweredEarly {
            writeFailure = nil
        } catch let error as FileSystemError {
            throw TransferError(.localIO, "cannot read \(file): \(error.message)")
        } catch {
            writeFailure = error
        }
        do {
            let head = try await session.readHead()
            if streamed != Int64(range.count) && (200..<300).contains(head.status.code) {
                throw TransferError(.network, "the server accepted an incomplete body")
            }
            return head
        } catch {
            throw writeFailure ?? error
        }
    }

    /// The server answered while the body was still being sent.
    struct AnsweredEarly: Error {}

    // MARK: get

    /// Downloads a file into `local` (a file name, or an existing folder to put it in), through `LOCAL.part`
    /// renamed only after the digest matched the server's. An interrupted download keeps its `.part` and
    /// continues with `Range` + `If-Range` (the server's ETag), in this run after a retry or in the next run.
    public func get(_ remote: RemoteTarget, to local: String?) async throws -> TransferResult {
        guard let name = remote.path.name, !remote.path.isDirectory else {
            throw TransferError(.usage, "'\(remote.path)' is a folder; name a file to get (use `ferry ls` to see what is there)")
        }
        var destination = local ?? name
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: destination, isDirectory: &isDirectory), isDirectory.boolValue {
            destination += "/" + name
        }
        let partial = destination + ".part"
        let started = Date()
        let store = resumeDirectory.map { ResumeStore(directory: $0) }
        let key = store?.key(authority: remote.authority, remotePath: "GET " + remote.path.relative, localPath: URL(fileURLWithPath: partial).standardizedFileURL.path)
        var machine = DownloadMachine(name: "\(remote.path)", etag: key.flatMap { store?.load($0)?.token }, retry: retry)
        if machine.etag == nil { unlink(partial) }
        progress.start(name: name, total: 0)
        defer { progress.finish() }
        var run = DownloadRun()
        var last: ClientConnection?
        var action = machine.start(partLength: Self.length(of: partial))
        do {
            while true {
                for notice in machine.takeNotices() { notify(notice) }
                switch action {
                case .done(let digest):
                    guard let connection = last else { throw TransferError(.network, "the download of \(remote.path) ended without a connection") }
                    if let key { store?.remove(key) }
                    guard rename(partial, destination) == 0 else {
                        throw TransferError(.localIO, "cannot rename \(partial) to \(destination): \(String(cString: strerror(errno)))")
                    }
                    try? await record(.inbound, .get, remote, bytes: run.size, sha256: digest.hex, started: started, connection: connection, error: nil)
                    var result = result("get", local: destination, remote: remote, bytes: run.size, digest: digest, status: run.status, started: started, connection: connection)
                    result.resumedFrom = machine.resumedFrom ?? 0
                    result.sentThisRun = run.receivedThisRun
                    result.attempts = machine.attempts
                    result.attemptOffsets = machine.attemptOffsets
                    return result
                case .fail(let error):
                    if error.code == .integrity {
                        unlink(partial)
                        let message = error.message + "; nothing was written to \(destination)"
                        if let connection = last {
                            try? await record(.inbound, .get, remote, bytes: run.size, sha256: run.digest?.hex, started: started, connection: connection, error: message)
                        }
                        throw TransferError(.integrity, message)
                    }
                    throw error
                case .wait(let duration, let reason):
                    notify("download of \(remote.path) interrupted (\(reason)); retry \(machine.attempts) of \(retry.retries) in \(duration)")
                    try await Task.sleep(for: duration)
                    action = machine.retryDue(partLength: Self.length(of: partial))
                case .fetch, .receive:
                    do {
                        let connection = try await ClientConnection.connect(to: remote, tls: tls, stallTimeout: stallTimeout, trace: trace)
                        last = connection
                        action = try await connection.withSession { session in
                            var step = action
                            while true {
                                switch step {
                                case .fetch(let from, let ifRange):
                                    step = try await fetch(remote, from: from, ifRange: ifRange, machine: &machine, run: &run, session: &session)
                                    if let etag = machine.etag, let store, let key {
                                        store.save(.init(token: etag, authority: remote.authority, remotePath: remote.path.relative, localPath: partial, source: .none), key: key)
                                    }
                                case .receive(let from, let total):
                                    step = try await receive(remote, into: partial, from: from, total: total, machine: &machine, run: &run, session: &session)
                                default:
                                    return step
                                }
                            }
                        }
                    } catch let error as TransferError where error.code != .network {
                        throw error
                    } catch {
                        action = machine.connectionFailed(String(describing: error))
                    }
                }
            }
        } catch let error as TransferError where error.code != .network {
            // Refusals and local errors are final: a kept .part would never be resumed. A network failure
            // keeps it for the next run.
            unlink(partial)
            if let key { store?.remove(key) }
            throw error
        }
    }

    /// What one run of a download has received.
    struct DownloadRun {
        var receivedThisRun: Int64 = 0
        /// The file's size and the status of the last response, and its digest once complete.
        var size: Int64 = 0
        var status = 200
        var digest: FileDigest?
    }

    /// The bytes the part file holds (0 when there is none).
    static func length(of file: String) -> Int64 {
        var info = stat()
        return stat(file, &info) == 0 ? Int64(info.st_size) : 0
    }

    /// Sends the `GET` the machine asked for and hands it the response head.
    private func fetch(
        _ remote: RemoteTarget, from: Int64, ifRange: String?, machine: inout DownloadMachine, run: inout DownloadRun, session: inout HTTPSession
    ) async throws -> DownloadMachine.Action {
        var headers: [(String, String)] = []
        if from > 0, let ifRange { headers = [("Range", "bytes=\(from)-"), ("If-Range", ifRange)] }
        try await session.sendHead(method: .GET, uri: remote.requestPath, headers: headers)
        try await session.sendEnd()
        let head = try await session.readHead()
        let status = Int(head.status.code)
        run.status = status
        let contentRange = head.headers.first(name: "Content-Range").flatMap(ContentRange.init(header:))
        let total = status == 206 ? contentRange?.total : head.headers.first(name: "Content-Length").flatMap { Int64($0) }
        let problem = status == 200 || status == 206 ? nil : try await session.problem()
        return machine.response(
            status: status, rangeStart: contentRange?.start, total: total, etag: head.headers.first(name: "ETag"),
            digest: head.headers.first(name: FerryHeader.reprDigest).flatMap { try? FileDigest.parse(reprDigest: $0) }, problem: problem)
    }

    /// Reads the body into the part file from `from` (emptying it first for 0), hashing the whole file; what
    /// arrived is kept when the body stops, for the next attempt.
    private func receive(
        _ remote: RemoteTarget, into partial: String, from have: Int64, total: Int64?, machine: inout DownloadMachine, run: inout DownloadRun,
        session: inout HTTPSession
    ) async throws -> DownloadMachine.Action {
        var hasher = SHA256()
        if have > 0 {
            try await hashLocal(partial, range: 0..<have, into: &hasher)
        }
        progress.start(name: remote.path.name ?? "", total: max(total ?? 0, 0))
        progress.advance(Int(have))
        var received = have
        let began = ContinuousClock.now
        let rateLimit = self.rateLimit
        var thisRequest: Int64 = 0
        do {
            try await FileSystem.shared.withFileHandle(forWritingAt: FilePath(partial), options: .modifyFile(createIfNecessary: true)) { handle in
                if have == 0 { try await handle.resize(to: .bytes(0)) }
                var writer = GatheringFileWriter(handle: handle, startingAt: have)
                do {
                    try await session.readBody { buffer in
                        buffer.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
                        received += Int64(buffer.readableBytes)
                        thisRequest += Int64(buffer.readableBytes)
                        run.receivedThisRun += Int64(buffer.readableBytes)
                        try await writer.write(buffer)
                        progress.advance(buffer.readableBytes)
                        if let rateLimit, rateLimit > 0 {
                            // Stay under the limit: not reading lets TCP hold the server back.
                            let due = began + .milliseconds(thisRequest * 1000 / rateLimit)
                            if due > .now { try await Task.sleep(until: due) }
                        }
                    }
                } catch {
                    // Keep what arrived: the next attempt continues after it.
                    try await writer.flush()
                    try await handle.synchronize()
                    throw error
                }
                try await writer.flush()
                try await handle.synchronize()
            }
        } catch let error as FileSystemError {
            throw TransferError(.localIO, "cannot write \(partial): \(error.message)")
        }
        let digest = FileDigest(bytes: Array(hasher.finalize()))!
        run.size = received
        run.digest = digest
        return machine.bodyEnded(received: received, digest: digest)
    }

    // MARK: ls, rm

    /// Lists a folder, following the server's pages on one connection.
    public func list(_ remote: RemoteTarget) async throws -> Listing {
        var folder = remote
        folder.path = PartnerPath(folderOf: remote.path)
        let connection = try await ClientConnection.connect(to: remote, tls: tls, stallTimeout: stallTimeout, trace: trace)
        return try await connection.withSession { session in
            var all: Listing?
            var after: String?
            repeat {
                // Pages of 2,000 keep each body well under the client's 4 MiB limit, whatever the names.
                let query = "?limit=2000" + (after.map { "&after=" + PercentEncoding.encodeSegment($0) } ?? "")
                try await session.sendHead(method: .GET, uri: folder.requestPath + query, headers: [("Accept", FerryMediaType.json)])
                try await session.sendEnd()
                let head = try await session.readHead()
                guard head.status.code == 200 else {
                    throw try await session.rejection(head, doing: "listing of \(remote.path)")
                }
                let body = try await session.collectBody()
                let page: Listing
                do {
                    page = try JSONDecoder().decode(Listing.self, from: Data(body.readableBytesView))
                } catch {
                    throw TransferError(.network, "the server's listing is not valid JSON (\(error))")
                }
                guard page.next != after || page.next == nil else {
                    throw TransferError(.network, "the server's listing does not advance past '\(after ?? "")'")
                }
                if all == nil { all = page } else { all!.entries += page.entries }
                after = page.next
            } while after != nil
            all!.next = nil
            return all!
        }
    }

    /// Deletes a file (or an empty folder).
    public func remove(_ remote: RemoteTarget) async throws {
        let started = Date()
        let connection = try await ClientConnection.connect(to: remote, tls: tls, stallTimeout: stallTimeout, trace: trace)
        try await connection.withSession { session in
            try await session.sendHead(method: .DELETE, uri: remote.requestPath)
            try await session.sendEnd()
            let head = try await session.readHead()
            guard (200..<300).contains(head.status.code) else {
                throw try await session.rejection(head, doing: "delete of \(remote.path)")
            }
            _ = try await session.collectBody(limit: 64 << 10)
            try? await record(.outbound, .delete, remote, bytes: 0, sha256: nil, started: started, connection: connection, error: nil)
        }
    }

    // MARK: helpers

    /// Checks that a local file can be sent; returns its size.
    @discardableResult
    static func checkReadable(_ file: String) throws -> Int64 {
        var info = stat()
        guard stat(file, &info) == 0 else {
            throw TransferError(.localIO, "cannot send \(file): \(String(cString: strerror(errno)))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw TransferError(.localIO, "cannot send \(file): not a regular file")
        }
        guard access(file, R_OK) == 0 else {
            throw TransferError(.localIO, "cannot send \(file): not readable (\(String(cString: strerror(errno))))")
        }
        return Int64(info.st_size)
    }

    func result(_ operation: String, local: String, remote: RemoteTarget, bytes: Int64, digest: FileDigest, status: Int, started: Date, connection: ClientConnection) -> TransferResult {
        let seconds = Date().timeIntervalSince(started)
        let snapshot = connection.record.snapshot
        let server = connection.serverIdentity
        return TransferResult(
            operation: operation,
            local: local,
            remote: remote.url,
            bytes: bytes,
            sha256: digest.hex,
            verified: true,
            seconds: seconds,
            bytesPerSecond: seconds > 0 ? Double(bytes) / seconds : 0,
            tlsVersion: snapshot.version?.description,
            cipherSuite: snapshot.cipherSuite?.description,
            serverSubject: server?.subject,
            serverIssuer: server?.issuer,
            clientSubject: tls.clientSubject,
            status: status,
            sentThisRun: bytes
        )
    }

    func record(_ direction: LedgerEntry.Direction, _ operation: LedgerEntry.Operation, _ remote: RemoteTarget, bytes: Int64, sha256: String?, started: Date, connection: ClientConnection, error: String?) async throws {
        guard let ledger else { return }
        try await ledger.record(entry(direction, operation, remote, bytes: bytes, sha256: sha256, started: started, connection: connection, error: error))
    }

    /// A ledger row for a transfer on `connection`.
    func entry(_ direction: LedgerEntry.Direction, _ operation: LedgerEntry.Operation, _ remote: RemoteTarget, bytes: Int64, sha256: String?, started: Date, connection: ClientConnection, error: String?) -> LedgerEntry {
        let snapshot = connection.record.snapshot
        let server = connection.serverIdentity
        return LedgerEntry(
            direction: direction,
            partner: remote.partner ?? server?.commonName ?? remote.authority,
            operation: operation,
            path: remote.url,
            bytes: bytes,
            sha256: sha256,
            started: started,
            result: error == nil ? .ok : .failed,
            error: error,
            tlsVersion: snapshot.version?.description,
            cipherSuite: snapshot.cipherSuite?.description,
            peer: server.map(LedgerEntry.PeerCertificate.init)
        )
    }
}

extension PartnerPath {
    /// The folder form of a path (for listings).
    init(folderOf path: PartnerPath) {
        self = path.isDirectory || path.segments.isEmpty ? path : (try? PartnerPath(encoded: Substring(path.encoded + "/"))) ?? path
    }
}
