import FerryProtocol
import Foundation

#if canImport(Glibc)
import Glibc
import CoreFoundation
#endif

extension TransferClient {
    /// A local file to send and its path under the target folder.
    struct Source {
        let local: String
        let relative: String
        let size: Int64
        /// Found inside a folder given on the command line.
        let inFolder: Bool
    }

    /// The files named, with each folder replaced by the regular files under it (when `recursive`), in name
    /// order, keyed by the folder's own name as `scp -r` does. Anything else in a folder is skipped with a note.
    static func expand(_ names: [String], recursive: Bool, notify: (String) -> Void) throws -> [Source] {
        var sources: [Source] = []
        for name in names {
            var info = stat()
            if stat(name, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR {
                guard recursive else {
                    throw TransferError(
                        .usage,
                        "\(name) is a folder: add --recursive (-r) to send it with everything under it"
                    )
                }
                let base = URL(fileURLWithPath: name).standardizedFileURL.lastPathComponent
                guard let walker = FileManager.default.enumerator(atPath: name) else {
                    throw TransferError(.localIO, "cannot read the folder \(name)")
                }
                var found: [String] = []
                while let relative = walker.nextObject() as? String {
                    let path = name + "/" + relative
                    var entry = stat()
                    guard lstat(path, &entry) == 0 else { continue }
                    switch entry.st_mode & S_IFMT {
                    case S_IFDIR: continue
                    case S_IFREG: found.append(relative)
                    case S_IFLNK where stat(path, &entry) == 0 && (entry.st_mode & S_IFMT) == S_IFREG:
                        found.append(relative)
                    default: notify("skipping \(path): not a regular file")
                    }
                }
                if found.isEmpty { throw TransferError(.usage, "nothing to send: the folder \(name) holds no files") }
                for relative in found.sorted() {
                    let path = name + "/" + relative
                    sources.append(
                        Source(
                            local: path,
                            relative: base + "/" + relative,
                            size: try checkReadable(path),
                            inFolder: true
                        )
                    )
                }
            } else {
                let size = try checkReadable(name)
                sources.append(
                    Source(
                        local: name,
                        relative: URL(fileURLWithPath: name).lastPathComponent,
                        size: size,
                        inFolder: false
                    )
                )
            }
        }
        return sources
    }
}
