public import Foundation

/// An access key for an S3-compatible store: from the standard `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` (and
/// `AWS_SESSION_TOKEN`) variables, or from a shared credentials file (`aws_access_key_id = ...` under `[PROFILE]`).
public struct ObjectStoreCredentials: Sendable, CustomStringConvertible {
    public let accessKeyID: String
    public let secretAccessKey: String
    public let sessionToken: String?

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
    }

    /// Never the secret.
    public var description: String { "access key \(accessKeyID)" }

    /// From the environment; nil when neither variable is set, an error when only one is.
    public static func fromEnvironment(_ environment: [String: String]) throws -> ObjectStoreCredentials? {
        let id = environment["AWS_ACCESS_KEY_ID"].flatMap { $0.isEmpty ? nil : $0 }
        let secret = environment["AWS_SECRET_ACCESS_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        switch (id, secret) {
        case (nil, nil): return nil
        case (let id?, let secret?):
            return ObjectStoreCredentials(
                accessKeyID: id,
                secretAccessKey: secret,
                sessionToken: environment["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
            )
        default:
            throw ObjectStoreError(
                "only one of AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY is set: set both, or neither and name a credentials file"
            )
        }
    }

    /// From a shared credentials file (the INI form of `~/.aws/credentials`).
    public static func fromFile(_ path: String, profile: String = "default") throws -> ObjectStoreCredentials {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ObjectStoreError("cannot read the credentials file \(path): \(error.localizedDescription)")
        }
        var section = ""
        var values: [String: String] = [:]
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("["), line.hasSuffix("]") {
                section = String(line.dropFirst().dropLast()).trimmingCharacters(in: .whitespaces)
                continue
            }
            guard section == profile, let equals = line.firstIndex(of: "=") else { continue }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            values[key] = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
        }
        guard let id = values["aws_access_key_id"], !id.isEmpty,
            let secret = values["aws_secret_access_key"], !secret.isEmpty
        else {
            throw ObjectStoreError(
                "the credentials file \(path) has no aws_access_key_id and aws_secret_access_key under [\(profile)]"
            )
        }
        return ObjectStoreCredentials(
            accessKeyID: id,
            secretAccessKey: secret,
            sessionToken: values["aws_session_token"]
        )
    }
}

/// A failure talking to the object store, with what to do about it.
public struct ObjectStoreError: Error, CustomStringConvertible, Sendable {
    public let description: String
    /// The HTTP status the store answered with (nil when it did not answer).
    public let status: Int?
    /// The store's error code (`NoSuchKey`, `NoSuchUpload`, `SignatureDoesNotMatch`, ...).
    public let code: String?

    public init(_ description: String, status: Int? = nil, code: String? = nil) {
        self.description = description
        self.status = status
        self.code = code
    }
}
