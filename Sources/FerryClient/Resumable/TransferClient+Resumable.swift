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
        let store = resumeDirectory.map { ResumeStore(directory: $0) }
        let key = store?.key(authority: remote.authority, remotePath: remote.path.relative, localPath: localPath)
        var uploadPath: String?
        if let store, let key, let saved = store.load(key) {
            if saved.source == source {
                uploadPath = saved.token
            } else {
                notify("\(file) changed since its interrupted upload; starting over")
                store.remove(key)
            }
        }
        var state = ResumableRun(size: source.size)
        progress.start(name: URL(fileURLWithPath: file).lastPathComponent, total: source.size)
        defer { progress.finish() }
        return try await withRetries("upload of \(file)") { attempt in
            let connection = try await ClientConnection.connect(to: remote, tls: tls, stallTimeout: stallTimeout, trace: trace)
            let outcome = try await connection.withSession { session in
                try await attemptUpload(file, to: remote, uploadPath: &uploadPath, state: &state, session: &session, connection: connection, save: { path in
                    if let store, let key {
                        store.save(.init(token: path, authority: remote.authority, remotePath: remote.path.relative, localPath: localPath, source: source), key: key)
                    }
                })
            }
            if let key { store?.remove(key) }
            try? await record(.outbound, .tus, remote, bytes: source.size, sha256: outcome.digest.hex, started: started, connection: connection, error: nil)
            var result = result("send", local: file, remote: remote, bytes: source.size, digest: outcome.digest, status: outcome.status, started: started, connection: connection)
            result.method = "tus"
            result.resumedFrom = state.resumedFrom ?? 0
            result.sentThisRun = state.sentThisRun
            result.attempts = attempt
            result.attemptOffsets = state.attemptOffsets
            return result
        }
    }

    /// What one run of a resumable upload has done so far.
    struct ResumableRun {
        let size: Int64
        /// The server's offset when this run first asked (what earlier runs had sent).
        var resumedFrom: Int64?
        var sentThisRun: Int64 = 0
        /// The digest of bytes [0, hashed) of the local file.
        var hasher = SHA256()
        var hashed: Int64 = 0
        var progressShown: Int64 = 0
        var attemptOffsets: [Int64] = []
    }

    /// One connection's worth of a resumable upload: create (when needed), ask the offset, send the rest.
    private func attemptUpload(
        _ file: String,
        to remote: RemoteTarget,
        uploadPath: inout String?,
        state: inout ResumableRun,
        session: inout HTTPSession,
        connection: ClientConnection,
        save: (String) -> Void
    ) async throws -> (digest: FileDigest, status: Int) {
        let tus = [(FerryHeader.tusResumable, TusProtocol.version)]
        var offset: Int64 = 0
        if let path = uploadPath {
            try await session.sendHead(method: .HEAD, uri: path, headers: tus)
            try await session.sendEnd()
            let head = try await session.readHead()
            _ = try await session.collectBody(limit: 64 << 10)
            if head.status.code == 404 {
                notify("the server no longer has the interrupted upload of \(file) (expired?); starting over")
                uploadPath = nil
            } else if head.status.code == 200, let value = head.headers.first(name: FerryHeader.uploadOffset).flatMap(Int64.init) {
                offset = value
            } else {
                throw TransferError(head.status.code >= 500 ? .network : .rejected, "the server answered \(head.status.code) when asked for the upload's offset")
            }
        }
        if uploadPath == nil {
            let metadata = TusMetadata.encode([TusProtocol.pathKey: remote.path.relative])
            try await session.sendHead(method: .POST, uri: FerryAPI.uploads, headers: tus + [(FerryHeader.uploadLength, String(state.size)), (FerryHeader.uploadMetadata, metadata), ("Content-Length", "0")])
            try await session.sendEnd()
            let head = try await session.readHead()
            guard head.status.code == 201, let location = head.headers.first(name: "Location") else {
                throw try await session.rejection(head, doing: "upload of \(file) to \(remote.path)")
            }
            _ = try await session.collectBody(limit: 64 << 10)
            let path = location.hasPrefix("https://") ? String(location.drop { $0 != "/" }.dropFirst(2).drop { $0 != "/" }) : location
            uploadPath = path
            save(path)
            offset = 0
        }
        state.attemptOffsets.append(offset)
        if state.resumedFrom == nil {
            state.resumedFrom = offset
            if offset > 0 {
                notify("resuming \(file) at \(ByteFormat.size(offset)) of \(ByteFormat.size(state.size)) (\(offset * 100 / max(state.size, 1))%)")
            }
        }
        // The local digest must cover exactly [0, offset) before the rest is streamed.
        if state.hashed > offset {
            state.hasher = SHA256()
            state.hashed = 0
        }
        if state.hashed < offset {
            try await hashLocal(file, range: state.hashed..<offset, into: &state.hasher)
            state.hashed = offset
        }
        if offset > state.progressShown {
            progress.advance(Int(offset - state.progressShown))
            state.progressShown = offset
        }
        try await session.sendHead(
            method: .PATCH,
            uri: uploadPath!,
            headers: tus + [(FerryHeader.uploadOffset, String(offset)), ("Content-Type", FerryMediaType.tusOffset), ("Content-Length", String(state.size - offset))]
        )
        var sent: Int64 = 0
        defer {
            state.sentThisRun += sent
            state.progressShown += sent
        }
        var hasher = state.hasher
        let head = try await streamBody(file, range: offset..<state.size, hasher: &hasher, sent: &sent, session: &session, connection: connection)
        guard head.status.code == 204 else {
            if head.status.code == 409 {
                _ = try? await session.collectBody(limit: 64 << 10)
                throw TransferError(.network, "offset moved on the server; asking again")
            }
            let rejection = try await session.rejection(head, doing: "upload of \(file) to \(remote.path)")
            throw rejection
        }
        _ = try await session.collectBody(limit: 64 << 10)
        let local = FileDigest(bytes: Array(hasher.finalize()))!
        let serverDigest = head.headers.first(name: FerryHeader.reprDigest).flatMap { try? FileDigest.parse(reprDigest: $0) }
        guard let serverDigest, serverDigest == local else {
            throw TransferError(.integrity, "integrity check failed for \(file): local sha-256 \(local.hex), server \(serverDigest?.hex ?? "sent no digest")")
        }
        return (local, Int(head.status.code))
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
