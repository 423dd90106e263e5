import FerryProtocol
import Testing

@Suite("RFC 9110 byte ranges")
struct RangeTests {
    @Test(
        "ranges resolve against the representation length",
        arguments: [
            (nil as String?, 1000 as Int64, RangeRequest.whole),
            ("bytes=0-99", 1000, .partial(0..<100)),
            ("bytes=100-", 1000, .partial(100..<1000)),
            ("bytes=-100", 1000, .partial(900..<1000)),
            ("bytes=-5000", 1000, .partial(0..<1000)),
            ("bytes=990-5000", 1000, .partial(990..<1000)),
            ("bytes=999-999", 1000, .partial(999..<1000)),
            ("bytes=1000-", 1000, .unsatisfiable),
            ("bytes=1000-1001", 1000, .unsatisfiable),
            ("bytes=-0", 1000, .unsatisfiable),
            ("bytes=0-", 0, .unsatisfiable),
            ("bytes=-1", 0, .unsatisfiable),
            ("bytes=5-1", 1000, .whole),
            ("bytes=abc", 1000, .whole),
            ("bytes=1-2,5-6", 1000, .whole),
            ("items=0-1", 1000, .whole),
            ("bytes=+1-2", 1000, .whole),
            (" bytes = 0-0 ", 1000, .partial(0..<1)),
            ("BYTES=0-0", 1000, .partial(0..<1)),
        ]
    )
    func resolves(header: String?, length: Int64, expected: RangeRequest) {
        #expect(RangeRequest(header: header, length: length) == expected)
    }

    @Test("Content-Range values follow RFC 9110 §14.4")
    func contentRange() {
        #expect(RangeRequest.partial(0..<100).contentRange(length: 1000) == "bytes 0-99/1000")
        #expect(RangeRequest.unsatisfiable.contentRange(length: 1000) == "bytes */1000")
        #expect(RangeRequest.whole.contentRange(length: 1000) == nil)
    }
}
