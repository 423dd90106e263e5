import Crypto
public import FerryLedger
public import FerryProtocol
public import FerryTLS
public import FerryText
import FerryTrace
import FerryWire
import Foundation
public import NIOCore
import NIOHTTP1
import NIOSSL
import _NIOFileSystem

#if canImport(Glibc)
import Glibc
import CoreFoundation
#endif

/// Ferry's client: streams files to and from a server over mutual TLS, checks SHA-256 end to end, and keeps
/// a ledger row per transfer.
public struct TransferClient: Sendable {
    public let tls: ResolvedClientTLS
    public let ledger: (any Ledger)?
    public var progress: ProgressDisplay

    /// Bytes per read from a local file.
    static let chunkLength: ByteCount = .kibibytes(256)
    /// Ranges up to this size are read in one go, in place.
    static let smallRead: Int64 = 1 << 20

    /// Reads a small range of a file with plain system calls.
    static func readInPlace(_ file: String, range: Range<Int64>) throws -> ByteBuffer {
        var buffer = ByteBuffer()
        try readInPlace(file, range: range, appendingTo: &buffer)
        return buffer
    }

    /// Reads a small range of a file with plain system calls onto the end of `buffer`.
    static func readInPlace(_ file: String, range: Range<Int64>, appendingTo buffer: inout ByteBuffer) throws {
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw TransferError(.localIO, "cannot read \(file): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var failure: Int32 = 0
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: Int(range.count)) { raw in
            var done = 0
            while done < Int(range.count) {
                let count = pread(
                    fd,
                    raw.baseAddress! + done,
                    Int(range.count) - done,
                    off_t(range.lowerBound) + off_t(done)
                )
                if count < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    break
                }
                if count == 0 { break }
                done += count
            }
            return done
        }
        if failure != 0 { throw TransferError(.localIO, "cannot read \(file): \(String(cString: strerror(failure)))") }
    }

    /// When uploads use the resumable (tus) protocol.
    public enum UploadMode: Sendable, Equatable {
        /// Resumable for files of at least `threshold` bytes, a single PUT below.
        case automatic(threshold: Int64)
        /// Always a single PUT.
        case whole
        /// Always resumable.
        case resumable
    }

    public var uploadMode: UploadMode = .automatic(threshold: 8 << 20)
    /// Whole-file uploads of several files share this many kept-alive connections, each sending its share in
    /// turn (small files are dominated by round trips, which parallel connections overlap).
    public var parallelism = 4
    /// Folders named in `send` are sent with the files under them (as `scp -r`); without it they are refused.
    public var recursive = false
    /// Called for each file `send` has sent, as soon as it is verified (in the order they finish, from
    /// several tasks at once), so that a long run reports as it goes and a failure does not hide what went.
    public var report: (@Sendable (TransferResult) -> Void)?
    public var retry = RetryPolicy()
    /// An upload bandwidth limit in bytes per second (`nil`: as fast as the network allows).
    public var rateLimit: Int64?
    /// A connection on which nothing moves for this long is treated as dropped (and retried).
    public var stallTimeout: TimeAmount = ClientConnection.defaultStallTimeout
    /// Where unfinished resumable uploads are remembered (and text mode stages converted files); `nil` keeps no
    /// state between runs.
    public var resumeDirectory: String?
    /// Where the records of unfinished transfers are kept instead of `resumeDirectory` (a table several nodes
    /// share).
    public var resumeRecords: (any ResumeRecordStore)?

    /// The records of unfinished transfers, if this client keeps any.
    var resumeStore: ResumeStore? {
        (resumeRecords ?? resumeDirectory.map { FolderResumeRecords(directory: $0) }).map(ResumeStore.init)
    }
    /// Messages for the user (e.g. "resuming at 40%"), written to standard error by the CLI.
    public var notify: @Sendable (String) -> Void = { _ in }
    /// Receives each connection's handshake trace (`--trace`, `--pcapng`); `nil`: no traces.
    public var trace: TraceCollector?
    /// Text mode (`--text`), in the to-text direction: `send` converts each file from text to the code page
    /// before it goes, `get` converts what arrived to text after its digest matched. `nil`: bytes as they are.
    public var text: TextConversion?
    /// What the ids of this client's ledger rows start with (then `-` and a random part): the queue entry a queued
    /// transfer's rows belong to, so the admin API can show a row with its entry's attempts. Nil: random ids.
    public var ledgerRowPrefix: String?
    /// The files `send` converted for text mode, while it runs.
    var textStaging: TextStaging?

    public init(
        tls: ResolvedClientTLS,
        ledger: (any Ledger)?,
        progress: ProgressDisplay = ProgressDisplay(enabled: false)
    ) {
        self.tls = tls
        self.ledger = ledger
        self.progress = progress
    }

    func usesResumable(size: Int64) -> Bool {
        switch uploadMode {
        case .automatic(let threshold): return size >= threshold
        case .whole: return false
        case .resumable: return true
        }
    }

    // MARK: helpers

    /// Checks that a local file can be sent; returns its size.
    @discardableResult
    static func checkReadable(_ file: String) throws -> Int64 {
        var info = stat()
        guard stat(file, &info) == 0 else {
            throw TransferError(.localIO, "cannot send \(file): \(String(cString: strerror(errno)))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw TransferError(.localIO, "cannot send \(file): not a regular file")
        }
        guard access(file, R_OK) == 0 else {
            throw TransferError(.localIO, "cannot send \(file): not readable (\(String(cString: strerror(errno))))")
        }
        return Int64(info.st_size)
    }

    func result(
        _ operation: String,
        local: String,
        remote: RemoteTarget,
        bytes: Int64,
        digest: FileDigest,
        status: Int,
        started: Date,
        connection: ClientConnection
    ) -> TransferResult {
        let seconds = Date().timeIntervalSince(started)
        let snapshot = connection.record.snapshot
        let server = connection.serverIdentity
        return TransferResult(
            operation: operation,
            local: local,
            remote: remote.url,
            bytes: bytes,
            sha256: digest.hex,
            verified: true,
            seconds: seconds,
            bytesPerSecond: seconds > 0 ? Double(bytes) / seconds : 0,
            tlsVersion: snapshot.version?.description,
            cipherSuite: snapshot.cipherSuite?.description,
            serverSubject: server?.subject,
            serverIssuer: server?.issuer,
            clientSubject: tls.clientSubject,
            status: status,
            sentThisRun: bytes
        ).sentInTextMode(textStaging?.staged(for: remote.url))
    }
}

extension PartnerPath {
    /// The folder form of a path (for listings).
    init(folderOf path: PartnerPath) {
        self =
            path.isDirectory || path.segments.isEmpty
            ? path : (try? PartnerPath(encoded: Substring(path.encoded + "/"))) ?? path
    }
}
