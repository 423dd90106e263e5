import Crypto
import FerryLedger
import FerryProtocol
import FerryText
import Foundation
import NIOCore

/// How files are committed, over any `FileStorage`: a body is streamed into a staged file while it is hashed and
/// counted, the declared digest is checked, and only then does the file get its name; the digest index learns
/// it. Nothing here knows where the bytes live.
struct FileStore<Storage: FileStorage>: Sendable {
    let storage: Storage
    /// Digests of committed files by stamp.
    let digests: any DigestIndex
    /// Per-partner quotas and what each partner uses.
    let quotas: QuotaBook
    /// The largest file accepted, however it arrives (`uploads.max-size`).
    var maximumSize: Int64 = 1 << 44

    /// The SHA-256 of a committed file: from the index when the file is unchanged, else computed once and kept.
    func digest(of file: Storage.Reader, rootRelative: String) async throws -> FileDigest {
        if let hex = try await digests.digest(for: rootRelative, stamp: file.item.stamp),
            let digest = FileDigest(hex: hex)
        {
            return digest
        }
        var hasher = SHA256()
        try await file.forEachChunk(in: 0..<file.item.size) { chunk in
            chunk.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
        }
        let digest = FileDigest(bytes: Array(hasher.finalize()))!
        try await digests.remember(digest: digest.hex, for: rootRelative, stamp: file.item.stamp)
        return digest
    }

    /// What is at `target`, without following a link (`nil`: nothing, or a folder on the way is missing).
    func item(of target: AccessPolicy.Target) async throws -> StoredItem? {
        guard let place = try await storage.place(of: target, creating: false) else { return nil }
        return try await storage.item(at: place)
    }

    /// The result of a committed upload.
    struct Committed: Sendable {
        let bytes: Int64
        let digest: FileDigest
        /// The size of the file this one replaced; nil when the name was new.
        let replacedSize: Int64?
        let item: StoredItem
        /// In text mode: what the conversion stored (`bytes` and `digest` are the wire's).
        var text: TextOutcome?

        var replaced: Bool { replacedSize != nil }
        /// What the commit changed in its area, for the quota.
        var change: (bytes: Int64, newFile: Bool) {
            ((text?.bytes ?? bytes) - (replacedSize ?? 0), replacedSize == nil)
        }
    }

    /// Streams a body into a staged file while hashing it, verifies the declared digest, makes it durable, and
    /// commits it to the target. On any failure the staged file is removed and nothing is committed.
    ///
    /// Two tasks share the work: a child reads the body, counts and hashes it (the wire's digest), and hands the
    /// buffers over (at most `handoffLimit` bytes between them) to this task, which converts them in text mode and
    /// writes them. So the conversion and the stored file's digest overlap the wire's reading and hashing instead
    /// of adding to it.
    func commit<Body: AsyncSequence & Sendable>(
        body: Body,
        to target: AccessPolicy.Target,
        declared: FileDigest?,
        refuseOverwrite: Bool,
        contentLength: Int? = nil,
        text: TextConversion? = nil,
        beforeInstall: (Int64) async throws -> Void = { _ in }
    ) async throws -> Committed where Body.Element == ByteBuffer {
        if let contentLength, Int64(contentLength) > maximumSize {
            throw tooLarge(Int64(contentLength))
        }
        let place = try await prepareParent(of: target)
        // In text mode the wire's bytes are converted as they arrive: the staged file holds the converted text.
        var pipe = text.map { TextPipe($0) }
        let staged = try await storage.stage(
            at: place,
            expectedLength: pipe == nil ? contentLength.map(Int64.init) : nil
        )
        var committed = false
        defer { if !committed { staged.discard() } }
        let handoff = BufferHandoff(limit: Self.handoffLimit)
        let maximumSize = self.maximumSize
        let (digest, bytes) = try await withThrowingTaskGroup(of: (FileDigest, Int64).self) { group in
            group.addTask {
                do {
                    var hasher = SHA256()
                    var bytes: Int64 = 0
                    for try await chunk in body {
                        bytes += Int64(chunk.readableBytes)
                        if let contentLength, bytes > Int64(contentLength) {
                            throw ProblemError(.lengthMismatch, detail: "Content-Length is \(contentLength)")
                        }
                        // A body without Content-Length (chunked) is counted as it arrives.
                        if bytes > maximumSize { throw Self.tooLarge(bytes, limit: maximumSize, counted: true) }
                        chunk.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
                        try await handoff.send(chunk)
                    }
                    handoff.finish()
                    return (FileDigest(bytes: Array(hasher.finalize()))!, bytes)
                } catch {
                    handoff.fail(error)
                    throw error
                }
            }
            do {
                while let chunk = try await handoff.next() {
                    try await staged.write(pipe == nil ? chunk : try pipe!.pass(chunk))
                }
                if pipe != nil { try await staged.write(try pipe!.finish()) }
            } catch {
                // The reader's own error (it failed the handoff) is the one to report.
                handoff.fail(error)
                if let read = try await group.nextResult(), case .failure(let first) = read { throw first }
                throw error
            }
            return try await group.next()!
        }
        try await staged.finish()
        if let declared, declared != digest {
            throw ProblemError(
                .digestMismatch,
                detail:
                    "Repr-Digest declared sha-256 \(declared.hex) but the \(bytes) bytes received hash to \(digest.hex); nothing was stored"
            )
        }
        try await beforeInstall(pipe?.bytes ?? bytes)
        var result = try await install(
            staged,
            at: target,
            digest: digest,
            bytes: bytes,
            refuseOverwrite: refuseOverwrite,
            stored: pipe?.outcome
        )
        committed = true
        result.text = pipe?.outcome
        return result
    }

    /// The most an upload holds between reading its body and writing it.
    static var handoffLimit: Int { 1 << 20 }

    /// Converts a complete resumable upload's part (the wire's bytes) into a staged file, commits that to the
    /// target and removes the part: text mode converts after the last byte, so offsets and resumption stay those
    /// of the wire. On a conversion error nothing is committed and the part is kept until the upload is removed.
    func installConvertedPart(
        _ id: String,
        at target: AccessPolicy.Target,
        digest: FileDigest,
        bytes: Int64,
        text: TextConversion
    ) async throws -> Committed {
        let place = try await prepareParent(of: target)
        var pipe = TextPipe(text)
        let staged = try await storage.stage(at: place, expectedLength: nil)
        var committed = false
        defer { if !committed { staged.discard() } }
        try await storage.readPart(id: id) { chunk in try await staged.write(try pipe.pass(chunk)) }
        try await staged.write(try pipe.finish())
        try await staged.finish()
        var result = try await install(
            staged,
            at: target,
            digest: digest,
            bytes: bytes,
            refuseOverwrite: false,
            stored: pipe.outcome
        )
        committed = true
        await storage.removePart(id: id)
        result.text = pipe.outcome
        return result
    }

    /// Where a file at `target` goes (its folders made if missing), checked to be free of a folder or link.
    @discardableResult
    func prepareParent(of target: AccessPolicy.Target) async throws -> Storage.Place {
        guard let place = try await storage.place(of: target, creating: true), target.inArea.last != nil else {
            throw ProblemError(.notAFile, detail: "the path must name a file")
        }
        if let existing = try await storage.item(at: place), existing.isFolder {
            throw StorageError.isAFolder
        }
        return place
    }

    /// Commits a finished staged file to the target, makes its folder durable and records the digest. The commit
    /// is the moment: before it the target is untouched, after it complete. The target is looked up again here,
    /// so a link swapped in during the upload is refused.
    func install(
        _ staged: Storage.Staged,
        at target: AccessPolicy.Target,
        digest: FileDigest,
        bytes: Int64,
        refuseOverwrite: Bool,
        stored: TextOutcome? = nil
    ) async throws -> Committed {
        try await install(at: target, digest: digest, bytes: bytes, storedDigest: stored?.sha256) {
            try await storage.commit(staged, at: $0, replace: !refuseOverwrite)
        }
    }

    /// Commits a resumable upload's complete part to the target, as `install` does a staged file.
    func installPart(
        _ id: String,
        at target: AccessPolicy.Target,
        digest: FileDigest,
        bytes: Int64
    ) async throws -> Committed {
        try await install(at: target, digest: digest, bytes: bytes) {
            try await storage.commitPart(id: id, at: $0, replace: true)
        }
    }

    /// The digest index learns the stored file's digest: the wire's, or the converted file's in text mode.
    private func install(
        at target: AccessPolicy.Target,
        digest: FileDigest,
        bytes: Int64,
        storedDigest: String? = nil,
        _ commit: (Storage.Place) async throws -> Placed
    ) async throws -> Committed {
        let place = try await prepareParent(of: target)
        let placed = try await commit(place)
        storage.synchronize(storage.folder(holding: place))
        try await digests.remember(
            digest: storedDigest ?? digest.hex,
            for: target.rootRelative,
            stamp: placed.item.stamp
        )
        return Committed(bytes: bytes, digest: digest, replacedSize: placed.replacedSize, item: placed.item)
    }

    /// 413 for a file over `uploads.max-size`.
    func tooLarge(_ size: Int64, counted: Bool = false) -> ProblemError {
        Self.tooLarge(size, limit: maximumSize, counted: counted)
    }

    static func tooLarge(_ size: Int64, limit: Int64, counted: Bool) -> ProblemError {
        ProblemError(
            .tooLarge,
            detail:
                "\(counted ? "more than \(limit) bytes arrived" : "\(size) bytes") exceed this server's maximum of \(limit) bytes (uploads.max-size); nothing was stored"
        )
    }
}
