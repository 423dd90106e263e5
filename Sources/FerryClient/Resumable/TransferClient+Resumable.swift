import Crypto
import FerryLedger
import FerryProtocol
import Foundation
import NIOCore
import NIOHTTP1
import _NIOFileSystem

extension TransferClient {
    /// Uploads a file with the tus protocol: resumes an upload left by an earlier run of the same command when
    /// the file is unchanged, retries with backoff after network failures and 5xx, continuing from the
    /// server's acknowledged offset, and checks the server's digest of the committed file against its own.
    func uploadResumable(_ file: String, to remote: RemoteTarget) async throws -> TransferResult {
        let started = Date()
        let localPath = URL(fileURLWithPath: file).standardizedFileURL.path
        let source = try SourceIdentity(path: file)
        let store = resumeStore
        let key = store?.key(authority: remote.authority, remotePath: remote.path.relative, localPath: localPath)
        var uploadPath: String?
        if let store, let key, let saved = await store.load(key) {
            if saved.source == source {
                uploadPath = saved.token
            } else {
                notify("\(file) changed since its interrupted upload; starting over")
                await store.remove(key)
            }
        }
        var machine = TusUploadMachine(size: source.size, file: file, savedPath: uploadPath, retry: retry)
        var run = ResumableRun()
        progress.start(name: URL(fileURLWithPath: file).lastPathComponent, total: source.size)
        defer { progress.finish() }
        let save: (String) async -> Void = { path in
            if let store, let key {
                await store.save(
                    .init(
                        token: path,
                        authority: remote.authority,
                        remotePath: remote.path.relative,
                        localPath: localPath,
                        source: source
                    ),
                    key: key
                )
            }
        }
        var action = machine.start()
        var last: ClientConnection?
        while true {
            for notice in machine.takeNotices() { notify(notice) }
            switch action {
            case .done(let digest):
                guard let connection = last else {
                    throw TransferError(.network, "the upload of \(file) ended without a connection")
                }
                if let key { await store?.remove(key) }
                try? await record(
                    .outbound,
                    .tus,
                    remote,
                    bytes: source.size,
                    sha256: digest.hex,
                    started: started,
                    connection: connection,
                    error: nil
                )
                var result = result(
                    "send",
                    local: file,
                    remote: remote,
                    bytes: source.size,
                    digest: digest,
                    status: 204,
                    started: started,
                    connection: connection
                )
                result.method = "tus"
                result.note(machine.attempts, movedThisRun: run.sentThisRun)
                return result
            case .fail(let error):
                throw error
            case .wait(let duration, let reason):
                try await pause("upload of \(file)", because: reason, retry: machine.attempts.count, for: duration)
                action = machine.retryDue()
            case .create, .askOffset, .send:
                // One connection for as many steps as it lasts; a broken one is the machine's to decide about.
                do {
                    let connection = try await connect(to: remote)
                    last = connection
                    action = try await connection.withSession { session in
                        var step = action
                        while step.isRequest {
                            step = try await perform(
                                step,
                                machine: &machine,
                                run: &run,
                                file: file,
                                session: &session,
                                connection: connection,
                                save: save
                            )
                        }
                        return step
                    }
                } catch let error as TransferError where error.code != .network {
                    throw error
                } catch {
                    action = machine.connectionFailed(String(describing: error))
                }
            }
        }
    }

    /// What one run of a resumable upload has done with the local file.
    struct ResumableRun {
        var sentThisRun: Int64 = 0
        /// The digest of bytes [0, hashed) of the local file.
        var hasher = SHA256()
        var hashed: Int64 = 0
        var progressShown: Int64 = 0
    }

    /// Performs one request the machine asked for and hands it the answer; returns its next step.
    private func perform(
        _ action: TusUploadMachine.Action,
        machine: inout TusUploadMachine,
        run: inout ResumableRun,
        file: String,
        session: inout HTTPSession,
        connection: ClientConnection,
        save: (String) async -> Void
    ) async throws -> TusUploadMachine.Action {
        let tus = [(FerryHeader.tusResumable, TusProtocol.version)]
        switch action {
        case .create:
            let metadata = TusMetadata.encode([TusProtocol.pathKey: connection.target.path.relative])
            try await session.sendHead(
                method: .POST,
                uri: FerryAPI.uploads,
                headers: tus + [
                    (FerryHeader.uploadLength, String(machine.size)), (FerryHeader.uploadMetadata, metadata),
                    ("Content-Length", "0"),
                ]
            )
            try await session.sendEnd()
            let head = try await session.readHead()
            let problem = try await session.problem()
            let next = machine.created(
                status: Int(head.status.code),
                location: head.headers.first(name: "Location"),
                problem: problem
            )
            if case .send = next, let path = machine.uploadPath { await save(path) }
            return next
        case .askOffset(let path):
            try await session.sendHead(method: .HEAD, uri: path, headers: tus)
            try await session.sendEnd()
            let head = try await session.readHead()
            let problem = try await session.problem()
            return machine.offset(
                status: Int(head.status.code),
                offset: head.headers.first(name: FerryHeader.uploadOffset).flatMap(Int64.init),
                problem: problem
            )
        case .send(let path, let offset):
            // The local digest must cover exactly [0, offset) before the rest is streamed.
            if run.hashed > offset {
                run.hasher = SHA256()
                run.hashed = 0
            }
            if run.hashed < offset {
                try await hashLocal(file, range: run.hashed..<offset, into: &run.hasher)
                run.hashed = offset
            }
            if offset > run.progressShown {
                progress.advance(Int(offset - run.progressShown))
                run.progressShown = offset
            }
            try await session.sendHead(
                method: .PATCH,
                uri: path,
                headers: tus + [
                    (FerryHeader.uploadOffset, String(offset)), ("Content-Type", FerryMediaType.tusOffset),
                    ("Content-Length", String(machine.size - offset)),
                ]
            )
            var sent: Int64 = 0
            defer {
                run.sentThisRun += sent
                run.progressShown += sent
            }
            var hasher = run.hasher
            let head = try await streamBody(
                file,
                range: offset..<machine.size,
                hasher: &hasher,
                sent: &sent,
                session: &session,
                connection: connection
            )
            let status = Int(head.status.code)
            let problem = try await session.problem()
            return machine.sent(
                status: status,
                offset: head.headers.first(name: FerryHeader.uploadOffset).flatMap(Int64.init),
                serverDigest: head.headers.first(name: FerryHeader.reprDigest).flatMap {
                    try? FileDigest.parse(reprDigest: $0)
                },
                localDigest: status == 204 ? FileDigest(bytes: Array(hasher.finalize())) : nil,
                problem: problem
            )
        default:
            return action
        }
    }

    /// Hashes bytes of a local file (the part an earlier run already sent).
    func hashLocal(_ file: String, range: Range<Int64>, into hasher: inout SHA256) async throws {
        do {
            try await FileSystem.shared.withFileHandle(forReadingAt: FilePath(file)) { handle in
                for try await chunk in handle.readChunks(in: range, chunkLength: Self.chunkLength) {
                    chunk.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
                }
            }
        } catch let error as FileSystemError {
            throw TransferError(.localIO, "cannot read \(file): \(error.message)")
        }
    }
}
