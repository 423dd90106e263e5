public import FerryTLS
public import Foundation
public import X509

/// A PKI made in code for tests, written to a temporary folder: a CA with a server certificate and client
/// certificates, plus a second, untrusted CA with its own client.
public struct TestPKI: Sendable {
    public let directory: String
    public let ca: CertificateAuthority
    public let otherCA: CertificateAuthority

    /// Path of the trusted CA certificate.
    public var caFile: String { directory + "/ca.pem" }
    public var otherCAFile: String { directory + "/other-ca.pem" }
    public var serverCertificate: String { directory + "/server.pem" }
    public var serverKey: String { directory + "/server-key.pem" }
    public func certificate(_ name: String) -> String { directory + "/\(name).pem" }
    public func key(_ name: String) -> String { directory + "/\(name)-key.pem" }

    /// Makes the PKI with clients `acme` and `bank` (trusted CA) and `intruder` (other CA).
    public init(directory: String, clients: [String] = ["acme", "bank"]) throws {
        self.directory = directory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        self.ca = try CertificateAuthority(commonName: "Ferry Test CA", organization: "Example")
        self.otherCA = try CertificateAuthority(commonName: "Other CA", organization: "Elsewhere")
        try write(ca.certificatePEM, "ca.pem")
        try write(otherCA.certificatePEM, "other-ca.pem")
        let server = try ca.issue(
            commonName: "localhost",
            purpose: .server,
            dnsNames: ["localhost"],
            ipAddresses: ["127.0.0.1", "::1"]
        )
        try write(server.certificatePEM, "server.pem")
        try write(server.privateKeyPEM, "server-key.pem")
        for client in clients {
            try issue(client, by: ca)
        }
        try issue("intruder", by: otherCA)
    }

    /// Issues a client certificate (or another kind, with `purpose` and `validFrom`) and writes it as NAME.pem.
    @discardableResult
    ///
    /// `file` names the files when they should differ from the CN (two certificates with one CN from two CAs).
    public func issue(
        _ name: String,
        by authority: CertificateAuthority? = nil,
        purpose: CertificateAuthority.Purpose = .client,
        organization: String = "Ferry",
        file: String? = nil,
        validFrom: Date = .now,
        days: Int = 30,
        extendedKeyUsage: [ExtendedKeyUsage.Usage]? = nil
    ) throws -> IssuedIdentity {
        let identity = try (authority ?? ca).issue(
            commonName: name,
            purpose: purpose,
            organization: organization,
            dnsNames: purpose == .server ? ["localhost"] : [],
            ipAddresses: purpose == .server ? ["127.0.0.1"] : [],
            validFrom: validFrom,
            days: days,
            extendedKeyUsage: extendedKeyUsage
        )
        try write(identity.certificatePEM, "\(file ?? name).pem")
        try write(identity.privateKeyPEM, "\(file ?? name)-key.pem")
        return identity
    }

    /// The client profile of a named client, trusting the test CA.
    public func clientProfile(_ name: String) -> ClientTLSProfile {
        ClientTLSProfile(certificate: certificate(name), privateKey: key(name), trustedCAs: [caFile])
    }

    /// The server profile, trusting the test CA for client certificates.
    public var serverProfile: ServerTLSProfile {
        ServerTLSProfile(certificate: serverCertificate, privateKey: serverKey, trustedCAs: [caFile])
    }

    /// Writes a PEM file (e.g. a certificate followed by its intermediate) into the PKI folder; returns its path.
    @discardableResult
    public func write(pem text: String, to name: String) throws -> String {
        try write(text, name)
        return directory + "/" + name
    }

    private func write(_ text: String, _ name: String) throws {
        try text.write(toFile: directory + "/" + name, atomically: true, encoding: .utf8)
    }
}
