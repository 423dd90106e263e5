import Foundation

/// The durable state of one resumable upload, kept beside its part file as `<id>.json`.
///
/// `offset` is the acknowledged offset: the part file has been fsynced up to it before it was written here, so
/// after a crash the part file is cut back to it and the upload continues from there.
struct UploadRecord: Codable, Sendable, Equatable {
    var id: String
    /// The partner that created the upload; only it may see or change it.
    var partner: String
    /// The target in the partner's view (plain, `/`-separated).
    var path: String
    var length: Int64
    var offset: Int64
    /// The declared SHA-256 (hex) of the whole file, from `Upload-Metadata: sha256`.
    var sha256: String?
    /// The `Upload-Metadata` header as received, echoed on HEAD.
    var metadata: String
    var created: Date
    var lastActivity: Date
}
