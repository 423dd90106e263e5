import Crypto
import FerryProtocol
import Foundation
import NIOCore
import Testing

/// The SHA-256 whose state travels between nodes.
@Suite("Resumable SHA-256")
struct ResumableSHA256Tests {
    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    @Test("the FIPS 180-4 examples")
    func examples() {
        let cases: [(String, String)] = [
            ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            (
                "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
            ),
        ]
        for (message, expected) in cases {
            var hasher = ResumableSHA256()
            hasher.update(ByteBuffer(string: message))
            #expect(Self.hex(hasher.finalize()) == expected, "\(message)")
        }
        var million = ResumableSHA256()
        for _ in 0..<1_000 { million.update(ByteBuffer(repeating: UInt8(ascii: "a"), count: 1_000)) }
        #expect(Self.hex(million.finalize()) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test(
        "random data cut anywhere hashes as swift-crypto does; a state saved at a block boundary and taken up again continues the same digest"
    )
    func againstCrypto() throws {
        var generator = SystemRandomNumberGenerator()
        for round in 0..<150 {
            // Every length up to two blocks and a bit, then random ones (a debug build hashes slowly).
            let size = round < 130 ? round : Int.random(in: 0..<100_000, using: &generator)
            var data = [UInt8](repeating: 0, count: size)
            for index in stride(from: 0, to: size, by: 8) {
                withUnsafeBytes(of: generator.next()) { word in
                    for byte in 0..<min(8, size - index) { data[index + byte] = word[byte] }
                }
            }
            let expected = Array(SHA256.hash(data: data))
            var whole = ResumableSHA256()
            var offset = 0
            while offset < size {
                let cut = min(size - offset, Int.random(in: 1...70_000, using: &generator))
                whole.update(ByteBuffer(bytes: data[offset..<(offset + cut)]))
                offset += cut
            }
            #expect(whole.finalize() == expected, "\(size) bytes")
            #expect(whole.length == Int64(size))

            // Stop at a block boundary, write the state down, take it up in a new value.
            let boundary = (Int.random(in: 0...size, using: &generator) / 64) * 64
            var first = ResumableSHA256()
            first.update(ByteBuffer(bytes: data[0..<boundary]))
            let saved = try JSONEncoder().encode(try #require(first.state))
            var second = try ResumableSHA256(
                resuming: try JSONDecoder().decode(ResumableSHA256.State.self, from: saved)
            )
            second.update(ByteBuffer(bytes: data[boundary...]))
            #expect(second.finalize() == expected, "\(size) bytes resumed at \(boundary)")
        }
    }

    @Test("no state between block boundaries, and a saved state that cannot be one is refused")
    func refusals() {
        var hasher = ResumableSHA256()
        hasher.update(ByteBuffer(repeating: 1, count: 100))
        #expect(hasher.state == nil)
        hasher.update(ByteBuffer(repeating: 1, count: 28))
        #expect(hasher.state?.length == 128)
        #expect(throws: ResumableSHA256.StateError.self) {
            try ResumableSHA256(resuming: .init(words: [1, 2, 3], length: 64))
        }
        #expect(throws: ResumableSHA256.StateError.self) {
            try ResumableSHA256(resuming: .init(words: Array(repeating: 0, count: 8), length: 65))
        }
        #expect(throws: ResumableSHA256.StateError.self) {
            try ResumableSHA256(resuming: .init(words: Array(repeating: 0, count: 8), length: -64))
        }
    }
}
