import FerryLedger
import FerryObjectStore
import FerryProtocol
import Foundation
import NIOCore

/// The served tree as objects in an S3-compatible bucket (`storage.s3`): a file is the object at
/// `<prefix><root-relative path>`, a folder is what the keys below `<path>/` imply (or a zero-length marker object
/// `<path>/` another tool left). Several nodes that share the bucket see the same files.
///
/// - A file is written at its own key as a multipart upload (one part in memory at a time) and completed on
///   `commit`, after the digest check: the object appears whole or not at all, and nothing is copied. A small file
///   (one part or less) is one PUT at the commit. An abandoned multipart upload is aborted by `discard`, or by the
///   sweep at startup once it is a day old (a younger one may be another node's upload in flight). A bucket
///   lifecycle rule (`AbortIncompleteMultipartUpload`) is the store's own way to the same end.
/// - Reads are ranged GETs with `If-Match` on the entity tag read when the file was opened, so a file replaced
///   meanwhile is an error, never a mixture.
/// - Listings come from the bucket, one page of names in UTF-8 byte order (see `entries`).
/// - Resumable uploads live in the bucket too, so any node can go on with one (`S3FileStorage+Parts.swift`).
///
/// Objects have no links: a key is never followed anywhere, and a partner's path is a key below its area's.
///
/// A bucket has no folders, so it cannot refuse a file `a/b` beside a file `a/b/c` as a disk refuses one in the way of
/// the other. Every commit therefore checks again, holding a shared lock on each folder above its key and an exclusive
/// lock on its own (`locks`: in the shared database when there are several nodes), that no file is on its way and no
/// folder has its name: of two commits that would make a file and a folder of one name, the second is refused,
/// whichever node makes it. Commits in one folder do not wait on each other.
struct S3FileStorage: FileStorage {
    let client: S3Client
    /// The locks of commits (`committing`).
    let locks: any NamedLocks
    /// Every key starts with it: `""`, or a path ending in "/".
    let prefix: String
    /// The node's local root: what area folders are relative to (and its leftovers swept).
    let local: LocalFileStorage
    /// A multipart upload older than this, left without a commit or an abort, is aborted by the sweep.
    var staleUploadAge: TimeInterval = 24 * 3600
    /// Keys asked for per listing request (S3's most is 1,000).
    var listingPage = 1000

    init(client: S3Client, prefix: String, local: LocalFileStorage, locks: any NamedLocks = LocalNamedLocks()) {
        self.client = client
        self.locks = locks
        self.prefix = prefix.isEmpty || prefix.hasSuffix("/") ? prefix : prefix + "/"
        self.local = local
    }

    /// A folder: the key prefix of what is in it, ending in "/" (or the bucket's `prefix` itself, maybe empty).
    struct Folder: Sendable {
        let key: String
    }

    /// A name in a folder (`nil`: the folder is an area's own).
    struct Place: Sendable {
        let folder: Folder
        let name: String?

        var key: String { folder.key + (name ?? "") }
    }

    typealias Reader = S3StoredFile
    typealias Staged = S3StagedFile
    typealias Part = S3PartWriter

    // MARK: names and places

    /// The key prefix of a target's area folder.
    private func areaKey(_ target: AccessPolicy.Target) -> String {
        let root = local.root
        var relative = target.areaDirectory.hasPrefix(root) ? String(target.areaDirectory.dropFirst(root.count)) : ""
        while relative.hasPrefix("/") { relative.removeFirst() }
        return relative.isEmpty ? prefix : prefix + relative + "/"
    }

    func prepareArea(_ target: AccessPolicy.Target) async throws {}

    func place(of target: AccessPolicy.Target, creating: Bool) async throws -> Place? {
        let area = Folder(key: areaKey(target))
        guard let name = target.inArea.last else { return Place(folder: area, name: nil) }
        // S3 keys are at most 1,024 bytes; a partner's path may be up to 4,096.
        let length = area.key.utf8.count + target.inArea.reduce(0) { $0 + $1.utf8.count + 1 }
        guard length <= Self.maximumKey else { throw StorageError.nameTooLong(limit: Self.maximumKey) }
        var folder = area
        for component in target.inArea.dropLast() {
            // Never a file and a folder under one name: a file on the way is in the way.
            if creating, try await head(folder.key + component) != nil { throw StorageError.parentNotFolder }
            folder = Folder(key: folder.key + component + "/")
        }
        if !creating, folder.key != area.key, try await !holdsAnything(folder.key) { return nil }
        return Place(folder: folder, name: name)
    }

    func place(named name: String, in folder: Folder) -> Place { Place(folder: folder, name: name) }

    func folder(holding place: Place) -> Folder { place.folder }

    /// One listing in nearly every case: the keys that start with the name, rolled up at "/", hold the object
    /// itself (it sorts first) and the folder `name/` unless more than 50 names that go on from it with a byte
    /// below "/" (`name-1`, `name.txt`) come between; then a second listing looks for the folder.
    func item(at place: Place) async throws -> StoredItem? {
        guard place.name != nil else { return Self.folderItem }
        let key = place.key
        let page = try await guarded("look at \(key)") {
            try await client.list(prefix: key, delimiter: "/", maximum: 50)
        }
        if let object = page.objects.first(where: { $0.key == key }) { return Self.item(object) }
        if page.folders.contains(key + "/") { return Self.folderItem }
        guard page.next != nil else { return nil }
        return try await holdsAnything(key + "/") ? Self.folderItem : nil
    }

    func openForReading(_ place: Place) async throws -> S3StoredFile? {
        guard place.name != nil, let object = try await head(place.key) else { return nil }
        return S3StoredFile(client: client, key: place.key, etag: object.etag, item: Self.item(object))
    }

    func openFolder(_ place: Place) async throws -> Folder {
        guard let name = place.name else { return place.folder }
        return Folder(key: place.folder.key + name + "/")
    }

    /// A page of a folder from the bucket's listing (delimiter "/"). The bucket orders keys, where a folder is
    /// `name/`; a page is in the order of names, where a folder is `name`. The two differ only for a folder `f`
    /// and names that go on from `f` with a byte below "/" (`f-1`, `f.txt`): the name order puts `f` first, the
    /// bucket after them. So the page is read from the key just after the cursor's name (everything after the
    /// cursor in name order is there), sorted by name, and when the listing stopped early, each folder such a name
    /// implies and the bucket has not reached yet is looked up before the page is cut.
    func entries(in folder: Folder, after: String?, limit: Int) async throws -> (entries: [ListedName], more: Bool) {
        var found: [String: StoredItem] = [:]
        var continuation: String?
        var last = ""
        var exhausted = false
        repeat {
            let page = try await guarded("list \(folder.key)") {
                try await client.list(
                    prefix: folder.key,
                    delimiter: "/",
                    startAfter: continuation == nil ? after.map { folder.key + $0 } : nil,
                    continuation: continuation,
                    maximum: listingPage
                )
            }
            for object in page.objects {
                let name = String(object.key.dropFirst(folder.key.count))
                if !name.isEmpty { found[name] = Self.item(object) }
                if Listing.precedes(last, object.key) { last = object.key }
            }
            for key in page.folders {
                let name = String(key.dropFirst(folder.key.count).dropLast())
                if !name.isEmpty, found[name] == nil { found[name] = Self.folderItem }
                if Listing.precedes(last, key) { last = key }
            }
            continuation = page.next
            exhausted = page.next == nil
        } while !exhausted && found.count <= limit
        let afterCursor = { (name: String) in after.map { Listing.precedes($0, name) } ?? true }
        var names = found.keys.filter(afterCursor).sorted(by: Listing.precedes)
        if !exhausted {
            for name in names.prefix(limit) {
                for (index, byte) in name.utf8.enumerated() where byte < UInt8(ascii: "/") && index > 0 {
                    let folderName = String(decoding: name.utf8.prefix(index), as: UTF8.self)
                    let key = folder.key + folderName + "/"
                    guard found[folderName] == nil, afterCursor(folderName), Listing.precedes(last, key) else {
                        continue
                    }
                    if try await holdsAnything(key) { found[folderName] = Self.folderItem }
                }
            }
            names = found.keys.filter(afterCursor).sorted(by: Listing.precedes)
        }
        let page = names.prefix(limit).map { ListedName(name: $0, item: found[$0]) }
        return (page, names.count > limit || !exhausted)
    }

    func remove(_ place: Place, isFolder: Bool) async throws {
        guard place.name != nil else { throw StorageError.areaTop }
        if isFolder {
            let inside = try await guarded("list \(place.key)/") {
                try await client.list(prefix: place.key + "/", maximum: 2)
            }
            guard inside.objects.allSatisfy({ $0.key == place.key + "/" }), inside.folders.isEmpty else {
                throw StorageError.folderNotEmpty
            }
            try await guarded("delete \(place.key)/") { try await client.delete(place.key + "/") }
        } else {
            try await guarded("delete \(place.key)") { try await client.delete(place.key) }
        }
    }

    // MARK: writing

    func stage(at place: Place, expectedLength: Int64?) async throws -> S3StagedFile {
        guard place.name != nil else { throw StorageError.isAFolder }
        return S3StagedFile(client: client, key: place.key, expectedLength: expectedLength)
    }

    func commit(_ staged: S3StagedFile, at place: Place, replace: Bool) async throws -> Placed {
        guard place.name != nil, place.key == staged.key else { throw StorageError.isAFolder }
        // The staged file is this request's alone, and the closure runs while the request waits for it.
        nonisolated(unsafe) let staged = staged
        return try await committing(at: place, replace: replace) {
            try await staged.complete(onlyIfAbsent: !replace)
        }
    }

    /// Makes the object at `place` with `complete`, holding the locks of its key (shared on each folder above it,
    /// exclusive on its own) and checking again that no file is on its way and no folder has its name.
    func committing(
        at place: Place,
        replace: Bool,
        _ complete: @escaping @Sendable () async throws -> Void
    ) async throws -> Placed {
        let key = String(place.key.dropFirst(prefix.count))
        let folders = key.split(separator: "/", omittingEmptySubsequences: false).dropLast()
        let above = folders.indices.map { prefix + folders[...$0].joined(separator: "/") }
        let commit: @Sendable () async throws -> Placed = {
            for folder in above where try await head(folder) != nil { throw StorageError.parentNotFolder }
            let before = try await item(at: place)
            if before?.isFolder == true { throw StorageError.isAFolder }
            if !replace && before != nil { throw StorageError.exists }
            do {
                try await complete()
            } catch let error as ObjectStoreError where error.code == "PreconditionFailed" || error.status == 412 {
                throw StorageError.exists
            } catch let error as ObjectStoreError {
                throw StorageError.unavailable("store \(place.key)", error.description)
            }
            guard let object = try await head(place.key) else {
                throw StorageError.unavailable(
                    "commit \(place.key)",
                    "the object store does not show the object just written"
                )
            }
            return Placed(replacedSize: before.map(\.size), item: Self.item(object))
        }
        let shared = above.map { "key:" + $0 }
        let exclusive = ["key:" + place.key]
        do {
            return try await locks.withLocks(shared: shared, exclusive: exclusive, commit)
        } catch is LedgerError {
            // The database that coordinates the nodes does not answer (the locks were not taken, nothing ran): uploads
            // go on as the ledger's spool lets them, under this node's own locks; during the outage two nodes could
            // make a file and a folder of one name.
            return try await Self.outageLocks.withLocks(shared: shared, exclusive: exclusive, commit)
        } catch let error as LocksLost {
            throw StorageError.unavailable("commit \(place.key)", error.description)
        }
    }

    /// The commit locks of this process while the shared database does not answer.
    private static let outageLocks = LocalNamedLocks()

    func synchronize(_ folder: Folder) {}

    func freeBytes() -> Int64? { nil }

    /// Aborts multipart uploads under the prefix left for a day: younger ones may be another node's uploads. An
    /// upload whose start the store does not tell truly (moto's server says 2010-11-10 for every upload) is left
    /// alone: aborting another node's upload in flight would be worse than keeping an abandoned one.
    func sweepStaged() async {
        await local.sweepStaged()
        guard let open = try? await client.openUploads(prefix: prefix) else { return }
        // A resumable upload's multipart upload lives as long as the upload (its expiry sweep aborts it).
        var resumable: Set<String> = []
        for id in await partIDs() {
            if let upload = try? await manifest(id)?.uploadID { resumable.insert(upload) }
        }
        let precise = ISO8601DateFormatter()
        precise.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let plausible = Date(timeIntervalSince1970: 1_577_836_800)  // 2020-01-01, before any Ferry upload
        for upload in open {
            let started = precise.date(from: upload.initiated) ?? ISO8601DateFormatter().date(from: upload.initiated)
            guard let started, started > plausible, Date().timeIntervalSince(started) > staleUploadAge,
                !resumable.contains(upload.uploadID)
            else { continue }
            try? await client.abortMultipartUpload(upload.key, uploadID: upload.uploadID)
        }
    }

    /// Bytes and files under a partner's home, from the bucket (for its quota).
    func usage(ofHome home: String) async throws -> (bytes: Int64, files: Int) {
        var total: (bytes: Int64, files: Int) = (0, 0)
        var continuation: String?
        repeat {
            let page = try await guarded("list \(prefix + home)/") {
                try await client.list(prefix: prefix + home + "/", continuation: continuation)
            }
            for object in page.objects where !object.key.hasSuffix("/") {
                total.bytes += object.size
                total.files += 1
            }
            continuation = page.next
        } while continuation != nil
        return total
    }

    // MARK: helpers

    /// An object's facts as a listing gives them (not HEAD's: a store may date an object differently in its
    /// `Last-Modified` header and in its listing, and a file's stamp must be the same however it was looked up, on
    /// every node, for the shared digest index).
    func head(_ key: String) async throws -> S3Client.ObjectInfo? {
        let page = try await guarded("look at \(key)") { try await client.list(prefix: key, maximum: 1) }
        return page.objects.first { $0.key == key }
    }

    /// Whether any key starts with `key` (a folder that holds something, or its marker).
    private func holdsAnything(_ key: String) async throws -> Bool {
        let page = try await guarded("list \(key)") { try await client.list(prefix: key, maximum: 1) }
        return !page.objects.isEmpty || !page.folders.isEmpty
    }

    /// The object store's failures as storage errors: the routes answer 503 and the log says what failed.
    func guarded<T>(_ operation: String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as ObjectStoreError {
            throw StorageError.unavailable(operation, error.description)
        }
    }

    static let maximumKey = 1024

    static let folderItem = StoredItem(kind: .folder, stamp: FileStamp(inode: 0, size: 0, modifiedNanoseconds: 0))

    /// An object as a file: its stamp's "inode" is a hash of its entity tag, so a replaced object (a new tag or
    /// time) gets a new `ETag` for partners and a new entry in the shared digest index, on every node alike.
    static func item(_ object: S3Client.ObjectInfo) -> StoredItem {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in object.etag.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        let seconds = Int64(object.modified.timeIntervalSince1970.rounded(.down))
        return StoredItem(
            kind: .file,
            stamp: FileStamp(inode: hash, size: object.size, modifiedNanoseconds: seconds * 1_000_000_000)
        )
    }
}

/// An object opened for reading: ranged GETs of the version that was opened.
struct S3StoredFile: StoredFile {
    let client: S3Client
    let key: String
    let etag: String
    let item: StoredItem

    func forEachChunk(in span: Range<Int64>, _ body: (ByteBuffer) async throws -> Void) async throws {
        guard !span.isEmpty else { return }
        var received: Int64 = 0
        do {
            let found = try await client.read(key, range: span.lowerBound...(span.upperBound - 1), ifMatch: etag) {
                chunk in
                received += Int64(chunk.readableBytes)
                guard received <= span.count else { throw StorageError.changedWhileRead }
                try await body(chunk)
            }
            guard found else { throw StorageError.changedWhileRead }
        } catch let error as ObjectStoreError where error.code == "PreconditionFailed" || error.status == 412 {
            throw StorageError.changedWhileRead
        } catch let error as ObjectStoreError {
            throw StorageError.unavailable("read \(key)", error.description)
        }
        if received < span.count { throw StorageError.changedWhileRead }
    }
}

/// A file being written at its key: bytes gathered into parts, each part uploaded as it fills (the first one
/// creates the multipart upload), so one part is in memory at a time. A file that never fills a part is one PUT
/// at the commit. Until `complete`, no object is there; `discard` (or the end of its life without a commit)
/// aborts the multipart upload.
final class S3StagedFile: StagedFile {
    let client: S3Client
    let key: String
    private var buffer = ByteBuffer()
    private var uploadID: String?
    private var parts: [S3Client.Part] = []
    private var partSize: Int
    private let expectedLength: Int64?
    private var isDone = false

    /// The smallest part S3 takes (except the last one), and the part size for files of unknown length at first.
    static let minimumPart = 8 << 20
    static let maximumParts = 10_000

    init(client: S3Client, key: String, expectedLength: Int64?) {
        self.client = client
        self.key = key
        self.expectedLength = expectedLength
        self.partSize = Self.partSize(expectedLength: expectedLength, partsSoFar: 0)
    }

    deinit {
        if !isDone { discard() }
    }

    /// Parts of at least 8 MiB, and large enough that the known length fits in 10,000 (in whole MiB). Of unknown
    /// length, a file's parts double every 1,000 parts: 10,000 parts then hold more than 8 TiB.
    static func partSize(expectedLength: Int64?, partsSoFar: Int) -> Int {
        guard let expectedLength else { return min(minimumPart << (partsSoFar / 1000), 5 << 30) }
        let needed = (expectedLength + Int64(maximumParts) - 1) / Int64(maximumParts)
        let mebibytes = (needed + (1 << 20) - 1) >> 20
        return max(minimumPart, Int(mebibytes) << 20)
    }

    func write(_ chunk: ByteBuffer) async throws {
        var chunk = chunk
        while chunk.readableBytes > 0 {
            if buffer.fillPart(from: &chunk, partSize: partSize) { try await uploadPart() }
        }
    }

    private func uploadPart() async throws {
        do {
            if uploadID == nil { uploadID = try await client.createMultipartUpload(key) }
            guard parts.count < Self.maximumParts else {
                throw StorageError.unavailable("store \(key)", "more than \(Self.maximumParts) parts")
            }
            let part = try await client.uploadPart(key, uploadID: uploadID!, number: parts.count + 1, body: buffer)
            parts.append(part)
        } catch let error as ObjectStoreError {
            throw StorageError.unavailable("store \(key)", error.description)
        }
        buffer = ByteBuffer()
        partSize = Self.partSize(expectedLength: expectedLength, partsSoFar: parts.count)
    }

    /// Uploads the last part of a multipart upload; a small file stays in memory for its one PUT.
    func finish() async throws {
        if uploadID != nil && buffer.readableBytes > 0 { try await uploadPart() }
    }

    /// Makes the object: the PUT or the completion. `onlyIfAbsent` refuses a key that exists meanwhile (where
    /// the store honours `If-None-Match`).
    func complete(onlyIfAbsent: Bool) async throws {
        if let uploadID {
            try await client.completeMultipartUpload(key, uploadID: uploadID, parts: parts, onlyIfAbsent: onlyIfAbsent)
        } else {
            try await client.put(key, body: buffer, onlyIfAbsent: onlyIfAbsent)
        }
        isDone = true
        buffer = ByteBuffer()
    }

    func discard() {
        guard !isDone else { return }
        isDone = true
        buffer = ByteBuffer()
        if let uploadID {
            let (client, key) = (client, key)
            Task { try? await client.abortMultipartUpload(key, uploadID: uploadID) }
        }
    }
}

extension ByteBuffer {
    /// Moves bytes from `chunk` into this part until it holds `partSize` (reserving that much once); whether it is
    /// full. A staged file and a resumable upload's part writer gather their parts this way.
    mutating func fillPart(from chunk: inout ByteBuffer, partSize: Int) -> Bool {
        if capacity < partSize { reserveCapacity(partSize) }
        var slice = chunk.readSlice(length: min(chunk.readableBytes, partSize - readableBytes))!
        writeBuffer(&slice)
        return readableBytes >= partSize
    }
}
