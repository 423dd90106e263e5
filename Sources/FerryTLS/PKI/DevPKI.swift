public import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The dev PKI that `ferry certs init` and a config-less `ferry serve` create: a CA, a server certificate and
/// client certificates, as PEM files in one folder.
///
/// Layout: `ca.pem`, `ca-key.pem`, `server.pem`, `server-key.pem`, `clients/<name>.pem`,
/// `clients/<name>-key.pem`. Keys are written with mode 0600.
public struct DevPKI: Sendable {
    /// The folder holding the files.
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    /// The default folder, relative to the working directory.
    public static let defaultDirectory = ".ferry/pki"
    /// The client made when no client name is given.
    public static let defaultClient = "dev"

    public var caCertificate: String { directory + "/ca.pem" }
    public var caKey: String { directory + "/ca-key.pem" }
    public var serverCertificate: String { directory + "/server.pem" }
    public var serverKey: String { directory + "/server-key.pem" }
    public func clientCertificate(_ name: String) -> String { directory + "/clients/\(name).pem" }
    public func clientKey(_ name: String) -> String { directory + "/clients/\(name)-key.pem" }

    /// Whether the CA and server files exist.
    public var exists: Bool {
        [caCertificate, caKey, serverCertificate, serverKey].allSatisfy { FileManager.default.fileExists(atPath: $0) }
    }

    /// The client names that have both a certificate and a key, sorted.
    public var clientNames: [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory + "/clients")) ?? []
        return files.filter { $0.hasSuffix(".pem") && !$0.hasSuffix("-key.pem") }
            .map { String($0.dropLast(4)) }
            .filter { FileManager.default.fileExists(atPath: clientKey($0)) }
            .sorted()
    }

    /// Creates the PKI. Refuses to overwrite any existing file unless `force` is set.
    ///
    /// - Returns: the paths written.
    @discardableResult
    public func create(
        serverNames: [String] = [],
        clients: [String] = [DevPKI.defaultClient],
        force: Bool = false
    )
        throws -> [String]
    {
        for client in clients where !Self.isValidName(client) {
            throw PKIError("client name '\(client)' is not usable: use letters, digits, '.', '-' or '_'")
        }
        var targets = [caCertificate, caKey, serverCertificate, serverKey]
        for client in clients {
            targets += [clientCertificate(client), clientKey(client)]
        }
        if !force {
            let existing = targets.filter { FileManager.default.fileExists(atPath: $0) }
            if !existing.isEmpty {
                throw PKIError(
                    "refusing to overwrite \(existing.joined(separator: ", ")); pass --force to replace them"
                )
            }
        }
        try FileManager.default.createDirectory(atPath: directory + "/clients", withIntermediateDirectories: true)
        let ca = try CertificateAuthority(commonName: "Ferry Dev CA")
        let dnsNames = ["localhost"] + serverNames.filter { IPAddressBytes.parse($0) == nil }
        let ipAddresses = ["127.0.0.1", "::1"] + serverNames.filter { IPAddressBytes.parse($0) != nil }
        let server = try ca.issue(
            commonName: serverNames.first ?? "localhost",
            purpose: .server,
            dnsNames: dnsNames,
            ipAddresses: ipAddresses
        )
        try Self.write(try ca.certificatePEM, to: caCertificate, secret: false)
        try Self.write(ca.privateKeyPEM, to: caKey, secret: true)
        try Self.write(try server.certificatePEM, to: serverCertificate, secret: false)
        try Self.write(server.privateKeyPEM, to: serverKey, secret: true)
        for client in clients {
            let identity = try ca.issue(commonName: client, purpose: .client)
            try Self.write(try identity.certificatePEM, to: clientCertificate(client), secret: false)
            try Self.write(identity.privateKeyPEM, to: clientKey(client), secret: true)
        }
        return targets
    }

    /// Partner and file names usable in certificates and folder names.
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 64 && !name.hasPrefix(".")
            && name.unicodeScalars.allSatisfy {
                $0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0)
            }
    }

    /// Writes a file, creating it with mode 0600 for secrets (never briefly readable by others).
    static func write(_ text: String, to path: String, secret: Bool) throws {
        let mode: mode_t = secret ? 0o600 : 0o644
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else {
            throw PKIError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        if secret { fchmod(fd, mode) }
        let bytes = Array(text.utf8)
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw PKIError("cannot write \(path): \(String(cString: strerror(errno)))") }
            written += n
        }
    }
}
