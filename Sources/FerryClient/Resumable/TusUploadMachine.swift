import FerryProtocol

/// The decisions of a resumable (tus) upload, without sockets or files: events in (the server's answers, a
/// dropped connection, the retry timer), the next step out. `TransferClient.uploadResumable` performs the steps.
/// Every branch is unit-tested by driving events (`TusUploadMachineTests`).
///
/// The protocol as Ferry's client speaks it: `POST` creates the upload (its URL is saved, so a later run of the
/// same command resumes it), `HEAD` asks the acknowledged offset, one `PATCH` sends the rest, and the server's
/// `Repr-Digest` of the committed file must equal the local SHA-256. Anything the network or a busy server
/// causes is retried with backoff from the server's offset; an upload the server lost starts over; what the
/// user must fix fails at once.
struct TusUploadMachine {
    enum Action: Sendable {
        /// `POST` a new upload.
        case create
        /// `HEAD` the upload at this path for its offset.
        case askOffset(path: String)
        /// `PATCH` bytes `from..<size` to the upload at this path; the local digest must cover `0..<from` first.
        case send(path: String, from: Int64)
        /// Close the connection, wait, then call `retryDue()` (on a new connection).
        case wait(Duration, reason: String)
        /// The upload is committed and its digest verified.
        case done(FileDigest)
        case fail(TransferError)

        /// Whether the step is a request on a connection.
        var isRequest: Bool {
            switch self {
            case .create, .askOffset, .send: return true
            case .wait, .done, .fail: return false
            }
        }
    }

    /// Something for the user to read (a resume, a restart), collected as the machine decides.
    private(set) var notices: [String] = []
    /// The upload's path on the server, once created (to be saved for a later run).
    private(set) var uploadPath: String?
    /// The attempts of this run.
    private(set) var attempts = Attempts()

    let size: Int64
    let file: String
    let retry: RetryPolicy
    /// `409` (offset moved) asks again at once; this many in a row mean something is wrong.
    static let maximumOffsetConflicts = 3
    private var conflicts = 0
    /// The wait before retry number n (the policy's backoff; a test passes its own).
    private let delay: (Int) -> Duration

    init(size: Int64, file: String, savedPath: String?, retry: RetryPolicy, delay: ((Int) -> Duration)? = nil) {
        self.size = size
        self.file = file
        self.uploadPath = savedPath
        self.retry = retry
        self.delay = delay ?? { retry.wait(before: $0) }
    }

    /// The first step.
    func start() -> Action {
        uploadPath.map { .askOffset(path: $0) } ?? .create
    }

    /// The answer to `POST`.
    mutating func created(status: Int, location: String?, problem: Problem? = nil) -> Action {
        guard status == 201 else { return answer(status, problem: problem, doing: "create the upload") }
        guard let location, let path = Self.path(of: location) else {
            return .fail(
                TransferError(
                    .rejected,
                    "the server created the upload of \(file) but sent no usable Location (\(TerminalText.escaped(location ?? "none")))"
                )
            )
        }
        uploadPath = path
        return begin(at: 0, path: path)
    }

    /// The answer to `HEAD`.
    mutating func offset(status: Int, offset: Int64?, problem: Problem? = nil) -> Action {
        guard let path = uploadPath else { return .create }
        switch status {
        case 200, 204:
            guard let offset, (0...size).contains(offset) else {
                return .fail(
                    TransferError(
                        .rejected,
                        "the server's Upload-Offset (\(offset.map(String.init) ?? "none")) is not within the \(size) bytes of \(file)"
                    )
                )
            }
            return begin(at: offset, path: path)
        case 404, 410:
            return restart("the server no longer has the interrupted upload of \(file) (expired?); starting over")
        default:
            return answer(status, problem: problem, doing: "ask for the offset of the upload")
        }
    }

    /// The answer to `PATCH`, with the server's digest (when it sent one) and the local one.
    mutating func sent(
        status: Int,
        offset: Int64?,
        serverDigest: FileDigest? = nil,
        localDigest: FileDigest? = nil,
        problem: Problem? = nil
    ) -> Action {
        switch status {
        case 204 where offset == nil || offset == size:
            conflicts = 0
            guard let localDigest else {
                return .fail(TransferError(.localIO, "no local digest of \(file) to compare"))
            }
            guard let serverDigest else {
                return .fail(
                    TransferError(
                        .integrity,
                        "integrity check failed for \(file): local sha-256 \(localDigest.hex), server sent no digest"
                    )
                )
            }
            guard serverDigest == localDigest else {
                return .fail(
                    TransferError(
                        .integrity,
                        "integrity check failed for \(file): local sha-256 \(localDigest.hex), server \(serverDigest.hex)"
                    )
                )
            }
            return .done(localDigest)
        case 204:
            // The server kept part of the body (a checkpoint before the connection broke): continue from its offset.
            return retryLater("the server acknowledged \(offset!) of \(size) bytes")
        case 409:
            // The offset moved (a request of an earlier attempt still finished writing): ask again, at once.
            conflicts += 1
            guard conflicts <= Self.maximumOffsetConflicts, let path = uploadPath else {
                return .fail(
                    TransferError(
                        .network,
                        "the server's offset for \(file) kept moving (\(conflicts) conflicts in a row)"
                    )
                )
            }
            return .askOffset(path: path)
        case 404, 410:
            return restart(
                "the server lost the upload of \(file) while it was sent (restarted or expired); starting over"
            )
        case 460:
            // A checksum of the PATCH did not match: the bytes were damaged on the way; they were discarded.
            return retryLater("the server discarded damaged bytes (checksum mismatch)")
        default:
            return answer(status, problem: problem, doing: "upload")
        }
    }

    /// The connection broke, stalled or timed out before an answer.
    mutating func connectionFailed(_ reason: String) -> Action {
        retryLater(reason)
    }

    /// The notices collected since the last call.
    mutating func takeNotices() -> [String] {
        defer { notices = [] }
        return notices
    }

    /// The wait of a `.wait` is over: the next step, on a new connection.
    mutating func retryDue() -> Action {
        attempts.retried()
        return start()
    }

    // MARK: -

    private mutating func begin(at offset: Int64, path: String) -> Action {
        if attempts.offsets.isEmpty, offset > 0 {
            notices.append(
                "resuming \(file) at \(ByteFormat.size(offset)) of \(ByteFormat.size(size)) (\(offset * 100 / max(size, 1))%)"
            )
        }
        attempts.started(at: offset)
        return .send(path: path, from: offset)
    }

    private mutating func restart(_ notice: String) -> Action {
        notices.append(notice)
        uploadPath = nil
        return .create
    }

    private mutating func retryLater(_ reason: String) -> Action {
        guard attempts.count <= retry.retries else {
            return .fail(
                TransferError(.network, "upload of \(file) failed after \(attempts.count) attempts: \(reason)")
            )
        }
        return .wait(delay(attempts.count), reason: reason)
    }

    /// An answer that is not the expected one: what means "not now" (a busy upload, a server error) is retried;
    /// the rest is the user's to fix (`TransferError.refused` classifies it, as for every other request).
    private mutating func answer(_ status: Int, problem: Problem?, doing what: String) -> Action {
        let error = TransferError.refused(status: status, problem: problem, doing: "\(what) of \(file)")
        return error.code == .network ? retryLater(error.message) : .fail(error)
    }

    /// The path of a `Location`, absolute URL or path.
    static func path(of location: String) -> String? {
        if location.hasPrefix("/") { return location }
        guard location.hasPrefix("https://") else { return nil }
        let afterScheme = location.dropFirst("https://".count)
        guard let slash = afterScheme.firstIndex(of: "/") else { return nil }
        return String(afterScheme[slash...])
    }
}
