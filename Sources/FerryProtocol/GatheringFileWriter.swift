#if canImport(Glibc)
import Glibc
#endif
public import NIOCore
public import _NIOFileSystem

/// Writes a stream of buffers to a file at increasing offsets. The buffers are kept as they are (not copied
/// into a staging array, as NIOFileSystem's buffered writer does) until `capacity` bytes are pending, then
/// written in one trip to the file system's threads.
public struct GatheringFileWriter {
    let handle: WriteFileHandle
    public private(set) var offset: Int64
    let capacity: Int
    var pending: [ByteBuffer] = []
    var pendingBytes = 0

    public init(handle: WriteFileHandle, startingAt offset: Int64, capacity: Int = 1 << 20) {
        self.handle = handle
        self.offset = offset
        self.capacity = capacity
    }

    public mutating func write(_ buffer: ByteBuffer) async throws {
        pending.append(buffer)
        pendingBytes += buffer.readableBytes
        if pendingBytes >= capacity { try await flush() }
    }

    /// Writes what is pending.
    public mutating func flush() async throws {
        guard pendingBytes > 0 else { return }
        let buffers = pending
        let start = offset
        pending.removeAll(keepingCapacity: true)
        try await handle.withUnsafeDescriptor { descriptor in
            var at = start
            for buffer in buffers {
                let code = buffer.write(toDescriptor: descriptor.rawValue, at: at)
                if code != 0 {
                    throw FileSystemError(
                        code: code == ENOSPC ? .resourceExhausted : .io, message: "write failed: \(String(cString: strerror(code)))",
                        cause: FileSystemError.SystemCallError(systemCall: "pwrite", errno: Errno(rawValue: code)),
                        location: .init(function: #function, file: #fileID, line: #line))
                }
                at += Int64(buffer.readableBytes)
            }
        }
        offset += Int64(pendingBytes)
        pendingBytes = 0
    }
}

extension ByteBuffer {
    /// Writes the readable bytes to a file at `offset` with `pwrite`, however many calls it takes; returns 0,
    /// or the `errno` of the call that failed.
    public func write(toDescriptor descriptor: Int32, at offset: Int64) -> Int32 {
        withUnsafeReadableBytes { raw in
            var done = 0
            while done < raw.count {
                let written = pwrite(descriptor, raw.baseAddress! + done, raw.count - done, off_t(offset) + off_t(done))
                if written < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                done += written
            }
            return 0
        }
    }
}
