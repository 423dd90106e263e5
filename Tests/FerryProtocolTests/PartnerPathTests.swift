import FerryProtocol
import Testing

@Suite("Path normalisation")
struct PartnerPathTests {
    @Test(
        "every path attack is refused with its reason",
        arguments: [
            ("../etc/passwd", "dot-segment"),
            ("in/../../etc", "dot-segment"),
            ("%2e%2e/secret", "dot-segment"),
            ("%2E%2E/secret", "dot-segment"),
            ("in/%2e/x", "dot-segment"),
            ("in//x", "empty-segment"),
            ("/etc/passwd", "absolute-path"),
            ("in/a%00b", "nul-byte"),
            ("in/a%0Ab", "control-character"),
            ("in/a%7Fb", "control-character"),
            ("in\\..\\x", "backslash"),
            ("in/a%5Cb", "backslash"),
            ("in/a%2Fb", "encoded-slash"),
            ("in/a%2fb", "encoded-slash"),
            ("in/%zz", "bad-encoding"),
            ("in/%4", "bad-encoding"),
            ("in/%C3%28", "bad-encoding"),
            (".ferry/uploads/x", "reserved-name"),
            ("in/.ferry-tmp", "reserved-name"),
        ]
    )
    func attackIsRefused(path: String, code: String) {
        #expect {
            try PartnerPath(encoded: Substring(path))
        } throws: { error in
            (error as? PathError)?.shortDescription == code
        }
    }

    @Test("long paths and names are refused")
    func longPathsAreRefused() {
        #expect(throws: PathError.self) { try PartnerPath(encoded: Substring(String(repeating: "a", count: 256))) }
        let deep = Array(repeating: String(repeating: "b", count: 200), count: 25).joined(separator: "/")
        #expect(throws: PathError.self) { try PartnerPath(encoded: Substring(deep)) }
    }

    @Test("ordinary paths are decoded segment by segment")
    func ordinaryPaths() throws {
        let path = try PartnerPath(encoded: "in/a%20b.csv")
        #expect(path.segments == ["in", "a b.csv"])
        #expect(path.isDirectory == false)
        #expect(path.encoded == "in/a%20b.csv")
        let folder = try PartnerPath(encoded: "in/sub/")
        #expect(folder.segments == ["in", "sub"])
        #expect(folder.isDirectory)
        let unicode = try PartnerPath(encoded: "in/%C3%A9t%C3%A9.txt")
        #expect(unicode.segments == ["in", "été.txt"])
        #expect(try PartnerPath(encoded: "") == .root)
        #expect(try PartnerPath(encoded: "..a/b..").segments == ["..a", "b.."])
    }

    @Test("plain paths round-trip through percent-encoding")
    func plainPaths() throws {
        let path = try PartnerPath(plain: "in/report 2026 #1.csv")
        #expect(path.segments == ["in", "report 2026 #1.csv"])
        #expect(try PartnerPath(encoded: Substring(path.encoded)) == path)
        #expect(throws: PathError.self) { try PartnerPath(plain: "in/../x") }
        #expect(throws: PathError.self) { try PartnerPath(plain: "in/a\0b") }
    }
}
