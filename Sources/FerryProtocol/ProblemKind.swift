/// Every problem type Ferry's server answers with: its slug (the last part of `type`), its HTTP status, its title,
/// and what the partner should do. Routes throw these, the client reads the slug, and docs/protocol.md's table is
/// this catalogue (a test checks the two agree). The case at hand goes in the problem's `detail`.
public struct ProblemKind: Sendable, Hashable {
    public let slug: String
    public let status: Int
    public let title: String
    /// What to do about it, in a sentence.
    public let action: String

    init(_ slug: String, _ status: Int, _ title: String, _ action: String) {
        self.slug = slug
        self.status = status
        self.title = title
        self.action = action
    }

    /// The problem with this kind's type, status and title; `status` overrides the kind's (a quota answers 507,
    /// 413 or 429 by what ran out).
    public func problem(detail: String? = nil, status: Int? = nil) -> Problem {
        Problem(slug, status: status ?? self.status, title: title, detail: detail)
    }

    /// The kind of a problem received, when Ferry knows its slug.
    public init?(_ problem: Problem) {
        guard let known = Self.all.first(where: { $0.slug == problem.slug }) else { return nil }
        self = known
    }

    // Requests and paths
    public static let badPath = Self(
        "bad-path",
        400,
        "Path refused",
        "Use a relative path without '..', '.ferry', control, bidi or NUL characters, backslashes or empty segments."
    )
    public static let notAFile = Self(
        "not-a-file",
        400,
        "Not a file path",
        "Name a file, not a folder (no trailing '/'), for PUT and tus uploads."
    )
    public static let badLimit = Self(
        "bad-limit",
        400,
        "Bad listing parameters",
        "Give `limit` as a whole number from 1 to 10,000 and `after` as a name from a previous page's `next`."
    )
    public static let lengthMismatch = Self(
        "length-mismatch",
        400,
        "Body length differs from Content-Length",
        "Send exactly Content-Length bytes."
    )
    public static let methodNotAllowed = Self(
        "method-not-allowed",
        405,
        "Method not allowed",
        "Use the methods docs/protocol.md lists for the path."
    )
    public static let unsupportedMediaType = Self(
        "unsupported-media-type",
        415,
        "Wrong content type",
        "Send a batch as application/vnd.ferry.batch and a tus PATCH as application/offset+octet-stream."
    )

    // Identity and rights
    public static let clientCertificateRequired = Self(
        "client-certificate-required",
        401,
        "Client certificate required",
        "Present the client certificate your partner agreement names."
    )
    public static let unknownPartner = Self(
        "unknown-partner",
        403,
        "No partner for this certificate",
        "Ask the server's operator to bind your certificate's subject or SAN to a partner."
    )
    public static let accessDenied = Self(
        "access-denied",
        403,
        "Access denied",
        "Ask the server's operator for the right (read, write, delete) on that area."
    )
    public static let pathOutsideArea = Self(
        "path-outside-area",
        403,
        "Path leaves your area",
        "Stay inside your area; links out of it are not followed."
    )
    public static let cannotDeleteArea = Self(
        "cannot-delete-area",
        403,
        "Cannot delete an area",
        "Delete the files and folders inside it instead."
    )

    // Files and folders
    public static let notFound = Self("not-found", 404, "Not found", "Check the path (ferry ls lists a folder).")
    public static let isADirectory = Self(
        "is-a-directory",
        409,
        "Target is a folder",
        "Choose a file name inside the folder."
    )
    public static let parentNotFolder = Self(
        "parent-not-folder",
        409,
        "A parent is not a folder",
        "A file stands where the path needs a folder: choose another path."
    )
    public static let folderNotEmpty = Self(
        "folder-not-empty",
        409,
        "Folder not empty",
        "Delete what the folder holds first."
    )
    public static let notAFolder = Self(
        "not-a-folder",
        409,
        "Not a folder",
        "List or post batches to a folder path (ending in '/')."
    )
    public static let exists = Self(
        "exists",
        412,
        "File exists",
        "Drop If-None-Match: * to replace it, or choose another name."
    )
    public static let rangeNotSatisfiable = Self(
        "range-not-satisfiable",
        416,
        "Range not satisfiable",
        "Ask for bytes inside the file (Content-Range tells its size)."
    )
    public static let fileChanged = Self(
        "file-changed",
        500,
        "File changed while read",
        "Retry: the file was replaced while it was being sent."
    )

    // Integrity
    public static let digestMismatch = Self(
        "digest-mismatch",
        400,
        "Digest mismatch",
        "The bytes received are not the file declared: send it again (nothing was stored)."
    )
    public static let conversionFailed = Self(
        "conversion-failed",
        422,
        "Text conversion failed",
        "Send text in the code page and record format agreed for you (partners.NAME.text), or ask the operator to change them or to substitute unmappable characters."
    )
    public static let badDigestHeader = Self(
        "bad-digest-header",
        400,
        "Malformed Repr-Digest",
        "Send Repr-Digest: sha-256=:BASE64: (RFC 9530)."
    )
    public static let checksumMismatch = Self(
        "checksum-mismatch",
        460,
        "Checksum mismatch",
        "Send the PATCH again from the same offset (its bytes were discarded)."
    )
    public static let badChecksumHeader = Self(
        "bad-checksum-header",
        400,
        "Malformed Upload-Checksum",
        "Send Upload-Checksum: ALGORITHM BASE64."
    )
    public static let checksumAlgorithm = Self(
        "checksum-algorithm",
        400,
        "Unsupported checksum algorithm",
        "Use sha1 or sha256 (Tus-Checksum-Algorithm lists them)."
    )

    // Resumable uploads (tus)
    public static let tusVersion = Self("tus-version", 412, "Unsupported tus version", "Speak tus 1.0.0 (Tus-Version).")
    public static let uploadLength = Self(
        "upload-length",
        400,
        "Upload-Length required",
        "Send Upload-Length with the file's size in bytes."
    )
    public static let deferLengthUnsupported = Self(
        "defer-length-unsupported",
        400,
        "Upload-Defer-Length not supported",
        "Send Upload-Length."
    )
    public static let badMetadata = Self(
        "bad-metadata",
        400,
        "Malformed Upload-Metadata",
        "Send KEY BASE64 pairs separated by commas; sha256 as 64 hexadecimal digits."
    )
    public static let pathRequired = Self(
        "path-required",
        400,
        "Target path required",
        "Put the target path in Upload-Metadata as 'path' (base64)."
    )
    public static let uploadOffset = Self(
        "upload-offset",
        400,
        "Upload-Offset required",
        "Send Upload-Offset; HEAD tells the current one."
    )
    public static let offsetMismatch = Self(
        "offset-mismatch",
        409,
        "Offset mismatch",
        "Ask HEAD for the current Upload-Offset and continue from there."
    )
    public static let uploadNotFound = Self(
        "upload-not-found",
        404,
        "Upload not found",
        "Start a new upload: this one expired, finished or was never created."
    )
    public static let uploadBusy = Self(
        "upload-busy",
        423,
        "Upload busy",
        "Wait for the other request on this upload to end, then retry."
    )

    // Sizes and space
    public static let tooLarge = Self(
        "too-large",
        413,
        "Upload too large",
        "Send a smaller file, or ask for a larger uploads.max-size."
    )
    public static let quotaExceeded = Self(
        "quota-exceeded",
        507,
        "Quota exceeded",
        "Remove files or ask for a larger quota; `quota` says which one and what remains (507 home full, 413 file larger than the quota, 429 too many open uploads)."
    )
    public static let storageFull = Self(
        "storage-full",
        507,
        "Storage full",
        "Retry later: the server is out of space (not retried within a run)."
    )
    public static let storageUnavailable = Self(
        "storage-unavailable",
        503,
        "Storage unavailable",
        "Retry later: the server cannot reach its object store for now (retried within a run)."
    )
    public static let storageError = Self(
        "storage-error",
        500,
        "Cannot store",
        "Retry later; the server's log says what failed."
    )

    // Batches
    public static let malformedBatch = Self(
        "malformed-batch",
        400,
        "Malformed batch",
        "Fix the entry named in `detail`; the files before it were handled as the report lists."
    )

    /// The catalogue, in the order docs/protocol.md lists it.
    public static let all: [ProblemKind] = [
        badPath, notAFile, badLimit, lengthMismatch, methodNotAllowed, unsupportedMediaType,
        clientCertificateRequired, unknownPartner, accessDenied, pathOutsideArea, cannotDeleteArea,
        notFound, isADirectory, parentNotFolder, folderNotEmpty, notAFolder, exists, rangeNotSatisfiable, fileChanged,
        digestMismatch, conversionFailed, badDigestHeader, checksumMismatch, badChecksumHeader, checksumAlgorithm,
        tusVersion, uploadLength, deferLengthUnsupported, badMetadata, pathRequired, uploadOffset, offsetMismatch,
        uploadNotFound, uploadBusy,
        tooLarge, quotaExceeded, storageFull, storageUnavailable, storageError,
        malformedBatch,
    ]

    /// The table docs/protocol.md holds.
    public static var markdownTable: String {
        "| type | status | title | what to do |\n|---|---|---|---|\n"
            + all.map { "| `\($0.slug)` | \($0.status) | \($0.title) | \($0.action) |\n" }.joined()
    }
}

extension Problem {
    public init(_ kind: ProblemKind, detail: String? = nil) {
        self = kind.problem(detail: detail)
    }
}
