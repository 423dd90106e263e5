import FerryProtocol

/// The decisions of `ferry get`, without sockets or files: the server's answers, the body's end, a broken
/// connection and the retry timer in; the next step out. `TransferClient.get` performs the steps on `NAME.part`.
/// Every branch is unit-tested by driving events (`DownloadMachineTests`).
///
/// A download asks for the rest of the file after the bytes `NAME.part` holds (`Range`), on condition that the file
/// is still the one they came from (`If-Range` with its `ETag`). A changed file (200 instead of 206) or a part that
/// is no prefix (416) starts over; the network and a busy server are retried with backoff from what the part holds;
/// the whole file's SHA-256 must equal the server's `Repr-Digest` before the part gets its name.
struct DownloadMachine {
    enum Action: Sendable {
        /// `GET` the file: from `from` with `If-Range: ifRange`, or the whole file (`from` 0, the part emptied).
        case fetch(from: Int64, ifRange: String?)
        /// Read the body into the part from `from` (0: empty the part first), expecting `total` bytes in all.
        case receive(from: Int64, total: Int64?)
        /// Close the connection, wait, then call `retryDue(partLength:)` (on a new connection).
        case wait(Duration, reason: String)
        /// The part is complete and its digest matches the server's: give it its name.
        case done(FileDigest)
        case fail(TransferError)

        /// Whether the step is a request on a connection.
        var isRequest: Bool {
            if case .fetch = self { return true }
            return false
        }
    }

    /// The validator of the file the part holds a prefix of (to be saved for a later run).
    private(set) var etag: String?
    private(set) var notices: [String] = []
    /// The attempts of this run.
    private(set) var attempts = Attempts()
    let name: String
    let retry: RetryPolicy
    private let delay: (Int) -> Duration
    /// What was asked and answered on the current request.
    private var asked: Int64 = 0
    private var expected: Int64?
    private var serverDigest: FileDigest?

    init(name: String, etag: String?, retry: RetryPolicy, delay: ((Int) -> Duration)? = nil) {
        self.name = name
        self.etag = etag
        self.retry = retry
        self.delay = delay ?? { retry.wait(before: $0) }
    }

    /// The first request, given what the part holds.
    mutating func start(partLength: Int64) -> Action {
        fetch(partLength: partLength)
    }

    /// The response head to a `fetch`: its status, where its range starts and the file's total length
    /// (`Content-Range`, or `Content-Length` for a 200), its validator and digest, and the problem of a refusal.
    mutating func response(
        status: Int,
        rangeStart: Int64?,
        total: Int64?,
        etag newTag: String?,
        digest: FileDigest?,
        problem: Problem? = nil
    ) -> Action {
        switch status {
        case 200:
            if asked > 0 {
                notices.append("\(name) changed on the server since the partial download; starting over")
            }
            return accept(from: 0, total: total, etag: newTag, digest: digest)
        case 206 where rangeStart == asked && asked > 0:
            return accept(from: asked, total: total, etag: newTag ?? etag, digest: digest)
        case 206:
            // A range that was not asked for: nothing of it is trusted; start over.
            etag = nil
            return retryLater(
                "the server sent bytes from \(rangeStart.map(String.init) ?? "an unknown offset"), not from \(asked)"
            )
        case 416:
            // The part is no prefix of the file (it shrank, or the part is damaged): start over on this connection.
            notices.append("the partial download of \(name) does not match the file on the server; starting over")
            etag = nil
            return .fetch(from: 0, ifRange: nil)
        default:
            let error = TransferError.refused(status: status, problem: problem, doing: "download of \(name)")
            return error.code == .network ? retryLater(error.message) : .fail(error)
        }
    }

    /// The body ended (or stopped) with the part holding `received` bytes; `digest` is the SHA-256 of them all.
    mutating func bodyEnded(received: Int64, digest: FileDigest) -> Action {
        if let expected, received != expected {
            return retryLater("the download ended after \(received) of \(expected) bytes")
        }
        guard let serverDigest, serverDigest == digest else {
            return .fail(
                TransferError(
                    .integrity,
                    "integrity check failed for \(name): received sha-256 \(digest.hex), server \(serverDigest?.hex ?? "sent no digest")"
                )
            )
        }
        return .done(digest)
    }

    /// The connection broke, stalled or timed out.
    mutating func connectionFailed(_ reason: String) -> Action {
        retryLater(reason)
    }

    /// The wait of a `.wait` is over: the next request, given what the part holds now.
    mutating func retryDue(partLength: Int64) -> Action {
        attempts.retried()
        return fetch(partLength: partLength)
    }

    mutating func takeNotices() -> [String] {
        defer { notices = [] }
        return notices
    }

    // MARK: -

    private mutating func fetch(partLength: Int64) -> Action {
        asked = partLength > 0 && etag != nil ? partLength : 0
        if asked == 0 { etag = nil }
        return .fetch(from: asked, ifRange: asked > 0 ? etag : nil)
    }

    private mutating func accept(from offset: Int64, total: Int64?, etag newTag: String?, digest: FileDigest?) -> Action
    {
        etag = newTag
        expected = total
        serverDigest = digest
        attempts.started(at: offset)
        return .receive(from: offset, total: total)
    }

    private mutating func retryLater(_ reason: String) -> Action {
        guard attempts.count <= retry.retries else {
            return .fail(
                TransferError(.network, "download of \(name) failed after \(attempts.count) attempts: \(reason)")
            )
        }
        return .wait(delay(attempts.count), reason: reason)
    }
}
