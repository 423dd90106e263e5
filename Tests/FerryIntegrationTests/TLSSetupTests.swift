import FerryTLS
import FerryTestSupport
import Foundation
import NIOSSL
import SwiftASN1
import Testing
import X509

@Suite("TLS files are checked at load time")
struct TLSSetupTests {
    func expectSetupError(_ code: String, containing text: String, _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("expected \(code)")
        } catch let error as TLSSetupError {
            #expect(error.shortDescription == code)
            #expect(error.description.contains(text), "got: \(error)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test("a good server profile sends CA names from explicit trust roots")
    func goodProfile() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let pki = try TestPKI(directory: folder.path)
        let resolved = try pki.serverProfile.makeConfiguration()
        #expect(resolved.configuration.sendCANameList)
        #expect(resolved.configuration.minimumTLSVersion == .tlsv12)
        #expect(resolved.warnings.isEmpty)
        guard case .certificates(let roots) = resolved.configuration.trustRoots else {
            Issue.record("trust roots must be explicit certificates, or no CA names are sent")
            return
        }
        #expect(roots.count == 1)
    }

    @Test("loosened settings come with warnings that state the risk")
    func warnings() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let pki = try TestPKI(directory: folder.path)
        var profile = pki.serverProfile
        profile.minimumVersion = .tlsv1
        profile.sendCANames = false
        let resolved = try profile.makeConfiguration()
        #expect(resolved.warnings.count == 2)
        #expect(resolved.warnings.contains { $0.contains("RFC 8996") })
        #expect(resolved.warnings.contains { $0.contains("IBM System SSL") })
        #expect(resolved.configuration.sendCANameList == false)
    }

    @Test("missing files, mismatched keys, expired and wrong-purpose certificates are refused")
    func refusals() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let pki = try TestPKI(directory: folder.path)
        expectSetupError("file-unreadable", containing: "does not exist") {
            _ = try ServerTLSProfile(
                certificate: folder.path + "/nope.pem",
                privateKey: pki.serverKey,
                trustedCAs: [pki.caFile]
            ).makeConfiguration()
        }
        expectSetupError("key-certificate-mismatch", containing: "does not belong") {
            _ = try ServerTLSProfile(
                certificate: pki.serverCertificate,
                privateKey: pki.key("acme"),
                trustedCAs: [pki.caFile]
            ).makeConfiguration()
        }
        try pki.issue("old-server", purpose: .server, validFrom: Date(timeIntervalSinceNow: -86_400 * 60), days: 30)
        expectSetupError("certificate-expired", containing: "expired") {
            _ = try ServerTLSProfile(
                certificate: pki.certificate("old-server"),
                privateKey: pki.key("old-server"),
                trustedCAs: [pki.caFile]
            ).makeConfiguration()
        }
        try pki.issue("future", purpose: .server, validFrom: Date(timeIntervalSinceNow: 86_400 * 10))
        expectSetupError("certificate-not-yet-valid", containing: "not valid before") {
            _ = try ServerTLSProfile(
                certificate: pki.certificate("future"),
                privateKey: pki.key("future"),
                trustedCAs: [pki.caFile]
            ).makeConfiguration()
        }
        expectSetupError("certificate-wrong-eku", containing: "serverAuth") {
            _ = try ServerTLSProfile(
                certificate: pki.certificate("acme"),
                privateKey: pki.key("acme"),
                trustedCAs: [pki.caFile]
            ).makeConfiguration()
        }
        expectSetupError("certificate-wrong-eku", containing: "clientAuth") {
            _ = try ClientTLSProfile(certificate: pki.serverCertificate, privateKey: pki.serverKey, trustedCAs: [])
                .makeConfiguration()
        }
        try "not a certificate".write(toFile: folder.path + "/junk.pem", atomically: true, encoding: .utf8)
        expectSetupError("no-certificates", containing: "no PEM certificate") {
            _ = try ServerTLSProfile(
                certificate: pki.serverCertificate,
                privateKey: pki.serverKey,
                trustedCAs: [folder.path + "/junk.pem"]
            ).makeConfiguration()
        }
        // Bad base64 inside PEM markers: the library's reason, without the source file and line it appends.
        try "-----BEGIN CERTIFICATE-----\nMIIB!!\n-----END CERTIFICATE-----\n".write(
            toFile: folder.path + "/broken.pem",
            atomically: true,
            encoding: .utf8
        )
        expectSetupError("not-pem", containing: "broken.pem: the certificate holds a malformed certificate") {
            _ = try ClientTLSProfile(
                certificate: folder.path + "/broken.pem",
                privateKey: pki.key("acme"),
                trustedCAs: [pki.caFile]
            ).makeConfiguration()
        }
        do {
            _ = try ClientTLSProfile(
                certificate: folder.path + "/broken.pem",
                privateKey: pki.key("acme"),
                trustedCAs: [pki.caFile]
            ).makeConfiguration()
        } catch {
            #expect(!"\(error)".contains(".swift:"), "\(error)")
        }
        expectSetupError("incomplete-profile", containing: "no CA file") {
            _ = try ServerTLSProfile(certificate: pki.serverCertificate, privateKey: pki.serverKey, trustedCAs: [])
                .makeConfiguration()
        }
    }

    @Test("ferry certs init's PKI: right SANs, EKUs, key modes, and no silent overwrite")
    func devPKI() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let pki = DevPKI(directory: folder.path + "/pki")
        try pki.create(serverNames: ["files.example", "10.0.0.5"], clients: ["acme", "bank"])
        let server = try Certificate(pemEncoded: String(contentsOfFile: pki.serverCertificate, encoding: .utf8))
        let sans = try #require(try server.extensions.subjectAlternativeNames)
        let names = sans.map { "\($0)" }.joined(separator: " ")
        for expected in ["localhost", "files.example", "[127, 0, 0, 1]", "[10, 0, 0, 5]", "0, 0, 1])"] {
            #expect(names.contains(expected), "SANs \(names) lack \(expected)")
        }
        #expect(sans.count == 5)
        #expect(try server.extensions.extendedKeyUsage?.contains(.serverAuth) == true)
        let client = try Certificate(pemEncoded: String(contentsOfFile: pki.clientCertificate("acme"), encoding: .utf8))
        #expect(try client.extensions.extendedKeyUsage?.contains(.clientAuth) == true)
        #expect(client.subject.description.contains("CN=acme"))
        for key in [pki.caKey, pki.serverKey, pki.clientKey("acme")] {
            let attributes = try FileManager.default.attributesOfItem(atPath: key)
            #expect((attributes[.posixPermissions] as? Int) == 0o600, "\(key) must be 0600")
        }
        #expect(pki.clientNames == ["acme", "bank"])
        #expect(throws: PKIError.self) { try pki.create() }
        try pki.create(force: true)
        #expect(throws: PKIError.self) { try pki.create(clients: ["../evil"], force: true) }
        _ = try ServerTLSProfile.dev(pki).makeConfiguration()
        _ = try ClientTLSProfile.dev(pki, client: "acme").makeConfiguration()
    }
}
