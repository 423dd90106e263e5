public import Foundation
public import NIOSSL
import SwiftASN1
public import X509

/// Loads certificates and keys from PEM files and checks them before any connection uses them.
public enum CertificateFiles {
    /// Reads a whole (small) PEM file, with an error that names the file.
    static func readText(_ path: String, what: String) throws(TLSSetupError) -> String {
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            guard let text = String(data: data, encoding: .utf8) else {
                throw TLSSetupError(
                    .notPEM,
                    subject: path,
                    problem: "the \(what) is not a text (PEM) file",
                    fix: "convert it to PEM, e.g. `openssl x509 -inform der -in FILE -out FILE.pem`"
                )
            }
            return text
        } catch let error as TLSSetupError {
            throw error
        } catch {
            let exists = FileManager.default.fileExists(atPath: path)
            throw TLSSetupError(
                .unreadable,
                subject: path,
                problem: exists ? "the \(what) cannot be read (permissions?)" : "the \(what) does not exist",
                fix: exists
                    ? "make it readable by the user running ferry"
                    : "check the path, or create a dev PKI with `ferry certs init`"
            )
        }
    }

    /// Parses every certificate in a PEM file (a chain or a CA bundle).
    public static func loadCertificates(
        _ path: String,
        what: String = "certificate file"
    ) throws(TLSSetupError) -> [Certificate] {
        try parseCertificates(readText(path, what: what), path: path, what: what)
    }

    /// A library's error in words for a person: without the source file and line some libraries append
    /// (`SwiftASN1/PEMDocument.swift:211`).
    static func plain(_ error: any Error) -> String {
        String(describing: error).replacingOccurrences(of: #"\s*\S+\.swift:\d+"#, with: "", options: .regularExpression)
    }

    /// The certificates of a PEM file's text, as swift-certificates sees them.
    static func parseCertificates(_ text: String, path: String, what: String) throws(TLSSetupError) -> [Certificate] {
        var certificates: [Certificate] = []
        do {
            for document in try PEMDocument.parseMultiple(pemString: text) where document.discriminator == "CERTIFICATE"
            {
                certificates.append(try Certificate(pemDocument: document))
            }
        } catch {
            throw TLSSetupError(
                .notPEM,
                subject: path,
                problem: "the \(what) holds a malformed certificate (\(Self.plain(error)))",
                fix: "replace it with a valid PEM certificate"
            )
        }
        if certificates.isEmpty {
            throw TLSSetupError(
                .noCertificates,
                subject: path,
                problem: "the \(what) holds no PEM certificate",
                fix: "put one or more '-----BEGIN CERTIFICATE-----' blocks in it"
            )
        }
        return certificates
    }

    /// Loads a certificate chain and its private key (decrypting it with the pass phrase when it is encrypted)
    /// and checks that they belong together, are valid now and carry the extended key usage the role needs.
    public static func loadIdentity(
        certificate: String,
        key: String,
        passphrase: PassphraseSource? = nil,
        role: CertificateAuthority.Purpose,
        now: Date = .now,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(TLSSetupError) -> TLSIdentity {
        let chainText = try readText(certificate, what: "certificate")
        let chain = try parseCertificates(chainText, path: certificate, what: "certificate")
        let (privateKey, nioKey) = try loadPrivateKey(
            key,
            passphrase: passphrase,
            certificate: certificate,
            environment: environment
        )
        let leaf = chain[0]
        if privateKey.publicKey != leaf.publicKey {
            throw TLSSetupError(
                .keyMismatch,
                subject: key,
                problem: "this private key does not belong to the certificate \(certificate) (subject \(leaf.subject))",
                fix: "use the key that was generated with that certificate, or reissue the certificate for this key"
            )
        }
        try checkValidity(leaf, file: certificate, now: now)
        try checkUsage(leaf, file: certificate, role: role)
        let nioChain: [NIOSSLCertificate]
        do {
            nioChain = try NIOSSLCertificate.fromPEMBytes(Array(chainText.utf8))
        } catch {
            throw TLSSetupError(
                .notPEM,
                subject: certificate,
                problem: "BoringSSL cannot load this certificate or key (\(Self.plain(error)))",
                fix: "check that both are PEM and of a supported key type (P-256, P-384, RSA)"
            )
        }
        return TLSIdentity(chain: nioChain, privateKey: nioKey, leaf: leaf, certificatePath: certificate, keyPath: key)
    }

    /// Reads a PEM private key, decrypting it when it is encrypted, as BoringSSL and swift-certificates see it.
    public static func loadPrivateKey(
        _ key: String,
        passphrase: PassphraseSource?,
        certificate: String,
        environment: [String: String]
    )
        throws(TLSSetupError) -> (Certificate.PrivateKey, NIOSSLPrivateKey)
    {
        let keyText = try readText(key, what: "private key")
        let encrypted = keyText.contains("ENCRYPTED")
        guard encrypted else {
            do {
                return (
                    try Certificate.PrivateKey(pemEncoded: keyText),
                    try NIOSSLPrivateKey(bytes: Array(keyText.utf8), format: .pem)
                )
            } catch {
                throw TLSSetupError(
                    .notPEM,
                    subject: key,
                    problem: "the file holds no usable private key (\(Self.plain(error)))",
                    fix: "point to the PEM key that belongs to \(certificate)"
                )
            }
        }
        guard let passphrase else {
            throw TLSSetupError(
                .wrongPassphrase,
                subject: key,
                problem: "the private key is encrypted and no pass phrase is configured",
                fix:
                    "set key-passphrase-env (an environment variable), key-passphrase-file or key-passphrase for this profile ([PASSWORD] in a configssl.cnf)"
            )
        }
        let secret = try passphrase.resolve(environment: environment)
        let nioKey: NIOSSLPrivateKey
        do {
            nioKey = try NIOSSLPrivateKey(bytes: Array(keyText.utf8), format: .pem) {
                (setter: NIOSSLPassphraseSetter<[UInt8]>) in setter(secret)
            }
        } catch {
            throw TLSSetupError(
                .wrongPassphrase,
                subject: key,
                problem: "\(passphrase) does not decrypt this private key",
                fix:
                    "check the pass phrase (a '$' in it must be written '\\$' in a configssl.cnf), or re-export the key: `openssl pkey -in KEY -out NEW -aes256`"
            )
        }
        // BoringSSL writes the decrypted key in its traditional form: SEC1 for EC keys, PKCS#1 for RSA.
        guard let der = try? nioKey.derBytes else {
            throw TLSSetupError(
                .notPEM,
                subject: key,
                problem: "the decrypted private key cannot be read back",
                fix: "re-export it as PKCS#8: `openssl pkcs8 -topk8 -in KEY -out NEW`"
            )
        }
        for type in ["EC PRIVATE KEY", "RSA PRIVATE KEY", "PRIVATE KEY"] {
            if let parsed = try? Certificate.PrivateKey(pemDocument: PEMDocument(type: type, derBytes: der)) {
                return (parsed, nioKey)
            }
        }
        throw TLSSetupError(
            .notPEM,
            subject: key,
            problem: "the decrypted private key is of a type Ferry does not support",
            fix: "use a P-256, P-384 or RSA key"
        )
    }

    /// Loads trusted CA certificates from several PEM files, each read once; all of them are trusted and, on a
    /// server, all of their names are sent in the CertificateRequest.
    public static func loadTrustRoots(_ paths: [String]) throws(TLSSetupError) -> TrustRoots {
        var roots = TrustRoots(files: paths)
        for path in paths {
            let text = try readText(path, what: "CA file")
            roots.certificates += try parseCertificates(text, path: path, what: "CA file").map { (path, $0) }
            do {
                roots.nio += try NIOSSLCertificate.fromPEMBytes(Array(text.utf8))
            } catch {
                throw TLSSetupError(
                    .notPEM,
                    subject: path,
                    problem: "BoringSSL cannot load this CA file (\(Self.plain(error)))",
                    fix: "use a PEM file of CA certificates"
                )
            }
        }
        return roots
    }

    /// Whether a certificate may issue others (basicConstraints cA=TRUE).
    public static func isCA(_ certificate: Certificate) -> Bool {
        guard case .isCertificateAuthority = try? certificate.extensions.basicConstraints else { return false }
        return true
    }

    public static func checkValidity(_ certificate: Certificate, file: String, now: Date) throws(TLSSetupError) {
        if certificate.notValidAfter < now {
            throw TLSSetupError(
                .expired,
                subject: file,
                problem: "the certificate for \(certificate.subject) expired on \(certificate.notValidAfter)",
                fix: "renew it (for a dev PKI: `ferry certs init --force`)"
            )
        }
        if certificate.notValidBefore > now {
            throw TLSSetupError(
                .notYetValid,
                subject: file,
                problem: "the certificate for \(certificate.subject) is not valid before \(certificate.notValidBefore)",
                fix: "check this machine's clock, or wait until the certificate becomes valid"
            )
        }
    }

    public static func checkUsage(
        _ certificate: Certificate,
        file: String,
        role: CertificateAuthority.Purpose
    ) throws(TLSSetupError) {
        if let keyUsage = try? certificate.extensions.keyUsage, !keyUsage.digitalSignature {
            let isCA = isCA(certificate)
            throw TLSSetupError(
                .wrongUsage,
                subject: file,
                problem: "the certificate's key usage lacks digitalSignature, so it cannot sign a TLS handshake"
                    + (isCA
                        ? " (this is a CA certificate, not a \(role == .server ? "server" : "client") certificate)"
                        : ""),
                fix:
                    "use a \(role == .server ? "server" : "client") certificate issued by the CA, e.g. one made by `ferry certs init`"
            )
        }
        guard let eku = try? certificate.extensions.extendedKeyUsage else { return }
        let needed: ExtendedKeyUsage.Usage = role == .server ? .serverAuth : .clientAuth
        if !eku.contains(needed) && !eku.contains(.any) {
            let label = role == .server ? "serverAuth" : "clientAuth"
            throw TLSSetupError(
                .wrongUsage,
                subject: file,
                problem: "the certificate's extended key usage lacks \(label), so peers will refuse it",
                fix: "issue a certificate with EKU \(label) for this side"
            )
        }
    }
}

/// Trusted CA certificates as BoringSSL and swift-certificates see them, with the files they came from.
public struct TrustRoots: Sendable {
    public let files: [String]
    public var nio: [NIOSSLCertificate] = []
    public var certificates: [(file: String, certificate: Certificate)] = []

    /// No trusted CA: the system's store on a client, nothing on a server.
    public static let none = TrustRoots(files: [])
}

/// A loaded certificate chain with its private key.
public struct TLSIdentity: Sendable {
    public let chain: [NIOSSLCertificate]
    public let privateKey: NIOSSLPrivateKey
    /// The leaf, parsed with swift-certificates for checks and display.
    public let leaf: Certificate
    public let certificatePath: String
    public let keyPath: String
}

extension TLSIdentity {
    /// The certificates after the leaf (its intermediates), parsed.
    public var intermediates: [Certificate] {
        chain.dropFirst().compactMap { certificate in
            (try? certificate.toDERBytes()).flatMap { try? Certificate(derEncoded: $0) }
        }
    }
}
