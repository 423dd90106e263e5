import FerryProtocol
import Foundation
import NIOCore

/// Where committed files live. Routes, batches and the resumable-upload store reach files only through this
/// protocol; `LocalFileStorage` (a folder on a local file system) is the one implementation today, and an object
/// store implements the same operations: a name is looked up once per request (`Place`), a file is written under
/// no name (`Staged`) and appears under its name whole or not at all (`commit`), reads are ranges of what was
/// opened, listings are names with what each is.
///
/// Whatever reaches the storage is `async` (an object store answers over the network); what only computes a name
/// (`place(named:in:)`, `folder(holding:)`) or asks the local system (`freeBytes`, from a channel handler) is not.
///
/// Every error is a `StorageError`; no HTTP here. Containment (no path leaving its area, no link followed) is the
/// implementation's duty: a `Place` is only ever what a partner's path names inside its area.
protocol FileStorage: Sendable {
    /// Where one name is: resolved once and used for every step of a request.
    associatedtype Place: Sendable
    /// An opened folder: listed, and reused by a batch for many names.
    associatedtype Folder: Sendable
    associatedtype Reader: StoredFile
    associatedtype Staged: StagedFile
    associatedtype Part: PartWriter

    /// Refuses an area that leads outside the served tree and creates it if missing.
    func prepareArea(_ target: AccessPolicy.Target) async throws
    /// Where `target` is; `nil` when a folder on the way is missing (or is a file) and `creating` is off;
    /// `creating` makes the missing folders.
    func place(of target: AccessPolicy.Target, creating: Bool) async throws -> Place?
    /// The name `name` in an opened folder.
    func place(named name: String, in folder: Folder) -> Place
    /// The folder a place is in.
    func folder(holding place: Place) -> Folder
    /// What is at a place, without following a link: `nil` when nothing is; a link there is refused.
    func item(at place: Place) async throws -> StoredItem?
    /// The file at a place opened for reading; `nil` when there is no file (a folder is not one).
    func openForReading(_ place: Place) async throws -> Reader?
    /// The folder at a place (the area's own folder for an area's top).
    func openFolder(_ place: Place) async throws -> Folder
    /// A page of a folder, links included: the names in UTF-8 byte order (`Listing.precedes`), the first `limit`
    /// after the name `after` (which need not exist any more), each with what it is, read without following it (a
    /// link is `.link`; `nil` when it went meanwhile), and whether more follow.
    func entries(in folder: Folder, after: String?, limit: Int) async throws -> (entries: [ListedName], more: Bool)
    /// Removes the file or empty folder at a place.
    func remove(_ place: Place, isFolder: Bool) async throws
    /// A new file meant for `place`, not there yet: it appears only on `commit`. `expectedLength` (when known)
    /// lets the implementation pick how to write it (an object store writes it at its key as a multipart upload,
    /// so the commit costs no copy).
    func stage(at place: Place, expectedLength: Int64?) async throws -> Staged
    /// Gives a finished staged file its name: over what is there (never through a link), or, with
    /// `replace: false`, only if the name is free (of two such commits exactly one wins). Durable in its folder
    /// after `synchronize`.
    func commit(_ staged: Staged, at place: Place, replace: Bool) async throws -> Placed
    /// Makes the names committed in a folder durable.
    func synchronize(_ folder: Folder)
    /// Bytes free for new files, if the storage has such a limit.
    func freeBytes() -> Int64?
    /// Removes staged files a crash left behind.
    func sweepStaged() async

    // MARK: Resumable uploads: a part is written across requests under an id, its record kept beside it.

    /// Creates an empty part with room for `length` bytes reserved where the storage can reserve (`noSpace` when
    /// the room is not there). `place` is where the finished file goes, when it goes there as it is (an object
    /// store writes the part at that key); `nil` when it is converted first.
    func createPart(id: String, length: Int64, for place: Place?) async throws
    /// How many bytes a part holds durably; `nil` when there is none.
    func partLength(id: String) async -> Int64?
    /// Cuts a part back to its first `length` bytes (what its record acknowledged); returns the length it has
    /// afterwards. That is more than `length` where the storage cannot go back behind bytes it made durable (an
    /// object store's completed parts): those bytes are then kept and count.
    func truncatePart(id: String, to length: Int64) async throws -> Int64
    /// Opens a part to append at `offset` (its length).
    func openPart(id: String, at offset: Int64) async throws -> Part
    /// Hands a complete part's bytes to `body` in order (to convert them in text mode).
    func readPart(id: String, _ body: (ByteBuffer) async throws -> Void) async throws
    /// The SHA-256 of a part's bytes, when the running digest was lost (a restart, or another node wrote them).
    func digestOfPart(id: String) async throws -> FileDigest
    /// Commits a complete part at a place, as `commit` does a staged file; the part is gone afterwards.
    func commitPart(id: String, at place: Place, replace: Bool) async throws -> Placed
    /// Removes a part, if there is one.
    func removePart(id: String) async
    /// The ids of every part.
    func partIDs() async -> [String]
    /// Stores an upload's record, atomically and durably, in place of the previous one.
    func saveRecord(_ data: Data, id: String) async throws
    /// An upload's record, if there is one.
    func loadRecord(id: String) async -> Data?
    /// Removes an upload's record, if there is one.
    func removeRecord(id: String) async
    /// The ids of every record.
    func recordIDs() async -> [String]
}

/// What a name holds, read without following a link.
struct StoredItem: Sendable, Equatable {
    enum Kind: Sendable { case file, folder, link, other }
    let kind: Kind
    /// The content's identity: validators (`ETag`) and the digest index use it.
    let stamp: FileStamp

    var isFile: Bool { kind == .file }
    var isFolder: Bool { kind == .folder }
    var size: Int64 { stamp.size }
    var modified: Date { stamp.modified }
    var etag: String { stamp.etag }
}

/// A name in a folder's listing and what it is (`nil`: it went between the listing and the look).
struct ListedName: Sendable, Equatable {
    let name: String
    let item: StoredItem?
}

/// The result of a commit.
struct Placed: Sendable {
    /// The size of the file this one replaced; `nil` when the name was new.
    let replacedSize: Int64?
    let item: StoredItem
}

/// A file opened for reading: the facts of what was opened (not of what the name holds a moment later).
protocol StoredFile: Sendable {
    var item: StoredItem { get }
    /// Hands `span` of the file to `body` in chunks; a file that shrinks meanwhile is an error, not a short answer.
    func forEachChunk(in span: Range<Int64>, _ body: (ByteBuffer) async throws -> Void) async throws
}

/// Bytes being written under no name. `finish` makes them durable; `discard` (or the end of its life without
/// a commit) removes them.
protocol StagedFile: AnyObject {
    func write(_ chunk: ByteBuffer) async throws
    func finish() async throws
    func discard()
}

/// Appends to a resumable upload's part. A value: a request that was cancelled hands it to a detached task to
/// make what arrived durable.
protocol PartWriter: Sendable {
    /// The offset the next byte goes to.
    var offset: Int64 { get }
    mutating func write(_ chunk: ByteBuffer) async throws
    /// Makes bytes written so far durable and returns the offset up to which they are: every byte (`offset`)
    /// with `final` (the end of a request), else at least what the storage has already made durable on its own
    /// (an object store's completed parts).
    mutating func checkpoint(final: Bool) async throws -> Int64
    /// Releases the part (the bytes stay).
    func close()
}
