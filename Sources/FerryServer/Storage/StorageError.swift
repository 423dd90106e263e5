import Foundation

/// Why the storage layer could not do what it was asked, in its own terms (no HTTP): the routes map it to a
/// problem at their boundary (``ProblemError/init(_:)-(StorageError)``). A system error keeps its errno, so
/// "out of space" is told by ENOSPC/EDQUOT, never by the text of a message.
public struct StorageError: Error, Sendable, Equatable, CustomStringConvertible {
    private enum Code: Sendable, Equatable {
        case noSpace, exists, isAFolder, parentNotFolder, linkOnPath, changedWhileRead, folderNotEmpty, areaTop,
            areaOutsideRoot, system, unavailable, nameTooLong
    }

    private let code: Code
    /// The system error number, when a system call failed.
    public let errno: Int32?
    /// What was being done, for the message.
    public let operation: String

    private init(_ code: Code, errno: Int32? = nil, operation: String) {
        self.code = code
        self.errno = errno
        self.operation = operation
    }

    /// A failed system call; ENOSPC and EDQUOT are ``isNoSpace``, ENAMETOOLONG ``isNameTooLong``.
    public static func system(_ errno: Int32, _ operation: String) -> StorageError {
        let code: Code =
            switch errno {
            case ENOSPC, EDQUOT: .noSpace
            case ENAMETOOLONG: .nameTooLong
            default: .system
            }
        return StorageError(code, errno: errno, operation: operation)
    }

    /// The path is longer than the storage takes (an object store's keys: 1,024 bytes).
    public static func nameTooLong(limit: Int) -> StorageError {
        StorageError(.nameTooLong, operation: "at most \(limit) bytes with the area and the prefix")
    }

    /// No room for the file (a reservation or a check against free space failed).
    public static func noSpace(_ operation: String) -> StorageError { StorageError(.noSpace, operation: operation) }
    /// A commit that must not replace found a file in place.
    public static let exists = StorageError(.exists, operation: "commit without replacing")
    /// A folder stands where a file was to be.
    public static let isAFolder = StorageError(.isAFolder, operation: "commit")
    /// A file stands where a folder was to be created.
    public static let parentNotFolder = StorageError(.parentNotFolder, operation: "create a folder")
    /// A symbolic link on the path: never followed.
    public static let linkOnPath = StorageError(.linkOnPath, operation: "open")
    /// A file read got shorter than it was.
    public static let changedWhileRead = StorageError(.changedWhileRead, operation: "read")

    /// A folder to delete still holds something.
    public static let folderNotEmpty = StorageError(.folderNotEmpty, operation: "delete")
    /// The top folder of an area is not removed.
    public static let areaTop = StorageError(.areaTop, operation: "delete")
    /// An area's folder leads (through a link the operator placed) outside the served tree.
    public static let areaOutsideRoot = StorageError(.areaOutsideRoot, operation: "open the area")

    /// The storage (an object store) did not answer or refused: `reason` says how.
    public static func unavailable(_ operation: String, _ reason: String) -> StorageError {
        StorageError(.unavailable, operation: operation + ": " + reason)
    }

    public var isNoSpace: Bool { code == .noSpace }
    public var isUnavailable: Bool { code == .unavailable }
    public var isNameTooLong: Bool { code == .nameTooLong }
    public var isExists: Bool { code == .exists }
    public var isAFolderInTheWay: Bool { code == .isAFolder }
    public var isParentNotFolder: Bool { code == .parentNotFolder }
    public var isLinkOnPath: Bool { code == .linkOnPath }
    public var isChangedWhileRead: Bool { code == .changedWhileRead }
    public var isFolderNotEmpty: Bool { code == .folderNotEmpty }
    public var isAreaTop: Bool { code == .areaTop }
    public var isAreaOutsideRoot: Bool { code == .areaOutsideRoot }

    public var description: String {
        switch code {
        case .noSpace:
            return "\(operation): no space left" + (errno.map { " (\(String(cString: strerror($0))))" } ?? "")
        case .exists: return "\(operation): the file already exists"
        case .isAFolder: return "\(operation): a folder exists at this path"
        case .parentNotFolder: return "\(operation): a file is in the way of a folder on this path"
        case .linkOnPath: return "\(operation): a symbolic link is on this path"
        case .changedWhileRead: return "\(operation): the file became shorter while it was read"
        case .folderNotEmpty: return "\(operation): the folder is not empty"
        case .areaTop: return "\(operation): the top folder of an area"
        case .areaOutsideRoot: return "\(operation): the area leads outside the served tree"
        case .system: return "\(operation): " + String(cString: strerror(errno ?? EIO))
        case .unavailable: return operation
        case .nameTooLong: return "the path is too long for the storage (\(operation))"
        }
    }
}
