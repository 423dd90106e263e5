/// Strong validators for files, derived from identity, size and modification time (as nginx does).
public enum FileETag {
    /// `"<inode>-<size>-<mtime ns>"` in hexadecimal, quoted.
    public static func make(inode: UInt64, size: Int64, modifiedNanoseconds: Int64) -> String {
        "\"\(String(inode, radix: 16))-\(String(size, radix: 16))-\(String(modifiedNanoseconds, radix: 16))\""
    }
}
