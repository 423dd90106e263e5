import FerryObjectStore
import FerryProtocol
import Foundation
import NIOCore

/// Resumable uploads in the bucket, so that any node can go on with an upload another node began, with no local
/// copy of the file. Under `<prefix>.ferry/uploads/` (a name no partner can reach):
///
/// - `<id>.json`: the upload's record (UploadStore's).
/// - `<id>.manifest`: the multipart upload (its key, its id once the first part is there, the completed parts),
///   the SHA-256 state of the bytes in those parts, and how many bytes of the tail count.
/// - `<id>.tail`: the bytes after the last completed part, written when a request ends (the store takes no part
///   under 5 MiB but the last, so what a request leaves over a part boundary waits there).
///
/// The multipart upload is at the file's own key (or at `<id>.data` when the file is converted before it is
/// stored), so the commit is its completion, after the digest check: the object appears whole or not at all, and
/// nothing is copied. One part is in memory per upload in flight. The SHA-256 goes on from the state saved with
/// the last part (`ResumableSHA256`), so a node that takes an upload over needs no bytes it did not receive but
/// the tail's.
extension S3FileStorage {
    var uploadsPrefix: String { prefix + ".ferry/uploads/" }
    private func manifestKey(_ id: String) -> String { uploadsPrefix + id + ".manifest" }
    private func tailKey(_ id: String) -> String { uploadsPrefix + id + ".tail" }
    private func recordKey(_ id: String) -> String { uploadsPrefix + id + ".json" }
    private func stagingKey(_ id: String) -> String { uploadsPrefix + id + ".data" }

    func createPart(id: String, length: Int64, for place: Place?) async throws {
        let manifest = S3PartManifest(
            key: place?.key ?? stagingKey(id),
            partSize: S3StagedFile.partSize(expectedLength: length, partsSoFar: 0)
        )
        try await save(manifest, id: id)
    }

    func partLength(id: String) async -> Int64? {
        guard let manifest = try? await manifest(id) else { return nil }
        return manifest.durableLength
    }

    func truncatePart(id: String, to length: Int64) async throws -> Int64 {
        var manifest = try await existingManifest(id, "cut back upload \(id)")
        guard length < manifest.durableLength else { return manifest.durableLength }
        // Completed parts stay; only the tail can be cut.
        manifest.tailLength = max(0, length - manifest.partsLength)
        try await save(manifest, id: id)
        return manifest.durableLength
    }

    func openPart(id: String, at offset: Int64) async throws -> S3PartWriter {
        let manifest = try await existingManifest(id, "open upload \(id)")
        guard offset == manifest.durableLength else {
            throw StorageError.unavailable(
                "open upload \(id)",
                "asked to write at \(offset), but the upload holds \(manifest.durableLength) bytes"
            )
        }
        let hasher = try manifest.hasher(id: id)
        return S3PartWriter(
            storage: self,
            id: id,
            manifest: manifest,
            buffer: try await tail(of: manifest, id: id),
            hasher: hasher
        )
    }

    /// The tail's bytes that count (the object may hold more: a longer tail written before a crash).
    func tail(of manifest: S3PartManifest, id: String) async throws -> ByteBuffer {
        guard manifest.tailLength > 0 else { return ByteBuffer() }
        var tail = ByteBuffer()
        let found = try await guarded("read the tail of upload \(id)") {
            try await client.read(tailKey(id), range: 0...(manifest.tailLength - 1)) { chunk in
                var chunk = chunk
                tail.writeBuffer(&chunk)
            }
        }
        guard found, tail.readableBytes == manifest.tailLength else {
            throw StorageError.unavailable(
                "read the tail of upload \(id)",
                "it holds fewer bytes than its manifest says"
            )
        }
        return tail
    }

    func saveTail(_ buffer: ByteBuffer, id: String) async throws {
        try await guarded("write the tail of upload \(id)") { try await client.put(tailKey(id), body: buffer) }
    }

    /// Streams a complete part (only one converted before it is stored: it is completed at its own key first).
    func readPart(id: String, _ body: (ByteBuffer) async throws -> Void) async throws {
        var manifest = try await existingManifest(id, "read upload \(id)")
        guard manifest.key == stagingKey(id) else {
            throw StorageError.unavailable(
                "read upload \(id)",
                "its bytes go straight to their file and cannot be read back before the commit"
            )
        }
        if !manifest.completed {
            try await complete(&manifest, id: id, onlyIfAbsent: false)
            try await save(manifest, id: id)
        }
        let found = try await guarded("read upload \(id)") { try await client.read(manifest.key, body) }
        guard found else { throw StorageError.changedWhileRead }
    }

    func digestOfPart(id: String) async throws -> FileDigest {
        let manifest = try await existingManifest(id, "hash upload \(id)")
        var hasher = try manifest.hasher(id: id)
        hasher.update(try await tail(of: manifest, id: id))
        return FileDigest(bytes: hasher.finalize())!
    }

    func commitPart(id: String, at place: Place, replace: Bool) async throws -> Placed {
        let manifest = try await existingManifest(id, "commit upload \(id)")
        guard place.name != nil, manifest.key == place.key else {
            throw StorageError.unavailable("commit upload \(id)", "it was begun for another place; start it again")
        }
        let placed = try await committing(at: place, replace: replace) {
            var manifest = manifest
            try await complete(&manifest, id: id, onlyIfAbsent: !replace)
        }
        await removePart(id: id, completed: true)
        return placed
    }

    /// Makes the object at the manifest's key: the tail as the last part and the completion, or (no part yet)
    /// the tail as the whole object.
    private func complete(_ manifest: inout S3PartManifest, id: String, onlyIfAbsent: Bool) async throws {
        let tail = try await tail(of: manifest, id: id)
        try await guarded("store \(manifest.key)") {
            if let uploadID = manifest.uploadID {
                var parts = manifest.parts
                if tail.readableBytes > 0 {
                    parts.append(
                        try await client.uploadPart(
                            manifest.key,
                            uploadID: uploadID,
                            number: parts.count + 1,
                            body: tail
                        )
                    )
                }
                try await client.completeMultipartUpload(
                    manifest.key,
                    uploadID: uploadID,
                    parts: parts,
                    onlyIfAbsent: onlyIfAbsent
                )
            } else {
                try await client.put(manifest.key, body: tail, onlyIfAbsent: onlyIfAbsent)
            }
        }
        manifest.completed = true
    }

    func removePart(id: String) async { await removePart(id: id, completed: false) }

    private func removePart(id: String, completed: Bool) async {
        if let manifest = try? await manifest(id) {
            if !completed && !manifest.completed, let uploadID = manifest.uploadID {
                try? await client.abortMultipartUpload(manifest.key, uploadID: uploadID)
            }
            if manifest.key == stagingKey(id) { try? await client.delete(manifest.key) }
        }
        try? await client.delete(tailKey(id))
        try? await client.delete(manifestKey(id))
    }

    func partIDs() async -> [String] { await ids(withSuffix: ".manifest") }

    func saveRecord(_ data: Data, id: String) async throws {
        try await guarded("save upload \(id)") { try await client.put(recordKey(id), body: ByteBuffer(bytes: data)) }
    }

    func loadRecord(id: String) async -> Data? {
        try? await small(recordKey(id)).map { Data($0.readableBytesView) }
    }

    func removeRecord(id: String) async { try? await client.delete(recordKey(id)) }

    func recordIDs() async -> [String] { await ids(withSuffix: ".json") }

    // MARK: manifests

    func manifest(_ id: String) async throws -> S3PartManifest? {
        guard let data = try await small(manifestKey(id)) else { return nil }
        do {
            return try JSONDecoder().decode(S3PartManifest.self, from: Data(data.readableBytesView))
        } catch {
            throw StorageError.unavailable("read upload \(id)", "its manifest is damaged: \(error)")
        }
    }

    /// The manifest of an upload that must have one.
    private func existingManifest(_ id: String, _ operation: String) async throws -> S3PartManifest {
        guard let manifest = try await manifest(id) else {
            throw StorageError.unavailable(operation, "the upload's manifest is gone")
        }
        return manifest
    }

    func save(_ manifest: S3PartManifest, id: String) async throws {
        let data = try JSONEncoder().encode(manifest)
        try await guarded("save upload \(id)") { try await client.put(manifestKey(id), body: ByteBuffer(bytes: data)) }
    }

    /// A small object's bytes (records, manifests), nil when there is none.
    private func small(_ key: String) async throws -> ByteBuffer? {
        var collected = ByteBuffer()
        let found = try await guarded("read \(key)") {
            try await client.read(key) { chunk in
                var chunk = chunk
                guard collected.readableBytes + chunk.readableBytes <= 1 << 20 else {
                    throw StorageError.unavailable("read \(key)", "larger than 1 MiB")
                }
                collected.writeBuffer(&chunk)
            }
        }
        return found ? collected : nil
    }

    private func ids(withSuffix suffix: String) async -> [String] {
        var ids: [String] = []
        var continuation: String?
        repeat {
            guard let page = try? await client.list(prefix: uploadsPrefix, continuation: continuation) else { break }
            for object in page.objects where object.key.hasSuffix(suffix) {
                let name = object.key.dropFirst(uploadsPrefix.count).dropLast(suffix.count)
                if UploadID.isValid(name) { ids.append(String(name)) }
            }
            continuation = page.next
        } while continuation != nil
        return ids
    }
}

/// What the bucket holds of a resumable upload besides its record.
struct S3PartManifest: Codable, Sendable {
    struct Piece: Codable, Sendable {
        var number: Int
        var etag: String
        var size: Int64
    }

    /// The key the multipart upload completes at.
    var key: String
    /// The multipart upload, once its first part is there.
    var uploadID: String?
    var partSize: Int
    var pieces: [Piece] = []
    /// The SHA-256 state of the bytes in the parts (a part is a whole number of MiB, so a block boundary).
    var hashState: ResumableSHA256.State?
    /// How many bytes of the tail object count.
    var tailLength: Int64 = 0
    /// The object was made (a converted upload's, to be read back).
    var completed = false

    init(key: String, partSize: Int) {
        self.key = key
        self.partSize = partSize
    }

    var parts: [S3Client.Part] { pieces.map { S3Client.Part(number: $0.number, etag: $0.etag, size: $0.size) } }
    var partsLength: Int64 { pieces.reduce(0) { $0 + $1.size } }
    var durableLength: Int64 { partsLength + tailLength }

    /// The SHA-256 of the bytes in the parts, going on from the saved state.
    func hasher(id: String) throws -> ResumableSHA256 {
        do {
            return try hashState.map { try ResumableSHA256(resuming: $0) } ?? ResumableSHA256()
        } catch {
            throw StorageError.unavailable("upload \(id)", "its saved SHA-256 state is damaged")
        }
    }
}

/// Appends to a resumable upload in the bucket: bytes gather into a part, each full part is uploaded and the
/// manifest saved with it (and the SHA-256 state after it); a request's end writes what is left over as the tail.
struct S3PartWriter: PartWriter {
    let storage: S3FileStorage
    let id: String
    var manifest: S3PartManifest
    /// The bytes after the last completed part (its first `manifest.tailLength` are durable in the tail object).
    var buffer: ByteBuffer
    /// Of the bytes in the completed parts.
    var hasher: ResumableSHA256

    var offset: Int64 { manifest.partsLength + Int64(buffer.readableBytes) }

    mutating func write(_ chunk: ByteBuffer) async throws {
        var chunk = chunk
        while chunk.readableBytes > 0 {
            if buffer.fillPart(from: &chunk, partSize: manifest.partSize) { try await uploadPart() }
        }
    }

    private mutating func uploadPart() async throws {
        let client = storage.client
        let (key, number, body) = (manifest.key, manifest.pieces.count + 1, buffer)
        guard number <= S3StagedFile.maximumParts else {
            throw StorageError.unavailable("store \(key)", "more than \(S3StagedFile.maximumParts) parts")
        }
        var uploadID = manifest.uploadID
        let part = try await storage.guarded("store part \(number) of \(key)") {
            if uploadID == nil { uploadID = try await client.createMultipartUpload(key) }
            return try await client.uploadPart(key, uploadID: uploadID!, number: number, body: body)
        }
        hasher.update(body)
        manifest.uploadID = uploadID
        manifest.pieces.append(.init(number: part.number, etag: part.etag, size: part.size))
        manifest.hashState = hasher.state
        manifest.tailLength = 0
        try await storage.save(manifest, id: id)
        buffer = ByteBuffer()
    }

    mutating func checkpoint(final: Bool) async throws -> Int64 {
        if final && Int64(buffer.readableBytes) > manifest.tailLength {
            try await storage.saveTail(buffer, id: id)
            manifest.tailLength = Int64(buffer.readableBytes)
            try await storage.save(manifest, id: id)
        }
        return manifest.durableLength
    }

    func close() {}
}
