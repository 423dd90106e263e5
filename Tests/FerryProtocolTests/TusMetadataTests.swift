import FerryProtocol
import Foundation
import Testing

/// `Upload-Metadata` parsing, including what the fuzzer found: a combining mark after a comma.
@Suite("tus Upload-Metadata")
struct TusMetadataTests {
    @Test("pairs, keys without values, blanks around pairs; what parses encodes back to the same pairs")
    func roundTrip() throws {
        let parsed = try TusMetadata.parse(" filename ZGF0YS5jc3Y= ,\tis_confidential, checksum c2hhMjU2")
        #expect(parsed == ["filename": "data.csv", "is_confidential": "", "checksum": "sha256"])
        #expect(try TusMetadata.parse(TusMetadata.encode(parsed)) == parsed)
    }

    @Test("a key that starts with a combining mark stays its own key after a comma (libFuzzer found it split wrongly)")
    func combiningMarkAfterComma() throws {
        let parsed = try TusMetadata.parse("\u{034C}h,AA:")
        #expect(parsed == ["\u{034C}h": "", "AA:": ""])
        #expect(
            try TusMetadata.parse(TusMetadata.encode(parsed)) == parsed,
            "encoded: \(TusMetadata.encode(parsed).debugDescription)"
        )
    }

    @Test(
        "malformed headers are refused: three parts, bad base64, a blank pair, a value that is not UTF-8",
        arguments: ["key a b", "key !!!", " , key", "key /w=="]
    )
    func malformed(header: String) {
        #expect(throws: TusMetadataError.self) { try TusMetadata.parse(header) }
    }
}
