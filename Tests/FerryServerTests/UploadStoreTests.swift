import FerryConfig
import FerryTestSupport
import Foundation
import NIOCore
import Testing

@testable import FerryServer

/// The resumable-upload store over its storage, with the clock passed in: expiry is arithmetic, not waiting.
@Suite("Resumable upload store")
struct UploadStoreTests {
    @Test(
        "an upload expires after uploads.expire-after without activity, not before; activity moves the expiry; orphaned parts go too"
    )
    func expiry() async throws {
        try await TemporaryDirectory.with("ferry-uploads") { folder in
            let storage = LocalFileStorage(root: folder.path)
            let store = UploadStore(
                storage: storage,
                expireAfter: 3600,
                quotas: QuotaBook(root: folder.path, configuration: FerryConfiguration())
            )
            var record = try await store.create(
                partner: "acme",
                path: "in/a.bin",
                length: 100,
                sha256: nil,
                metadata: "",
                place: nil
            )
            let created = record.lastActivity
            #expect(store.expiry(of: record) == created.addingTimeInterval(3600))
            await #expect(store.sweep(now: created.addingTimeInterval(3599)).isEmpty)
            await #expect(store.load(Substring(record.id), partner: "acme")?.path == "in/a.bin")

            // A PATCH an hour later moves the expiry by an hour.
            record.lastActivity = created.addingTimeInterval(3000)
            try await store.save(record)
            await #expect(store.sweep(now: created.addingTimeInterval(3601)).isEmpty)
            await #expect(store.sweep(now: created.addingTimeInterval(6601)) == [record.id])
            await #expect(store.load(Substring(record.id), partner: "acme") == nil)
            await #expect(storage.partLength(id: record.id) == nil)
            await #expect(storage.recordIDs().isEmpty)

            // A part whose record is gone (a crash between the two removals) is swept whatever the time.
            let orphan = UploadID.new()
            try await storage.createPart(id: orphan, length: 10, for: nil)
            _ = await store.sweep(now: created)
            await #expect(storage.partIDs().isEmpty)
        }
    }

    @Test("another partner's upload is reported as absent, and a malformed id is no upload")
    func ownership() async throws {
        try await TemporaryDirectory.with("ferry-uploads") { folder in
            let store = UploadStore(
                storage: LocalFileStorage(root: folder.path),
                expireAfter: 60,
                quotas: QuotaBook(root: folder.path, configuration: FerryConfiguration())
            )
            let record = try await store.create(
                partner: "acme",
                path: "in/a.bin",
                length: 5,
                sha256: nil,
                metadata: "",
                place: nil
            )
            await #expect(store.load(Substring(record.id), partner: "acme")?.path == "in/a.bin")
            await #expect(store.load(Substring(record.id), partner: "globex") == nil)
            for bad in ["", "../" + record.id, record.id.uppercased(), String(record.id.dropLast()), record.id + "0"] {
                await #expect(store.load(Substring(bad), partner: "acme") == nil, "\(bad)")
            }
        }
    }

    @Test("opening for writing cuts the part back to the acknowledged offset (bytes written after it are not trusted)")
    func cutBack() async throws {
        try await TemporaryDirectory.with("ferry-uploads") { folder in
            let storage = LocalFileStorage(root: folder.path)
            let store = UploadStore(
                storage: storage,
                expireAfter: 60,
                quotas: QuotaBook(root: folder.path, configuration: FerryConfiguration())
            )
            var record = try await store.create(
                partner: "acme",
                path: "in/a.bin",
                length: 100,
                sha256: nil,
                metadata: "",
                place: nil
            )
            var part = try await storage.openPart(id: record.id, at: 0)
            try await part.write(.init(bytes: Array(repeating: 1, count: 60)))
            _ = try await part.checkpoint(final: true)
            part.close()
            record.offset = 40
            try await store.save(record)
            await #expect(try store.loadForWriting(Substring(record.id), partner: "acme")?.offset == 40)
            await #expect(storage.partLength(id: record.id) == 40)
        }
    }
}
