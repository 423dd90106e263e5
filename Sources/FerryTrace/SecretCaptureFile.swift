public import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

private func systemWrite(_ fd: Int32, _ pointer: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    Glibc.write(fd, pointer, count)
    #else
    Darwin.write(fd, pointer, count)
    #endif
}

/// Capture files hold TLS secrets: each is created new (`O_CREAT|O_EXCL`, never through a symbolic link) with
/// mode 0600, in a folder whose mode is checked, so no other user can read it or slip a file in its place.
public enum SecretCaptureFile {
    /// Why a capture file or its folder cannot be used.
    public struct Problem: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// Creates `path` (which must not exist) with mode 0600 and writes `bytes` to it.
    public static func write(_ bytes: ByteBuffer, to path: String) throws(Problem) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            let reason =
                errno == EEXIST
                ? "the file already exists (a capture is never written over another file)"
                : String(cString: strerror(errno))
            throw Problem(description: "cannot create the capture \(path): \(reason)")
        }
        defer { close(fd) }
        var offset = bytes.readerIndex
        let end = bytes.writerIndex
        while offset < end {
            let written = bytes.withUnsafeReadableBytes { raw in
                systemWrite(fd, raw.baseAddress! + (offset - bytes.readerIndex), end - offset)
            }
            if written < 0 {
                if errno == EINTR { continue }
                let reason = String(cString: strerror(errno))
                unlink(path)
                throw Problem(description: "cannot write the capture \(path): \(reason)")
            }
            offset += written
        }
    }

    /// The server's capture folder: created 0700 when missing; an existing one must belong to this user and be
    /// closed to others (no group or other permissions).
    public static func prepareFolder(_ path: String) throws(Problem) {
        var info = stat()
        if lstat(path, &info) != 0 {
            guard mkdir(path, 0o700) == 0 || errno == EEXIST else {
                throw Problem(
                    description: "cannot create \(path): \(String(cString: strerror(errno))); create it with mode 0700"
                )
            }
            guard lstat(path, &info) == 0 else {
                throw Problem(description: "cannot read \(path): \(String(cString: strerror(errno)))")
            }
        }
        guard (info.st_mode & S_IFMT) == S_IFDIR else {
            throw Problem(
                description:
                    "\(path) is not a folder (a symbolic link is not accepted): name a folder only this user can open"
            )
        }
        guard info.st_uid == geteuid() else {
            throw Problem(
                description:
                    "\(path) belongs to user \(info.st_uid), not to this user (\(geteuid())): captures hold TLS secrets; use a folder of your own"
            )
        }
        guard info.st_mode & 0o077 == 0 else {
            throw Problem(
                description:
                    "\(path) is open to other users (mode \(String(info.st_mode & 0o777, radix: 8))): captures hold TLS secrets; run `chmod 700 \(path)`"
            )
        }
    }

    /// A client capture's folder: others may not write into it unless it is sticky (like /tmp), and the file
    /// must not exist yet.
    public static func checkTarget(_ path: String) throws(Problem) {
        var info = stat()
        if lstat(path, &info) == 0 {
            throw Problem(
                description:
                    "\(path) already exists: a capture is never written over another file; remove it or name a new one"
            )
        }
        let folder = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        guard stat(folder.isEmpty ? "/" : folder, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
            throw Problem(description: "the folder of \(path) does not exist")
        }
        if info.st_mode & 0o022 != 0, info.st_mode & S_ISVTX == 0 {
            throw Problem(
                description:
                    "the folder of \(path) is writable by other users (mode \(String(info.st_mode & 0o777, radix: 8))): captures hold TLS secrets; choose a folder only you can write to"
            )
        }
    }
}
