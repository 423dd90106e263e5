import Crypto
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Where `ferry send` remembers unfinished resumable uploads: one small JSON file per (server, remote path,
/// local file) under the user's Ferry state folder, so rerunning the same command continues the upload.
struct ResumeStore: Sendable {
    let directory: String

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

    func load(_ key: String) -> Entry? {
        guard let data = FileManager.default.contents(atPath: directory + "/\(key).json") else { return nil }
        return try? JSONDecoder().decode(Entry.self, from: data)
    }

    func save(_ entry: Entry, key: String) {
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        guard let data = try? JSONEncoder().encode(entry) else { return }
        let temporary = directory + "/\(key).json.tmp"
        if FileManager.default.createFile(atPath: temporary, contents: data, attributes: [.posixPermissions: 0o600]) {
            rename(temporary, directory + "/\(key).json")
        }
    }

    func remove(_ key: String) {
        try? FileManager.default.removeItem(atPath: directory + "/\(key).json")
    }
}
