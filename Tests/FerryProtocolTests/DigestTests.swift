import FerryProtocol
import Testing

@Suite("Repr-Digest headers")
struct DigestTests {
    // SHA-256 of "hello".
    let helloHex = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    let helloB64 = "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="

    @Test("a digest prints as hex, base64 and a Repr-Digest member")
    func formats() throws {
        let digest = try #require(FileDigest(hex: helloHex))
        #expect(digest.hex == helloHex)
        #expect(digest.base64 == helloB64)
        #expect(digest.reprDigestHeader == "sha-256=:\(helloB64):")
    }

    @Test("the sha-256 member is found among others")
    func parses() throws {
        let digest = try #require(FileDigest(hex: helloHex))
        #expect(try FileDigest.parse(reprDigest: "sha-256=:\(helloB64):") == digest)
        #expect(try FileDigest.parse(reprDigest: "sha-512=:AAAA:, sha-256=:\(helloB64):") == digest)
        #expect(try FileDigest.parse(reprDigest: "SHA-256 = :\(helloB64):") == digest)
        #expect(try FileDigest.parse(reprDigest: "sha-512=:AAAA:") == nil)
    }

    @Test(
        "a malformed sha-256 member is an error",
        arguments: ["sha-256=abc", "sha-256=:not base64!:", "sha-256=:AAAA:", "sha-256=::"]
    )
    func malformed(value: String) {
        #expect(throws: DigestHeaderError.self) { try FileDigest.parse(reprDigest: value) }
    }

    @Test("hex parsing refuses wrong lengths and characters")
    func hex() {
        #expect(FileDigest(hex: "abc") == nil)
        #expect(FileDigest(hex: String(repeating: "g", count: 64)) == nil)
        #expect(FileDigest(bytes: [1, 2, 3]) == nil)
    }
}
