import Crypto
import FerryText
import Foundation
import NIOConcurrencyHelpers
import NIOPosix

#if canImport(Glibc)
import Glibc
import CoreFoundation
#endif

/// `ferry send --text`: each file is converted from text before its first byte goes, into a staged file that is
/// then sent as any file is (batches, PUT, resumable). The conversion is deterministic and the staged file is kept
/// under a name made of the source's identity and the settings, so an interrupted resumable upload continues in
/// the next run from the same bytes at the same offsets; it is removed once its file has been verified.
final class TextStaging: Sendable {
    struct Staged: Sendable {
        let original: String
        let path: String
        let originalSHA256: String
        let conversion: String
    }

    let conversion: TextConversion
    let folder: String
    /// Staged files by the remote URL they go to.
    private let staged = NIOLockedValueBox<[String: Staged]>([:])

    init(conversion: TextConversion, folder: String) {
        self.conversion = conversion
        self.folder = folder
    }

    /// Converts `local` (unless an earlier run left its conversion) and returns the file to send in its place.
    func stage(_ local: String, for remoteURL: String) async throws -> String {
        var info = stat()
        guard stat(local, &info) == 0 else {
            throw TransferError(.localIO, "cannot read \(local): \(String(cString: strerror(errno)))")
        }
        let absolute = URL(fileURLWithPath: local).standardizedFileURL.path
        let identity =
            "\(absolute)\n\(info.st_ino)\n\(info.st_size)\n\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)\n\(conversion)"
        let key = SHA256.hash(data: Array(identity.utf8)).prefix(16).map { String(format: "%02x", $0) }.joined()
        let path = folder + "/" + key
        let digestPath = path + ".sha256"
        try FileManager.default.createDirectory(
            atPath: folder,
            withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700]
        )
        let originalSHA256: String
        if FileManager.default.fileExists(atPath: path),
            let known = try? String(contentsOfFile: digestPath, encoding: .utf8), known.count == 64
        {
            originalSHA256 = known
        } else {
            let conversion = self.conversion
            let result: TextFileConversion
            do {
                result = try await NIOThreadPool.singleton.runIfActive {
                    try conversion.convertFile(at: local, to: path)
                }
            } catch let error as ConversionError {
                throw TransferError(.usage, "cannot send \(local) in text mode: \(error.description); nothing was sent")
            }
            originalSHA256 = result.sourceSHA256
            try? result.sourceSHA256.write(toFile: digestPath, atomically: true, encoding: .utf8)
        }
        let settings = conversion.description
        staged.withLockedValue {
            $0[remoteURL] = Staged(original: local, path: path, originalSHA256: originalSHA256, conversion: settings)
        }
        return path
    }

    /// The staged file going to `remoteURL`, if that file is in text mode.
    func staged(for remoteURL: String) -> Staged? { staged.withLockedValue { $0[remoteURL] } }

    /// Removes the staged files of the remote URLs given (the files that were verified), or all of them.
    func remove(_ remoteURLs: Set<String>? = nil) {
        let gone = staged.withLockedValue { all in
            all.filter { remoteURLs?.contains($0.key) ?? true }.map(\.value.path)
        }
        for path in gone {
            unlink(path)
            unlink(path + ".sha256")
        }
        if remoteURLs == nil { rmdir(folder) }
    }
}
