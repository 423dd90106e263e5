import FerryTestSupport
import FerryWire
import Foundation
import Testing

/// Certificates a partner may present whose key swift-certificates does not read: the summary still names the
/// subject, the issuer and the key, so traces and findings can say what it is.
@Suite("Certificate summaries for every key type")
struct CertificateSummaryTests {
    @Test(
        "RSASSA-PSS, Ed448, DSA, brainpool and secp256k1 keys, and an RSASSA-PSS signature, are named; fields decoded around them; the DER kept as sent"
    )
    func unsupportedKeys() async throws {
        let openssl = try ExternalTool.require("openssl", installHint: "apt-get install openssl")
        try await TemporaryDirectory.with("ferry-summary") { folder in
            let cases: [(options: [String], key: String)] = [
                (["-newkey", "rsa-pss", "-pkeyopt", "rsa_keygen_bits:2048"], "RSA-PSS"),
                (["-newkey", "ed448"], "Ed448"),
                (["-newkey", "dsa:dsa.params"], "DSA"),
                (["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:brainpoolP256r1"], "ECDSA brainpoolP256r1"),
                (["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:secp256k1"], "ECDSA secp256k1"),
                (["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"], "ECDSA P-384"),
                (["-newkey", "rsa:2048"], "RSA"),
                // An rsaEncryption key, signed with RSASSA-PSS (swift-certificates does not read that signature).
                (["-newkey", "rsa:2048", "-sigopt", "rsa_padding_mode:pss"], "RSA"),
            ]
            let params = try await ExternalTool.run(
                openssl,
                ["dsaparam", "-out", "dsa.params", "2048"],
                directory: folder.path
            )
            #expect(params.status == 0, "\(params.output)")
            for (index, item) in cases.enumerated() {
                let made = try await ExternalTool.run(
                    openssl,
                    ["req", "-x509"] + item.options + [
                        "-nodes", "-keyout", "k\(index).key", "-out", "c\(index).pem", "-outform", "DER", "-subj",
                        "/CN=partner \(index)/O=Mainframe", "-days", "3", "-addext",
                        "subjectAltName=DNS:host\(index).example",
                    ],
                    directory: folder.path
                )
                #expect(made.status == 0, "\(made.output)")
                let der = try [UInt8](Data(contentsOf: URL(fileURLWithPath: folder.path + "/c\(index).pem")))
                let summary: TLSCertificateSummary
                do { summary = try TLSCertificateSummary(der: der) } catch {
                    Issue.record("\(item.key): \(error)")
                    continue
                }
                #expect(summary.publicKey == item.key)
                #expect(
                    summary.subject.contains("CN=partner \(index)") && summary.subject.contains("O=Mainframe"),
                    "\(summary.subject)"
                )
                #expect(summary.issuer == summary.subject)
                #expect(summary.subjectAlternativeNames == ["DNS:host\(index).example"])
                #expect(summary.der == der, "the summary keeps the certificate as sent")
            }
            // Not a certificate at all: still an error.
            #expect(throws: (any Error).self) { try TLSCertificateSummary(der: [0x30, 0x03, 0x02, 0x01, 0x00]) }
            // A crafted certificate whose key's AlgorithmIdentifier is empty: an error, not a read past its end.
            let empty: [UInt8] = [0x30, 0x00]
            let spki: [UInt8] = [0x30, 0x05] + empty + [0x03, 0x01, 0x00]
            let tbs: [UInt8] = [0x02, 0x01, 0x01] + empty + empty + empty + empty + spki
            let crafted: [UInt8] =
                [0x30, UInt8(tbs.count + 2 + 2 + 3)] + [0x30, UInt8(tbs.count)] + tbs + empty + [0x03, 0x01, 0x00]
            #expect(throws: (any Error).self) { try TLSCertificateSummary(der: crafted) }
        }
    }
}
