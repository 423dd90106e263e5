import FerryTestSupport
import Foundation
import Testing

@testable import FerryWire

/// Triple DES for traces of 3DES suites: FIPS 46-3's worked example, and CBC decryption against OpenSSL's.
@Suite("Triple DES")
struct TripleDESTests {
    static func hex(_ text: String) -> [UInt8] {
        stride(from: 0, to: text.count, by: 2).map { UInt8(text.dropFirst($0).prefix(2), radix: 16)! }
    }

    @Test("DES: the classic worked example and its inverse; 3DES with three equal keys is single DES")
    func knownAnswers() {
        let des = DES(key: Self.hex("133457799BBCDFF1"))
        #expect(des.crypt(0x0123_4567_89AB_CDEF, decrypt: false) == 0x85E8_1354_0F0A_B405)
        #expect(des.crypt(0x85E8_1354_0F0A_B405, decrypt: true) == 0x0123_4567_89AB_CDEF)
        // NIST SP 800-67's sample key K1 = 0123456789ABCDEF: "Now is t" → 3FA40E8A984D4815.
        #expect(
            DES(key: Self.hex("0123456789ABCDEF")).crypt(0x4E6F_7720_6973_2074, decrypt: false) == 0x3FA4_0E8A_984D_4815
        )
        let triple = TripleDES(key: Self.hex("133457799BBCDFF1133457799BBCDFF1133457799BBCDFF1"))
        #expect(triple?.decrypt(block: 0x85E8_1354_0F0A_B405) == 0x0123_4567_89AB_CDEF)
        #expect(TripleDES(key: [1, 2, 3]) == nil)
    }

    @Test("3DES-CBC decrypts what openssl enc -des-ede3-cbc encrypted, 1 to 64 blocks")
    func againstOpenSSL() async throws {
        let openssl = try ExternalTool.require("openssl", installHint: "apt-get install openssl")
        try await TemporaryDirectory.with("ferry-3des") { folder in
            let key = (0..<24).map { _ in UInt8.random(in: 0...255) }
            let iv = (0..<8).map { _ in UInt8.random(in: 0...255) }
            for blocks in [1, 2, 7, 64] {
                let plain = (0..<(8 * blocks)).map { _ in UInt8.random(in: 0...255) }
                try Data(plain).write(to: URL(fileURLWithPath: folder.path + "/plain"))
                let hexKey = key.map { String(format: "%02x", $0) }.joined()
                let hexIV = iv.map { String(format: "%02x", $0) }.joined()
                let run = try await ExternalTool.run(
                    openssl,
                    ["enc", "-des-ede3-cbc", "-K", hexKey, "-iv", hexIV, "-nopad", "-in", "plain", "-out", "cipher"],
                    directory: folder.path
                )
                #expect(run.status == 0, "\(run.output)")
                let cipher = try [UInt8](Data(contentsOf: URL(fileURLWithPath: folder.path + "/cipher")))
                #expect(TripleDES(key: key)?.decryptCBC(cipher, iv: iv) == plain, "\(blocks) blocks")
            }
        }
    }
}
