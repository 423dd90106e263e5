import FerryClient
import FerryConfig
import FerryTLS
import FerryTestSupport
import Foundation
import Testing

/// The fix for the incident, checked with OpenSSL's own decoder: Ferry's CertificateRequest names the CAs it
/// trusts, in TLS 1.2 (the certificate_authorities list) and TLS 1.3 (the certificate_authorities extension).
@Suite("CA names in the CertificateRequest, seen by openssl s_client", .serialized)
struct CANamesIntegrationTests {
    static let hint = "apt-get install openssl"

    func handshake(_ server: TestServerHarness, version: String) async throws -> String {
        let openssl = try ExternalTool.require("openssl", installHint: Self.hint)
        let outcome = try await ExternalTool.run(
            openssl,
            [
                "s_client", "-connect", "127.0.0.1:\(server.port)", version, "-trace", "-servername", "localhost",
                "-cert", server.pki.certificate("acme"), "-key", server.pki.key("acme"), "-CAfile", server.pki.caFile,
            ],
            input: "",
            timeout: 30
        )
        return outcome.output
    }

    @Test("TLS 1.2: a non-empty certificate_authorities list naming the CA")
    func tls12() async throws {
        try await TestServerHarness.with { server in
            let trace = try await handshake(server, version: "-tls1_2")
            let lines = trace.components(separatedBy: "\n")
            let index = try #require(
                lines.firstIndex { $0.contains("certificate_authorities (len=") },
                "no CertificateRequest CA list in:\n\(trace)"
            )
            #expect(!lines[index].contains("(len=0)"))
            #expect(lines[index + 1].contains("DistinguishedName"))
            #expect(lines[index + 1].contains("CN = Ferry Test CA"))
            #expect(trace.contains("Verification: OK") || trace.contains("Verify return code: 0 (ok)"))
        }
    }

    @Test("TLS 1.3: the certificate_authorities extension carries the CA's name")
    func tls13() async throws {
        try await TestServerHarness.with { server in
            let trace = try await handshake(server, version: "-tls1_3")
            let lines = trace.components(separatedBy: "\n")
            let index = try #require(
                lines.firstIndex { $0.contains("extension_type=certificate_authorities(47)") },
                "no extension 47 in:\n\(trace)"
            )
            // The extension is printed as a hex dump: collect its bytes and look for the CA's common name.
            var bytes: [UInt8] = []
            for line in lines[(index + 1)...] {
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                guard trimmed.count > 7, trimmed.dropFirst(4).hasPrefix(" - ") else { break }
                let hex = trimmed.dropFirst(7).prefix(48).replacingOccurrences(of: "-", with: " ")
                bytes += hex.split(separator: " ").compactMap { UInt8($0, radix: 16) }
            }
            #expect(bytes.count > 4)
            let name = Array("Ferry Test CA".utf8)
            let found = bytes.indices.contains { start in
                start + name.count <= bytes.count && Array(bytes[start..<(start + name.count)]) == name
            }
            #expect(found, "extension bytes \(bytes) lack the CA name")
        }
    }

    @Test("CA rotation: every trusted CA file is named")
    func severalCAs() async throws {
        try await TestServerHarness.with(configure: { configuration, pki in
            configuration.serverTLS?.trustedCAs = [pki.caFile, pki.otherCAFile]
            // The old and the new root of one organisation: both may name partners by CN while they rotate.
            configuration.commonNameCAs = [pki.caFile, pki.otherCAFile]
        }) { server in
            let trace = try await handshake(server, version: "-tls1_2")
            #expect(trace.contains("CN = Ferry Test CA"))
            #expect(trace.contains("CN = Other CA"))
            // Both roots are trusted at once: a client of each is let in.
            for client in ["acme", "intruder"] {
                _ = try await server.client(client).list(try server.target(""))
            }
        }
    }
}
