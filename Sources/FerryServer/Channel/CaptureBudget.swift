import Foundation
import NIOConcurrencyHelpers

/// Bounds the capture folder: at most so many files and bytes (those already there count), so a flood of
/// connections cannot fill the disk with captures.
final class CaptureBudget: Sendable {
    let maximumFiles: Int
    let maximumBytes: Int
    private let used: NIOLockedValueBox<(files: Int, bytes: Int, warned: Bool)>

    init(folder: String?, maximumFiles: Int, maximumBytes: Int) {
        self.maximumFiles = maximumFiles
        self.maximumBytes = maximumBytes
        var files = 0
        var bytes = 0
        if let folder, let names = try? FileManager.default.contentsOfDirectory(atPath: folder) {
            for name in names where name.hasSuffix(".pcapng") {
                files += 1
                bytes +=
                    ((try? FileManager.default.attributesOfItem(atPath: folder + "/" + name))?[.size] as? NSNumber)?
                    .intValue ?? 0
            }
        }
        used = NIOLockedValueBox((files, bytes, false))
    }

    /// Takes room for one capture of `bytes`; `false` when the folder is full.
    func reserve(_ bytes: Int) -> Bool {
        used.withLockedValue { used in
            guard used.files < maximumFiles, used.bytes + bytes <= maximumBytes else { return false }
            used.files += 1
            used.bytes += bytes
            return true
        }
    }

    /// True the first time the folder is found full (one warning, not one per connection).
    func shouldWarnFull() -> Bool {
        used.withLockedValue { used in
            defer { used.warned = true }
            return !used.warned
        }
    }
}
