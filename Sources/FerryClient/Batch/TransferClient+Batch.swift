import Crypto
import FerryLedger
import FerryProtocol
import Foundation
import NIOCore
import NIOHTTP1

extension TransferClient {
    /// One request on a lane: a file by itself, or several small files in one batch.
    enum Step: Sendable {
        case single(Int)
        case batch([Int])
    }

    /// Batches bound what one failed request costs to resend, and how long the answer takes to come.
    static let batchFiles = 256
    static let batchBytes: Int64 = 16 << 20
    /// Small files of a batch are written in pieces of at least this many bytes.
    static let batchWrite = 256 << 10

    /// A lane's files as requests: runs of small files going into the target folder become batches (in the
    /// automatic mode), the rest single PUTs.
    func steps(for indices: [Int], of plans: [Plan]) -> [Step] {
        guard case .automatic = uploadMode else { return indices.map { .single($0) } }
        var steps: [Step] = []
        var run: [Int] = []
        var runBytes: Int64 = 0
        func close() {
            if run.count == 1 { steps.append(.single(run[0])) } else if !run.isEmpty { steps.append(.batch(run)) }
            run = []
            runBytes = 0
        }
        for index in indices {
            let plan = plans[index]
            guard plan.relative != nil, plan.size <= Batch.maximumEntrySize else {
                close()
                steps.append(.single(index))
                continue
            }
            if run.count == Self.batchFiles || runBytes + plan.size > Self.batchBytes { close() }
            run.append(index)
            runBytes += plan.size
        }
        close()
        return steps
    }

    /// Sends small files in one batch request (`POST` to the target folder, `application/vnd.ferry.batch`):
    /// each file read in place, hashed, and sent after a header line declaring its path, size and SHA-256; the
    /// server checks and commits each as it would a PUT and answers with one result per file.
    func uploadBatch(
        _ items: [(index: Int, plan: Plan)],
        to folder: RemoteTarget,
        session: inout HTTPSession,
        connection: ClientConnection
    ) async throws -> [(Int, TransferResult)] {
        let started = Date()
        try await session.sendHead(
            method: .POST,
            uri: folder.requestPath,
            headers: [("Content-Type", Batch.mediaType), ("Transfer-Encoding", "chunked")]
        )
        var digests: [FileDigest?] = []
        var localFailure: TransferError?
        var writeFailure: (any Error)?
        do {
            // Entries are gathered into writes of about `batchWrite` bytes: one trip to the event loop and one
            // TLS write for several small files.
            var outgoing = ByteBuffer()
            for item in items {
                if connection.responseArrival.hasArrived { break }
                progress.start(name: URL(fileURLWithPath: item.plan.local).lastPathComponent, total: item.plan.size)
                defer { progress.finish() }
                // The header line, then the file read in after it; the header's digest is filled in once the
                // bytes are hashed (its place is fixed: 64 hex digits before `"}\n`).
                let start = outgoing.writerIndex
                var header = Batch.headerLine(
                    .init(path: item.plan.relative!, size: item.plan.size, sha256: String(repeating: "0", count: 64))
                )
                let headerLength = header.readableBytes
                if outgoing.writerIndex == 0 {
                    outgoing.reserveCapacity(Self.batchWrite + headerLength + Int(item.plan.size))
                } else {
                    outgoing.reserveCapacity(minimumWritableBytes: headerLength + Int(item.plan.size))
                }
                outgoing.writeBuffer(&header)
                do {
                    try Self.readInPlace(item.plan.local, range: 0..<item.plan.size, appendingTo: &outgoing)
                    let read = outgoing.writerIndex - start - headerLength
                    if Int64(read) != item.plan.size {
                        throw TransferError(
                            .localIO,
                            "\(item.plan.local) changed while it was being sent (\(read) of \(item.plan.size) bytes read)"
                        )
                    }
                } catch let error as TransferError {
                    // The file is left out of the batch; the others go on.
                    outgoing.moveWriterIndex(to: start)
                    localFailure = localFailure ?? error
                    digests.append(nil)
                    continue
                }
                var hasher = SHA256()
                outgoing.withUnsafeReadableBytes { raw in
                    let body = (start - outgoing.readerIndex + headerLength)...
                    hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: raw[body]))
                }
                let digest = FileDigest(bytes: Array(hasher.finalize()))!
                outgoing.setString(digest.hex, at: start + headerLength - 3 - 64)
                digests.append(digest)
                progress.advance(Int(item.plan.size))
                if outgoing.readableBytes >= Self.batchWrite {
                    try await session.sendBody(outgoing)
                    outgoing = ByteBuffer()
                }
            }
            if outgoing.readableBytes > 0 { try await session.sendBody(outgoing) }
            try await session.sendEnd()
        } catch {
            writeFailure = error
        }
        let head: HTTPResponseHead
        do {
            head = try await session.readHead()
        } catch {
            throw writeFailure ?? error
        }
        let isReport = head.headers.first(name: "Content-Type")?.hasPrefix(FerryMediaType.json) == true
        guard head.status.code == 200 || (head.status.code == 400 && isReport) else {
            throw try await session.rejection(head, doing: "batch upload of \(items.count) files to \(folder.path)")
        }
        let body = try await session.collectBody()
        guard let report = try? JSONDecoder().decode(Batch.Report.self, from: Data(body.readableBytesView)) else {
            throw TransferError(.network, "the server's answer to a batch upload is not a batch report")
        }
        // The report lists the files sent, in order (the ones left out locally are not among them).
        var answers = report.files[...]
        var results: [(Int, TransferResult)] = []
        var rows: [LedgerEntry] = []
        var failure = localFailure
        for (item, digest) in zip(items, digests) {
            guard let digest else { continue }
            guard let answer = answers.popFirst(), answer.path == item.plan.relative else {
                let reason = report.problem.map { $0.detail ?? $0.title } ?? "the server's report does not list it"
                failure =
                    failure
                    ?? TransferError(
                        .network,
                        "upload of \(item.plan.local) did not complete: \(reason)",
                        problem: report.problem
                    )
                rows.append(
                    entry(
                        .outbound,
                        .put,
                        item.plan.remote,
                        bytes: 0,
                        sha256: nil,
                        started: started,
                        connection: connection,
                        error: reason
                    )
                )
                continue
            }
            if let problem = answer.problem
                ?? (answer.committed ? nil : Problem("refused", status: answer.status, title: "Refused"))
            {
                let code: TransferError.Code =
                    problem.slug == ProblemKind.digestMismatch.slug
                    ? .integrity : problem.status >= 500 ? .network : .rejected
                let message =
                    "upload of \(item.plan.local) to \(item.plan.remote.path) refused by the server (\(problem.status)): \(problem.detail ?? problem.title)"
                failure = failure ?? TransferError(code, message, problem: problem)
                rows.append(
                    entry(
                        .outbound,
                        .put,
                        item.plan.remote,
                        bytes: 0,
                        sha256: digest.hex,
                        started: started,
                        connection: connection,
                        error: message
                    )
                )
                continue
            }
            guard answer.sha256 == digest.hex else {
                let message =
                    "integrity check failed for \(item.plan.local): local sha-256 \(digest.hex), server \(answer.sha256 ?? "sent no digest")"
                failure = failure ?? TransferError(.integrity, message)
                rows.append(
                    entry(
                        .outbound,
                        .put,
                        item.plan.remote,
                        bytes: item.plan.size,
                        sha256: digest.hex,
                        started: started,
                        connection: connection,
                        error: message
                    )
                )
                continue
            }
            rows.append(
                entry(
                    .outbound,
                    .put,
                    item.plan.remote,
                    bytes: item.plan.size,
                    sha256: digest.hex,
                    started: started,
                    connection: connection,
                    error: nil
                )
            )
            var sent = result(
                "send",
                local: item.plan.local,
                remote: item.plan.remote,
                bytes: item.plan.size,
                digest: digest,
                status: answer.status,
                started: started,
                connection: connection
            )
            sent.method = "batch"
            self.report?(sent)
            results.append((item.index, sent))
        }
        if let ledger, !rows.isEmpty { try? await ledger.record(rows) }
        if let failure { throw failure }
        if let writeFailure { throw writeFailure }
        return results
    }
}
