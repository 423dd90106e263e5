import Crypto
import FerryLedger
public import FerryProtocol
import FerryText
import Foundation
import NIOCore
import NIOHTTP1
import _NIOFileSystem

#if canImport(Glibc)
import Glibc
import CoreFoundation
#endif

/// `ferry send` of single files: one PUT per file (small ones spread over kept-alive connections), resumable
/// uploads above the threshold, the body streamed and hashed as it goes.
extension TransferClient {
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
        let intoFolder =
            sources.count > 1 || sources.first?.inFolder == true || target.path.isDirectory
            || target.path.segments.isEmpty
        var plans: [Plan] = []
        for source in sources {
            var remote = target
            var relative: String?
            if intoFolder {
                do {
                    remote.path = try PartnerPath(
                        plain: (target.path.relative.isEmpty ? "" : target.path.relative + "/") + source.relative
                    )
                } catch {
                    throw TransferError(.usage, "cannot send '\(source.local)': \(error.description)")
                }
                relative = source.relative
            }
            plans.append(Plan(local: source.local, remote: remote, relative: relative, size: source.size))
        }
        var client = self
        if let text {
            // Text mode: each file is converted before its first byte goes and the converted file is sent.
            let staging = TextStaging(
                conversion: text.reversed,
                folder: resumeDirectory.map { ($0 as NSString).deletingLastPathComponent + "/text" }
                    ?? NSTemporaryDirectory() + "/ferry-text-\(getpid())"
            )
            client.textStaging = staging
            for index in plans.indices {
                let plan = plans[index]
                let staged = try await staging.stage(plan.local, for: plan.remote.url)
                plans[index] = Plan(
                    local: staged,
                    remote: plan.remote,
                    relative: plan.relative,
                    size: try Self.checkReadable(staged)
                )
            }
        }
        var results = [TransferResult?](repeating: nil, count: plans.count)
        defer {
            // A verified file's conversion is not needed again; an unverified one's is kept for the next run's
            // resumption when there is a resume folder.
            let verified = Set(results.compactMap { $0?.remote })
            client.textStaging?.remove(resumeDirectory == nil ? nil : verified)
        }
        // Whole-file uploads share up to `parallelism` kept-alive connections; resumable ones manage their own,
        // with retries.
        let whole = plans.indices.filter { !usesResumable(size: plans[$0].size) }
        let lanes = max(1, min(parallelism, whole.count))
        if lanes > 1 {
            // One progress line cannot follow several files at once: the summary lines tell instead.
            client.progress = ProgressDisplay(enabled: false)
        }
        let shares = (0..<lanes).map { lane in stride(from: lane, to: whole.count, by: lanes).map { whole[$0] } }.filter
        { !$0.isEmpty }
        let work = shares.map { client.steps(for: $0, of: plans) }
        var folder = target
        folder.path = PartnerPath(folderOf: target.path)
        let planned = plans
        try await withThrowingTaskGroup(of: [(Int, TransferResult)].self) { group in
            for steps in work {
                group.addTask { [client, folder, planned] in
                    // A lane's files go one step at a time; a dropped connection or a 5xx sends the step that failed
                    // and the rest again on a new connection after the retry wait (a PUT and a batch replace what
                    // they name, so sending again is safe); what the user must fix ends the send.
                    var sent: [(Int, TransferResult)] = []
                    var remaining = steps[...]
                    try await client.withRetries("upload to \(target.authority)") { _ in
                        let connection = try await client.connect(to: target)
                        try await connection.withSession { session in
                            while let step = remaining.first {
                                switch step {
                                case .single(let index):
                                    let plan = planned[index]
                                    let result = try await client.upload(
                                        plan.local,
                                        size: plan.size,
                                        to: plan.remote,
                                        session: &session,
                                        connection: connection
                                    )
                                    client.report?(result)
                                    sent.append((index, result))
                                case .batch(let indices):
                                    sent += try await client.uploadBatch(
                                        indices.map { ($0, planned[$0]) },
                                        to: folder,
                                        session: &session,
                                        connection: connection
                                    )
                                }
                                remaining.removeFirst()
                            }
                        }
                    }
                    return sent
                }
            }
            for try await batch in group {
                for (index, result) in batch { results[index] = result }
            }
        }
        for index in plans.indices where results[index] == nil {
            let result = try await client.uploadResumable(plans[index].local, to: plans[index].remote)
            report?(result)
            results[index] = result
        }
        return results.compactMap { $0 }
    }

    /// Uploads one file of `size` bytes (checked by `send`) with a single PUT on the shared session.
    private func upload(
        _ file: String,
        size: Int64,
        to remote: RemoteTarget,
        session: inout HTTPSession,
        connection: ClientConnection
    ) async throws -> TransferResult {
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
        let head = try await streamBody(
            file,
            range: 0..<size,
            hasher: &hasher,
            sent: &sent,
            session: &session,
            connection: connection
        )
        guard (200..<300).contains(head.status.code), sent == size else {
            let rejection = try await session.rejection(head, doing: "upload of \(file) to \(remote.path)")
            try? await record(
                .outbound,
                .put,
                remote,
                bytes: sent,
                sha256: nil,
                started: started,
                connection: connection,
                error: rejection.message
            )
            throw rejection
        }
        _ = try await session.collectBody(limit: 64 << 10)
        let local = FileDigest(bytes: Array(hasher.finalize()))!
        let serverDigest = head.headers.first(name: FerryHeader.reprDigest).flatMap {
            try? FileDigest.parse(reprDigest: $0)
        }
        guard let serverDigest, serverDigest == local else {
            let message =
                "integrity check failed for \(file): local sha-256 \(local.hex), server \(serverDigest?.hex ?? "sent no digest")"
            try? await record(
                .outbound,
                .put,
                remote,
                bytes: sent,
                sha256: local.hex,
                started: started,
                connection: connection,
                error: message
            )
            throw TransferError(.integrity, message)
        }
        try? await record(
            .outbound,
            .put,
            remote,
            bytes: sent,
            sha256: local.hex,
            started: started,
            connection: connection,
            error: nil
        )
        return result(
            "send",
            local: file,
            remote: remote,
            bytes: sent,
            digest: local,
            status: Int(head.status.code),
            started: started,
            connection: connection
        )
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
                throw TransferError(
                    .localIO,
                    "\(file) changed while it was being sent (\(streamed) of \(range.count) bytes read)"
                )
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
}
