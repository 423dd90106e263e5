/// The words both sides of Ferry's HTTP protocol use: paths, header names, media types and the tus constants.
/// The server and the client take them from here, so a change on one side cannot silently break the other.
/// docs/protocol.md describes them.
public enum FerryAPI {
    /// Files: `GET`/`HEAD` (ranges), `PUT` (atomic commit), `DELETE`, `GET` on a folder (a ``Listing``), `POST` of a
    /// ``Batch`` on a folder.
    public static let files = "/v1/files"
    /// tus 1.0.0 resumable uploads.
    public static let uploads = "/v1/uploads"
    /// Liveness (no TLS client certificate needed beyond the handshake's).
    public static let health = "/v1/health"

    /// The request path of a file or folder.
    public static func file(_ path: PartnerPath) -> String { files + "/" + path.encoded }
}

/// Header names beyond HTTP's own, as sent (matching is case-insensitive on both sides).
public enum FerryHeader {
    /// RFC 9530: `sha-256=:BASE64:` of the whole file, on PUT (checked before commit) and on GET/HEAD.
    public static let reprDigest = "Repr-Digest"
    public static let tusResumable = "Tus-Resumable"
    public static let tusVersion = "Tus-Version"
    public static let tusExtension = "Tus-Extension"
    public static let tusMaxSize = "Tus-Max-Size"
    public static let tusChecksumAlgorithm = "Tus-Checksum-Algorithm"
    public static let uploadLength = "Upload-Length"
    public static let uploadOffset = "Upload-Offset"
    public static let uploadMetadata = "Upload-Metadata"
    public static let uploadDeferLength = "Upload-Defer-Length"
    public static let uploadChecksum = "Upload-Checksum"
    public static let uploadExpires = "Upload-Expires"
}

/// Media types of request and response bodies.
public enum FerryMediaType {
    /// A file's bytes.
    public static let octetStream = "application/octet-stream"
    /// A listing, a batch report, health.
    public static let json = "application/json"
    /// A tus PATCH body.
    public static let tusOffset = "application/offset+octet-stream"
    /// A batch of small files (``Batch``).
    public static var batch: String { Batch.mediaType }
    /// An error (``Problem``, RFC 9457).
    public static var problem: String { Problem.mediaType }
}

/// What Ferry speaks of tus (https://tus.io/protocols/resumable-upload).
public enum TusProtocol {
    public static let version = "1.0.0"
    public static let extensions = ["creation", "creation-with-upload", "termination", "checksum", "expiration"]
    /// `Upload-Checksum` algorithms, per PATCH.
    public static let checksumAlgorithms = ["sha1", "sha256"]
    /// `Upload-Metadata` keys Ferry reads: the target path and the whole file's SHA-256 (hex).
    public static let pathKey = "path"
    public static let sha256Key = "sha256"
    /// Where `path` is missing, the name tus-js-client and Uppy send.
    public static let filenameKey = "filename"
}
