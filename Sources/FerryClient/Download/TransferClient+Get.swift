import Crypto
import FerryLedger
public import FerryProtocol
import FerryText
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import _NIOFileSystem

#if canImport(Glibc)
import Glibc
import CoreFoundation
#endif

/// `ferry get`: the steps `DownloadMachine` decides, performed on `NAME.part`.
extension TransferClient {
    // MARK: get

    /// Converts a verified download to text under its final name and removes the `.part`; a file that is not
    /// the text agreed is kept as `LOCAL.received` (the bytes as received and verified), and the error says so.
    func convertDownload(
        _ partial: String,
        to destination: String,
        by conversion: TextConversion
    ) async throws -> TextFileConversion {
        do {
            let converted = try await NIOThreadPool.singleton.runIfActive {
                try conversion.convertFile(at: partial, to: destination)
            }
            unlink(partial)
            return converted
        } catch let error as ConversionError {
            let received = destination + ".received"
            let kept = rename(partial, received) == 0
            throw TransferError(
                .usage,
                "the file arrived whole and verified, but text mode (\(conversion)) cannot convert it: \(error.description); nothing was written to \(destination)"
                    + (kept ? ", the bytes received are in \(received) (check them with `ferry convert`)" : "")
            )
        }
    }

    static func conversionText(_ conversion: TextConversion, _ report: ConversionReport) -> String {
        conversion.description + (report.notes.isEmpty ? "" : "; " + report.notes)
    }

    /// Downloads a file into `local` (a file name, or an existing folder to put it in), through `LOCAL.part`
    /// renamed only after the digest matched the server's. An interrupted download keeps its `.part` and
    /// continues with `Range` + `If-Range` (the server's ETag), in this run after a retry or in the next run.
    public func get(_ remote: RemoteTarget, to local: String?) async throws -> TransferResult {
        guard let name = remote.path.name, !remote.path.isDirectory else {
            throw TransferError(
                .usage,
                "'\(remote.path)' is a folder; name a file to get (use `ferry ls` to see what is there)"
            )
        }
        var destination = local ?? name
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: destination, isDirectory: &isDirectory), isDirectory.boolValue {
            destination += "/" + name
        }
        let partial = destination + ".part"
        let started = Date()
        let store = resumeStore
        let key = store?.key(
            authority: remote.authority,
            remotePath: "GET " + remote.path.relative,
            localPath: URL(fileURLWithPath: partial).standardizedFileURL.path
        )
        var saved: String?
        if let store, let key { saved = await store.load(key)?.token }
        var machine = DownloadMachine(
            name: "\(remote.path)",
            etag: saved,
            retry: retry
        )
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
                    guard let connection = last else {
                        throw TransferError(.network, "the download of \(remote.path) ended without a connection")
                    }
                    if let key { await store?.remove(key) }
                    // Text mode converts after the last byte: the .part holds the wire's bytes (so a resumed
                    // download continues at a wire offset) and only a verified file is converted.
                    var converted: TextFileConversion?
                    if let text { converted = try await convertDownload(partial, to: destination, by: text) }
                    if converted == nil {
                        guard rename(partial, destination) == 0 else {
                            throw TransferError(
                                .localIO,
                                "cannot rename \(partial) to \(destination): \(String(cString: strerror(errno)))"
                            )
                        }
                    }
                    if let ledger {
                        var row = entry(
                            .inbound,
                            .get,
                            remote,
                            bytes: run.size,
                            sha256: digest.hex,
                            started: started,
                            connection: connection,
                            error: nil
                        )
                        row.fileSHA256 = converted?.outputSHA256
                        row.conversion = converted.map { Self.conversionText(text!, $0.report) }
                        try? await ledger.record(row)
                    }
                    var result = result(
                        "get",
                        local: destination,
                        remote: remote,
                        bytes: run.size,
                        digest: digest,
                        status: run.status,
                        started: started,
                        connection: connection
                    )
                    result.note(machine.attempts, movedThisRun: run.receivedThisRun)
                    result.fileSHA256 = converted?.outputSHA256
                    result.conversion = converted.map { Self.conversionText(text!, $0.report) }
                    return result
                case .fail(let error):
                    if error.code == .integrity {
                        unlink(partial)
                        let message = error.message + "; nothing was written to \(destination)"
                        if let connection = last {
                            try? await record(
                                .inbound,
                                .get,
                                remote,
                                bytes: run.size,
                                sha256: run.digest?.hex,
                                started: started,
                                connection: connection,
                                error: message
                            )
                        }
                        throw TransferError(.integrity, message)
                    }
                    throw error
                case .wait(let duration, let reason):
                    try await pause(
                        "download of \(remote.path)",
                        because: reason,
                        retry: machine.attempts.count,
                        for: duration
                    )
                    action = machine.retryDue(partLength: Self.length(of: partial))
                case .fetch, .receive:
                    do {
                        let connection = try await connect(to: remote)
                        last = connection
                        action = try await connection.withSession { session in
                            var step = action
                            while true {
                                switch step {
                                case .fetch(let from, let ifRange):
                                    step = try await fetch(
                                        remote,
                                        from: from,
                                        ifRange: ifRange,
                                        machine: &machine,
                                        run: &run,
                                        session: &session
                                    )
                                    if let etag = machine.etag, let store, let key {
                                        await store.save(
                                            .init(
                                                token: etag,
                                                authority: remote.authority,
                                                remotePath: remote.path.relative,
                                                localPath: partial,
                                                source: .none
                                            ),
                                            key: key
                                        )
                                    }
                                case .receive(let from, let total):
                                    step = try await receive(
                                        remote,
                                        into: partial,
                                        from: from,
                                        total: total,
                                        machine: &machine,
                                        run: &run,
                                        session: &session
                                    )
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
            if let key { await store?.remove(key) }
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
        _ remote: RemoteTarget,
        from: Int64,
        ifRange: String?,
        machine: inout DownloadMachine,
        run: inout DownloadRun,
        session: inout HTTPSession
    ) async throws -> DownloadMachine.Action {
        var headers: [(String, String)] = []
        if from > 0, let ifRange { headers = [("Range", "bytes=\(from)-"), ("If-Range", ifRange)] }
        try await session.sendHead(method: .GET, uri: remote.requestPath, headers: headers)
        try await session.sendEnd()
        let head = try await session.readHead()
        let status = Int(head.status.code)
        run.status = status
        let contentRange = head.headers.first(name: "Content-Range").flatMap(ContentRange.init(header:))
        let total =
            status == 206 ? contentRange?.total : head.headers.first(name: "Content-Length").flatMap { Int64($0) }
        let problem = status == 200 || status == 206 ? nil : try await session.problem()
        return machine.response(
            status: status,
            rangeStart: contentRange?.start,
            total: total,
            etag: head.headers.first(name: "ETag"),
            digest: head.headers.first(name: FerryHeader.reprDigest).flatMap { try? FileDigest.parse(reprDigest: $0) },
            problem: problem
        )
    }

    /// Reads the body into the part file from `from` (emptying it first for 0), hashing the whole file; what
    /// arrived is kept when the body stops, for the next attempt.
    private func receive(
        _ remote: RemoteTarget,
        into partial: String,
        from have: Int64,
        total: Int64?,
        machine: inout DownloadMachine,
        run: inout DownloadRun,
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
            try await FileSystem.shared.withFileHandle(
                forWritingAt: FilePath(partial),
                options: .modifyFile(createIfNecessary: true)
            ) { handle in
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
}
