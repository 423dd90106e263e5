import Crypto
import FerryConfig
import FerryObjectStore
import FerryProtocol
import FerryTestSupport
import Foundation
import NIOCore
import Testing

@testable import FerryServer

#if canImport(Glibc)
import Glibc
#endif

/// The `FileStorage` contract, checked on the storage itself (no HTTP): what every backend must do. The generic
/// checks take any backend; `LocalFileStorage` is the one today, with its own checks for links and leftovers.
@Suite("File storage")
struct FileStorageTests {
    /// A partner's path in its own area under `root`, as the access policy resolves it.
    static func target(_ root: String, _ partner: String, _ path: String) throws -> AccessPolicy.Target {
        let path = try PartnerPath(plain: path)
        let area = root + "/" + partner
        return AccessPolicy.Target(
            areaDirectory: area,
            absolutePath: path.relative.isEmpty ? area : area + "/" + path.relative,
            rootRelative: path.relative.isEmpty ? partner : partner + "/" + path.relative,
            rights: [.read, .write, .delete],
            inArea: path.segments
        )
    }

    static func bytes(_ count: Int, seed: UInt8) -> [UInt8] {
        TestFiles.bytes(count, seed: UInt64(seed))
    }

    /// Writes `content` in uneven chunks to a new staged file and finishes it.
    static func staged<S: FileStorage>(
        _ storage: S,
        at place: S.Place,
        _ content: [UInt8],
        declareLength: Bool = true
    ) async throws -> S.Staged {
        let staged = try await storage.stage(at: place, expectedLength: declareLength ? Int64(content.count) : nil)
        var offset = 0
        var step = 1
        while offset < content.count {
            let end = min(content.count, offset + step)
            try await staged.write(ByteBuffer(bytes: content[offset..<end]))
            offset = end
            step = step * 3 + 7
        }
        try await staged.finish()
        return staged
    }

    static func read<S: FileStorage>(
        _ storage: S,
        _ place: S.Place,
        _ span: Range<Int64>? = nil
    ) async throws -> [UInt8] {
        let file = try await #require(try storage.openForReading(place))
        var out: [UInt8] = []
        try await file.forEachChunk(in: span ?? 0..<file.item.size) { out += Array($0.readableBytesView) }
        return out
    }

    /// Files: staged, committed with and without replacing, read whole and in part, listed, removed.
    static func files<S: FileStorage>(_ storage: S, root: String) async throws {
        let target = try target(root, "acme", "in/deep/a.bin")
        try await storage.prepareArea(target)
        await #expect(
            try storage.place(of: target, creating: false) == nil,
            "a missing folder is nothing, not an error"
        )
        let place = try await #require(try storage.place(of: target, creating: true))
        await #expect(try storage.item(at: place) == nil)

        // Both ways of writing (small with a declared length, large, and unknown length) keep every byte.
        for (size, declared) in [(100, true), (3 << 20, true), (70_000, false)] {
            let content = bytes(size, seed: UInt8(size % 251))
            let placed = try await storage.commit(
                try await staged(storage, at: place, content, declareLength: declared),
                at: place,
                replace: true
            )
            #expect(placed.item.isFile && placed.item.size == Int64(size))
            #expect(try await read(storage, place) == content)
        }
        #expect(try await read(storage, place, 10..<20) == Array(bytes(70_000, seed: UInt8(70_000 % 251))[10..<20]))

        // Without replacing: refused while the name is taken, and the file in place is untouched.
        let other = try await staged(storage, at: place, bytes(10, seed: 9))
        await #expect(throws: StorageError.exists) { try await storage.commit(other, at: place, replace: false) }
        other.discard()
        await #expect(try storage.item(at: place)?.size == 70_000)
        // Replacing: the old size is reported for the quota.
        let replaced = try await storage.commit(
            try await staged(storage, at: place, bytes(10, seed: 9)),
            at: place,
            replace: true
        )
        #expect(replaced.replacedSize == 70_000)
        // A new name without replacing: committed, nothing replaced.
        let fresh = try await #require(
            try storage.place(of: try Self.target(root, "acme", "in/deep/b.bin"), creating: true)
        )
        await #expect(
            try storage.commit(try await staged(storage, at: fresh, bytes(5, seed: 1)), at: fresh, replace: false)
                .replacedSize
                == nil
        )

        // A folder stands in the way of a file.
        let folderTarget = try Self.target(root, "acme", "in/deep")
        let folderPlace = try await #require(try storage.place(of: folderTarget, creating: false))
        await #expect(try storage.item(at: folderPlace)?.isFolder == true)
        let blocked = try await staged(storage, at: folderPlace, bytes(5, seed: 2))
        await #expect(throws: StorageError.isAFolder) {
            try await storage.commit(blocked, at: folderPlace, replace: true)
        }
        blocked.discard()

        // Listing: names with what each is.
        let folder = try await storage.openFolder(folderPlace)
        func page(_ after: String?, _ limit: Int) async throws -> ([String], Bool) {
            let page = try await storage.entries(in: folder, after: after, limit: limit)
            return (page.entries.map(\.name), page.more)
        }
        await #expect(try page(nil, 10) == (["a.bin", "b.bin"], false))
        // Pages by a cursor, in byte order; the cursor need not exist.
        await #expect(try page(nil, 1) == (["a.bin"], true))
        await #expect(try page("a.bin", 1) == (["b.bin"], false))
        await #expect(try page("a.zzz", 5) == (["b.bin"], false))
        await #expect(try page("b.bin", 5) == ([], false))
        let listed = try await storage.entries(in: folder, after: nil, limit: 10).entries
        #expect(listed.map { $0.item?.size } == [10, 5] && listed.allSatisfy { $0.item?.isFile == true })

        // Removing: a folder with files is refused, the area's top too; a file goes.
        await #expect(throws: StorageError.folderNotEmpty) { try await storage.remove(folderPlace, isFolder: true) }
        let top = try await #require(try storage.place(of: try Self.target(root, "acme", ""), creating: false))
        await #expect(throws: StorageError.areaTop) { try await storage.remove(top, isFolder: true) }
        try await storage.remove(place, isFolder: false)
        await #expect(try storage.item(at: place) == nil)
        await #expect(try storage.openForReading(place) == nil)
    }

    /// Parts of resumable uploads and their records. A part is written across requests (each ends with a final
    /// checkpoint), cut back to what was acknowledged, taken up again where it stands (as another node would: the
    /// storage keeps no state of its own between calls), hashed without the running digest, and committed; a
    /// part for a file converted before it is stored is read back instead.
    static func parts<S: FileStorage>(_ storage: S, root: String) async throws {
        let id = UploadID.new()
        let content = bytes(19 << 20, seed: 7)
        let target = try target(root, "acme", "in/resumed.bin")
        try await storage.prepareArea(target)
        let place = try await #require(try storage.place(of: target, creating: true))
        try await storage.createPart(id: id, length: Int64(content.count), for: place)
        await #expect(storage.partLength(id: id) == 0)
        var part = try await storage.openPart(id: id, at: 0)
        try await part.write(ByteBuffer(bytes: content[0..<(3 << 20)]))
        #expect(try await part.checkpoint(final: true) == Int64(3 << 20))
        part.close()
        await #expect(storage.partLength(id: id) == Int64(3 << 20))
        // What came after the acknowledged offset is cut; the next request writes from there.
        #expect(try await storage.truncatePart(id: id, to: 1 << 20) == Int64(1 << 20))
        part = try await storage.openPart(id: id, at: 1 << 20)
        #expect(part.offset == 1 << 20)
        try await part.write(ByteBuffer(bytes: content[(1 << 20)..<(12 << 20)]))
        // Between a request's checkpoints, what is durable may trail what was written, never lead it.
        let durable = try await part.checkpoint(final: false)
        #expect(durable <= Int64(12 << 20) && durable >= 0)
        await #expect(storage.partLength(id: id) == durable)
        #expect(try await part.checkpoint(final: true) == Int64(12 << 20))
        part.close()
        // Cut back behind bytes the storage cannot give up (an object store's completed part): they are kept.
        let kept = try await storage.truncatePart(id: id, to: 2 << 20)
        #expect(kept >= Int64(2 << 20) && kept <= Int64(12 << 20))
        await #expect(storage.partLength(id: id) == kept)
        part = try await storage.openPart(id: id, at: kept)
        try await part.write(ByteBuffer(bytes: content[Int(kept)...]))
        #expect(try await part.checkpoint(final: true) == Int64(content.count))
        part.close()
        await #expect(try storage.digestOfPart(id: id) == FileDigest(bytes: Array(SHA256.hash(data: content)))!)
        await #expect(storage.partIDs().contains(id))

        // Records: saved in place of the previous one, read back, removed.
        try await storage.saveRecord(Data("one".utf8), id: id)
        try await storage.saveRecord(Data("two".utf8), id: id)
        await #expect(storage.loadRecord(id: id) == Data("two".utf8))
        await #expect(storage.recordIDs() == [id])

        // The complete part becomes a file, and is gone as a part.
        let placed = try await storage.commitPart(id: id, at: place, replace: true)
        #expect(placed.item.size == Int64(content.count))
        #expect(try await self.read(storage, place) == content)
        await #expect(!storage.partIDs().contains(id))
        await #expect(storage.partLength(id: id) == nil)
        await storage.removeRecord(id: id)
        await #expect(storage.loadRecord(id: id) == nil)
        await #expect(storage.recordIDs().isEmpty)

        // A part for a converted file (no place): read back whole, across its parts.
        let converted = UploadID.new()
        let text = bytes(9 << 20, seed: 8)
        try await storage.createPart(id: converted, length: Int64(text.count), for: nil)
        part = try await storage.openPart(id: converted, at: 0)
        try await part.write(ByteBuffer(bytes: text))
        #expect(try await part.checkpoint(final: true) == Int64(text.count))
        var read: [UInt8] = []
        try await storage.readPart(id: converted) { read += Array($0.readableBytesView) }
        #expect(read == text)
        await storage.removePart(id: converted)
        await #expect(storage.partLength(id: converted) == nil)

        // A removed part is gone; removing nothing is no error.
        let second = UploadID.new()
        try await storage.createPart(id: second, length: 10, for: nil)
        await storage.removePart(id: second)
        await storage.removePart(id: second)
        await #expect(storage.partLength(id: second) == nil)
    }

    /// A folder's pages are in the byte order of names, whatever the backend orders internally: a folder `f` comes
    /// before the names that go on from it (`f-1`, `f.txt`), which an object store's keys (`f/...`) put after them.
    static func listingOrder<S: FileStorage>(_ storage: S, root: String) async throws {
        let names = ["f-1", "f.txt", "f0", "g", "e", "f!", "f/inner", "ff", "a b", "é"]
        for name in names {
            let target = try target(root, "order", "list/" + name)
            try await storage.prepareArea(target)
            let place = try await #require(try storage.place(of: target, creating: true))
            _ = try await storage.commit(try await staged(storage, at: place, [1]), at: place, replace: true)
        }
        let folderPlace = try await #require(try storage.place(of: try target(root, "order", "list"), creating: false))
        let folder = try await storage.openFolder(folderPlace)
        let expected = ["a b", "e", "f", "f!", "f-1", "f.txt", "f0", "ff", "g", "é"]
        for limit in [1, 2, 3, 20] {
            var seen: [String] = []
            var after: String?
            var rounds = 0
            while rounds < 20 {
                let page = try await storage.entries(in: folder, after: after, limit: limit)
                #expect(page.entries.count <= limit)
                seen += page.entries.map(\.name)
                rounds += 1
                guard page.more, let last = page.entries.last?.name else { break }
                after = last
            }
            #expect(seen == expected, "pages of \(limit)")
        }
        let whole = try await storage.entries(in: folder, after: nil, limit: 20).entries
        #expect(whole.first { $0.name == "f" }?.item?.isFolder == true)
        #expect(whole.first { $0.name == "f.txt" }?.item?.isFile == true)
        // More names that go on from `f` with a byte below "/" than one look-up of `f` lists (50): still a folder.
        for name in (0..<60).map({ "crowd/f-" + String(format: "%02d", $0) }) + ["crowd/f/inner"] {
            let target = try target(root, "order", name)
            let place = try await #require(try storage.place(of: target, creating: true))
            _ = try await storage.commit(try await staged(storage, at: place, [1]), at: place, replace: true)
        }
        let crowded = try await #require(try storage.place(of: try target(root, "order", "crowd/f"), creating: false))
        await #expect(try storage.item(at: crowded)?.isFolder == true)
        let file = try await #require(try storage.place(of: try target(root, "order", "crowd/f-59"), creating: false))
        await #expect(try storage.item(at: file)?.isFile == true)
    }

    @Test("local storage: a folder's pages are in the byte order of names")
    func localOrder() async throws {
        try await TemporaryDirectory.with("ferry-storage") { folder in
            try await Self.listingOrder(LocalFileStorage(root: folder.path), root: folder.path)
        }
    }

    /// An object storage on a fresh bucket of a real S3 server, its node's local folder under `folder`.
    static func objectStorage(_ server: S3TestServer, _ folder: TemporaryDirectory) async throws -> S3FileStorage {
        S3FileStorage(
            client: try await server.freshBucket(),
            prefix: "served/",
            local: LocalFileStorage(root: folder.path)
        )
    }

    @Test(
        "object storage: files are staged at their key, committed with and without replacing, read, listed (in name order) and removed",
        arguments: S3TestServer.Kind.allCases
    )
    func objectFiles(kind: S3TestServer.Kind) async throws {
        let server = try await S3TestServer.shared(kind)
        try await TemporaryDirectory.with("ferry-storage") { folder in
            var storage = try await Self.objectStorage(server, folder)
            try await Self.files(storage, root: folder.path)
            try await Self.listingOrder(storage, root: folder.path)
            // The bucket's pages end before a folder that comes first in name order: looked up, not skipped.
            for size in [2, 3] {
                storage.listingPage = size
                try await Self.listingOrder(storage, root: folder.path)
            }
            storage.listingPage = 1000
            try await Self.parts(storage, root: folder.path)
            // A file of several parts (unknown length: 8 MiB parts), read whole and across a part boundary; without
            // replacing, a second one at the same key is refused by the check before completion.
            let big = Self.bytes(19 << 20, seed: 11)
            let place = try await #require(
                try storage.place(of: try Self.target(folder.path, "acme", "big/whole.bin"), creating: true)
            )
            let placed = try await storage.commit(
                try await Self.staged(storage, at: place, big, declareLength: false),
                at: place,
                replace: false
            )
            #expect(placed.item.size == Int64(big.count) && placed.replacedSize == nil)
            #expect(try await Self.read(storage, place) == big, "\(kind)")
            let boundary: Range<Int64> = (8 << 20) - 5..<(8 << 20) + 5
            #expect(
                try await Self.read(storage, place, boundary)
                    == Array(big[Int(boundary.lowerBound)..<Int(boundary.upperBound)])
            )
            let again = try await Self.staged(storage, at: place, big, declareLength: true)
            await #expect(throws: StorageError.exists) { try await storage.commit(again, at: place, replace: false) }
            again.discard()
            // Every multipart upload was completed or aborted (the abort of a discarded one runs in the background).
            var open = try await storage.client.openUploads(prefix: "")
            for _ in 0..<50 where !open.isEmpty {
                try await Task.sleep(for: .milliseconds(100))
                open = try await storage.client.openUploads(prefix: "")
            }
            #expect(open.isEmpty, "\(kind): \(open)")
            // The keys are the partner's paths under the prefix; no upload's state is left behind.
            let keys = try await storage.client.list(prefix: "").objects.map(\.key)
            #expect(keys.allSatisfy { $0.hasPrefix("served/acme/") || $0.hasPrefix("served/order/") }, "\(keys)")
        }
    }

    @Test(
        "object storage: a file replaced while it is read is an error, not a mixture; a file on the way of a folder is refused; a sweep aborts stale uploads",
        arguments: S3TestServer.Kind.allCases
    )
    func objectEdges(kind: S3TestServer.Kind) async throws {
        let server = try await S3TestServer.shared(kind)
        try await TemporaryDirectory.with("ferry-storage") { folder in
            var storage = try await Self.objectStorage(server, folder)
            let target = try Self.target(folder.path, "acme", "f.bin")
            let place = try await #require(try storage.place(of: target, creating: true))
            _ = try await storage.commit(
                try await Self.staged(storage, at: place, Self.bytes(100_000, seed: 3)),
                at: place,
                replace: true
            )
            let file = try await #require(try storage.openForReading(place))
            _ = try await storage.commit(
                try await Self.staged(storage, at: place, Self.bytes(100_000, seed: 4)),
                at: place,
                replace: true
            )
            await #expect(throws: StorageError.changedWhileRead, "\(kind)") {
                try await file.forEachChunk(in: 0..<file.item.size) { _ in }
            }
            // A file where a folder would go.
            await #expect(throws: StorageError.parentNotFolder) {
                _ = try await storage.place(of: try Self.target(folder.path, "acme", "f.bin/x"), creating: true)
            }
            // A path the store cannot take as a key (over 1,024 bytes; a partner's may have 4,096): refused by name.
            let long = Array(repeating: String(repeating: "n", count: 250), count: 5).joined(separator: "/")
            for creating in [true, false] {
                do {
                    _ = try await storage.place(of: try Self.target(folder.path, "acme", long), creating: creating)
                    Issue.record("a \(long.utf8.count)-byte path was taken")
                } catch let error as StorageError {
                    #expect(error.isNameTooLong, "\(error)")
                    #expect(ProblemError(error).problem.status == 400)
                }
            }
            // A multipart upload nobody finished: left alone while young, aborted once stale.
            let staged = try await Self.staged(storage, at: place, Self.bytes(9 << 20, seed: 5))
            let open = try await storage.client.openUploads(prefix: "")
            #expect(open.count == 1, "\(kind): \(open)")
            await storage.sweepStaged()
            #expect(try await storage.client.openUploads(prefix: "").count == 1, "\(kind): a young upload stays")
            storage.staleUploadAge = -60
            await storage.sweepStaged()
            // moto's server gives every upload the start 2010-11-10, which cannot be told from an old one: left alone.
            #expect(try await storage.client.openUploads(prefix: "").count == (kind == .moto ? 1 : 0), "\(kind)")
            _ = staged
            // The store not answering: an error that says so.
            let gone = S3FileStorage(
                client: try S3Client(
                    settings: .init(endpoint: "http://127.0.0.1:\(freeLoopbackPort())", bucket: "ferry-gone"),
                    credentials: S3TestServer.credentials
                ),
                prefix: "",
                local: LocalFileStorage(root: folder.path)
            )
            await #expect(throws: StorageError.self) { _ = try await gone.item(at: place) }
            do {
                _ = try await gone.item(at: place)
            } catch let error as StorageError {
                #expect(error.isUnavailable && error.description.contains("cannot reach the object store"))
            }
        }
    }

    @Test("local storage: files are staged, committed with and without replacing, read, listed and removed")
    func localFiles() async throws {
        try await TemporaryDirectory.with("ferry-storage") { folder in
            let storage = LocalFileStorage(root: folder.path)
            try await Self.files(storage, root: folder.path)
            // Nothing staged is left: every staged file was committed or discarded.
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: storage.temporaryDirectory)) ?? []).isEmpty)
        }
    }

    @Test(
        "local storage: parts of resumable uploads are written, cut back, read, committed and removed, with their records"
    )
    func localParts() async throws {
        try await TemporaryDirectory.with("ferry-storage") { folder in
            try await Self.parts(LocalFileStorage(root: folder.path), root: folder.path)
        }
    }

    @Test(
        "local storage: a staged file dropped without commit or discard leaves nothing; a crash's leftovers are swept"
    )
    func localLeftovers() async throws {
        try await TemporaryDirectory.with("ferry-storage") { folder in
            let storage = LocalFileStorage(root: folder.path)
            do {
                let target = try Self.target(folder.path, "acme", "x")
                try await storage.prepareArea(target)
                let staged = try await storage.stage(
                    at: try #require(try await storage.place(of: target, creating: true)),
                    expectedLength: 10
                )
                try await staged.write(ByteBuffer(bytes: [1, 2, 3]))
            }
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: storage.temporaryDirectory)) ?? []).isEmpty)
            FileManager.default.createFile(
                atPath: storage.temporaryDirectory + "/put-left-by-a-crash",
                contents: Data([1])
            )
            await storage.sweepStaged()
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: storage.temporaryDirectory)) ?? []).isEmpty)
        }
    }

    @Test(
        "local storage: a link on the path or at the name is refused, never followed; an area leading outside the root is refused"
    )
    func localLinks() async throws {
        try await TemporaryDirectory.with("ferry-storage") { folder in
            let root = folder.path + "/root"
            let outside = folder.path + "/outside"
            try FileManager.default.createDirectory(atPath: root + "/acme", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: root + "/acme/link", withDestinationPath: outside)
            let storage = LocalFileStorage(root: root)
            let through = try Self.target(root, "acme", "link/x.bin")
            await #expect(throws: StorageError.linkOnPath) { _ = try await storage.place(of: through, creating: true) }
            let at = try await #require(try storage.place(of: try Self.target(root, "acme", "link"), creating: false))
            await #expect(throws: StorageError.linkOnPath) { _ = try await storage.item(at: at) }
            await #expect(throws: StorageError.linkOnPath) { _ = try await storage.openForReading(at) }
            let top = try await #require(try storage.place(of: try Self.target(root, "acme", ""), creating: false))
            let opened = try await storage.openFolder(top)
            await #expect(storage.item(named: "link", in: opened)?.kind == .link)
            // An area that is itself a link out of the root.
            try FileManager.default.createSymbolicLink(atPath: root + "/globex", withDestinationPath: outside)
            await #expect(throws: StorageError.areaOutsideRoot) {
                try await storage.prepareArea(try Self.target(root, "globex", "a.bin"))
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: outside).isEmpty)
        }
    }

    @Test("local storage: a file that shrinks while it is read is an error, not a short answer")
    func localShrink() async throws {
        try await TemporaryDirectory.with("ferry-storage") { folder in
            let storage = LocalFileStorage(root: folder.path)
            let target = try Self.target(folder.path, "acme", "f.bin")
            try await storage.prepareArea(target)
            let place = try await #require(try storage.place(of: target, creating: true))
            _ = try await storage.commit(
                try await Self.staged(storage, at: place, Self.bytes(1 << 20, seed: 3)),
                at: place,
                replace: true
            )
            let file = try await #require(try storage.openForReading(place))
            truncate(folder.path + "/acme/f.bin", 1000)
            await #expect(throws: StorageError.changedWhileRead) {
                try await file.forEachChunk(in: 0..<file.item.size) { _ in }
            }
        }
    }
}
