public import Foundation
public import NIOSSL
public import X509
import SwiftASN1

/// Loads certificates and keys from PEM files and checks them before any connection uses them.
public enum CertificateFiles {
    /// Reads a whole (small) PEM file, with an error that names the file.
    static func readText(_ path: String, what: String) throws(TLSSetupError) -> String {
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            guard let text = String(data: data, encoding: .utf8) else {
                throw TLSSetupError(.notPEM, subject: path, problem: "the \(what) is not a text (PEM) file", fix: "convert it to PEM, e.g. `openssl x509 -inform der -in FILE -out FILE.pem`")
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
                fix: exists ? "make it readable by the user running ferry" : "check the path, or create a dev PKI with `ferry certs init`"
            )
        }
    }

    /// Parses every certificate in a PEM file (a chain or a CA bundle).
    public static func loadCertificates(_ path: String, what: String = "certificate file") throws(TLSSetupError) -> [Certificate] {
        let text = try readText(path, what: what)
        var certificates: [Certificate] = []
        do {
            for document in try PEMDocument.parseMultiple(pemString: text) where document.discriminator == "CERTIFICATE" {
                certificates.append(try Certificate(pemDocument: document))
            }
        } catch {
            throw TLSSetupError(.notPEM, subject: path, problem: "the \(what) holds a malformed certificate (\(error))", fix: "replace it with a valid PEM certificate")
        }
        if certificates.isEmpty {
            throw TLSSetupError(.noCertificates, subject: path, problem: "the \(what) holds no PEM certificate", fix: "put one or more '-----BEGIN CERTIFICATE-----' blocks in it")
        }
        return certificates
    }

    /// Loads a certificate chain and its private key and checks that they belong together, are valid now and
    /// carry the extended key usage the role needs.
    public static func loadIdentity(certificate: String, key: String, role: CertificateAuthority.Purpose, now: Date = .now)
        throws(TLSSetupError) -> TLSIdentity
    {
        let chain = try loadCertificates(certificate, what: "certificate")
        let keyText = try readText(key, what: "private key")
        let privateKey: Certificate.PrivateKey
        do {
            privateKey = try Certificate.PrivateKey(pemEncoded: keyText)
        } catch {
            let encrypted = keyText.contains("ENCRYPTED")
            throw TLSSetupError(
                .notPEM,
                subject: key,
                problem: encrypted ? "the private key is encrypted with a pass phrase" : "the file holds no usable private key (\(error))",
                fix: encrypted ? "store it unencrypted with mode 0600 (`openssl pkey -in KEY -out KEY.plain`)" : "point to the PEM key that belongs to \(certificate)"
            )
        }
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
        let nioKey: NIOSSLPrivateKey
        do {
            nioChain = try NIOSSLCertificate.fromPEMBytes(Array(readText(certificate, what: "certificate").utf8))
            nioKey = try NIOSSLPrivateKey(bytes: Array(keyText.utf8), format: .pem)
        } catch {
            throw TLSSetupError(.notPEM, subject: certificate, problem: "BoringSSL cannot load this certificate or key (\(error))", fix: "check that both are PEM and of a supported key type (P-256, P-384, RSA)")
        }
        return TLSIdentity(chain: nioChain, privateKey: nioKey, leaf: leaf, certificatePath: certificate, keyPath: key)
    }

    /// Loads trusted CA certificates from several PEM files; all of them are trusted and, on a server, all of
    /// their names are sent in the CertificateRequest.
    public static func loadTrustRoots(_ paths: [String]) throws(TLSSetupError) -> [NIOSSLCertificate] {
        var roots: [NIOSSLCertificate] = []
        for path in paths {
            _ = try loadCertificates(path, what: "CA file")
            do {
                roots += try NIOSSLCertificate.fromPEMBytes(Array(readText(path, what: "CA file").utf8))
            } catch {
                throw TLSSetupError(.notPEM, subject: path, problem: "BoringSSL cannot load this CA file (\(error))", fix: "use a PEM file of CA certificates")
            }
        }
        return roots
    }

    static func checkValidity(_ certificate: Certificate, file: String, now: Date) throws(TLSSetupError) {
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

    static func checkUsage(_ certificate: Certificate, file: String, role: CertificateAuthority.Purpose) throws(TLSSetupError) {
        if let keyUsage = try? certificate.extensions.keyUsage, !keyUsage.digitalSignature {
            let isCA = (try? certificate.extensions.basicConstraints).map { if case .isCertificateAuthority = $0 { true } else { false } } ?? false
            throw TLSSetupError(
                .wrongUsage,
                subject: file,
                problem: "the certificate's key usage lacks digitalSignature, so it cannot sign a TLS handshake" + (isCA ? " (this is a CA certificate, not a \(role == .server ? "server" : "client") certificate)" : ""),
                fix: "use a \(role == .server ? "server" : "client") certificate issued by the CA, e.g. one made by `ferry certs init`"
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

/// A loaded certificate chain with its private key.
public struct TLSIdentity: Sendable {
    public let chain: [NIOSSLCertificate]
    public let privateKey: NIOSSLPrivateKey
    /// The leaf, parsed with swift-certificates for checks and display.
    public let leaf: Certificate
    public let certificatePath: String
    public let keyPath: String
}
