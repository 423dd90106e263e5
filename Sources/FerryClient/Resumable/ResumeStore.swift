import Crypto
public import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Where a resumable upload's place is kept, as opaque records under a key: a folder of small files for
/// `ferry send` (the default), or a table every node reads for queued transfers on several nodes, so a node that
/// takes over another's entry continues its upload.
public protocol ResumeRecordStore: Sendable {
    func load(_ key: String) async -> Data?
    func save(_ record: Data, key: String) async
    func remove(_ key: String) async
}

/// One small JSON file per record under the user's Ferry state folder, written atomically, 0600.
public struct FolderResumeRecords: ResumeRecordStore {
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    public func load(_ key: String) async -> Data? {
        FileManager.default.contents(atPath: directory + "/\(key).json")
    }

    public func save(_ record: Data, key: String) async {
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let temporary = directory + "/\(key).json.tmp"
        if FileManager.default.createFile(atPath: temporary, contents: record, attributes: [.posixPermissions: 0o600]) {
            rename(temporary, directory + "/\(key).json")
        }
    }

    public func remove(_ key: String) async {
        try? FileManager.default.removeItem(atPath: directory + "/\(key).json")
    }
}

/// Where `ferry send` remembers unfinished resumable uploads (and `ferry get` the ETag of a `.part`): one record
/// per (server, remote path, local file), so rerunning the same command continues the transfer.
struct ResumeStore: Sendable {
    let records: any ResumeRecordStore

    struct Entry: Codable, Equatable, Sendable {
        /// What lets the transfer continue: for an upload, its path on the server (`/v1/uploads/<id>`); for a
        /// download, the ETag of the file its `.part` holds a prefix of.
        var token: String
        var authority: String
        var remotePath: String
        var localPath: String
        /// The local file an upload reads (none for downloads).
        var source: SourceIdentity?
    }

    func key(authority: String, remotePath: String, localPath: String) -> String {
        SHA256.hash(data: Data("\(authority)\n\(remotePath)\n\(localPath)".utf8)).prefix(16).map {
            String(format: "%02x", $0)
        }.joined()
    }

    func load(_ key: String) async -> Entry? {
        guard let data = await records.load(key) else { return nil }
        return try? JSONDecoder().decode(Entry.self, from: data)
    }

    func save(_ entry: Entry, key: String) async {
        guard let data = try? JSONEncoder().encode(entry) else { return }
        await records.save(data, key: key)
    }

    func remove(_ key: String) async {
        await records.remove(key)
    }
}
