import FerryTestSupport
import FerryText
import Foundation
import Testing

/// Ferry's code page tables against references no one here wrote, in both directions: Python's codecs, the PyPI
/// `ebcdic` package, and glibc's iconv (called in-process through ctypes). Every disagreement is listed below
/// and in docs/text.md with the side Ferry follows; any other one fails.
@Suite("Code pages against Python, the ebcdic package and iconv")
struct CodePageReferenceTests {
    /// For each (Ferry name, reference, reference's name): per byte, the reference's scalar (-1: undefined), and
    /// the byte the reference encodes Ferry's scalar to (-1: none).
    static let script = #"""
        import codecs, ctypes, json, sys
        try:
            import ebcdic  # registers cp1047, cp1141... with codecs
        except ImportError:
            print(json.dumps({"missing": "ebcdic"})); sys.exit(0)
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.iconv_open.restype = ctypes.c_void_p
        libc.iconv_open.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        libc.iconv.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_size_t),
                               ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_size_t)]
        libc.iconv_close.argtypes = [ctypes.c_void_p]
        def iconv(to, frm, data):
            cd = libc.iconv_open(to.encode(), frm.encode())
            inbuf = ctypes.c_char_p(data); inleft = ctypes.c_size_t(len(data))
            out = ctypes.create_string_buffer(16); outp = ctypes.c_char_p(ctypes.addressof(out)); outleft = ctypes.c_size_t(16)
            r = libc.iconv(cd, ctypes.byref(inbuf), ctypes.byref(inleft), ctypes.byref(outp), ctypes.byref(outleft))
            libc.iconv_close(cd)
            if r == ctypes.c_size_t(-1).value or inleft.value != 0: return None
            return out.raw[:16 - outleft.value]
        tables = json.load(open(sys.argv[1]))
        result = {}
        for ferry, kind, name in json.load(open(sys.argv[2])):
            table = tables[ferry]
            decoded, encoded = [], []
            for byte in range(256):
                if kind == "iconv":
                    out = iconv("UTF-32BE", name, bytes([byte]))
                    decoded.append(int.from_bytes(out, "big") if out and len(out) == 4 else -1)
                else:
                    try: decoded.append(ord(bytes([byte]).decode(name)))
                    except Exception: decoded.append(-1)
                scalar = table[byte]
                if scalar < 0:
                    encoded.append(-1); continue
                if kind == "iconv":
                    out = iconv(name, "UTF-32BE", scalar.to_bytes(4, "big"))
                    encoded.append(out[0] if out and len(out) == 1 else -1)
                else:
                    try:
                        out = chr(scalar).encode(name); encoded.append(out[0] if len(out) == 1 else -1)
                    except Exception: encoded.append(-1)
            result[ferry + "|" + kind] = {"decoded": decoded, "encoded": encoded}
        print(json.dumps(result))
        """#

    static let comparisons: [(String, String, String)] = {
        var list: [(String, String, String)] = [
            ("IBM-037", "python", "cp037"), ("IBM-273", "python", "cp273"), ("IBM-500", "python", "cp500"),
            ("IBM-1140", "python", "cp1140"), ("ISO-8859-1", "python", "latin-1"), ("WINDOWS-1252", "python", "cp1252"),
        ]
        for number in ["277", "278", "280", "284", "285", "297", "871", "1047"] + (1141...1149).map(String.init) {
            list.append(("IBM-\(number)", "ebcdic", "cp\(number)"))
        }
        for page in CodePage.all {
            let name = page.name.hasPrefix("IBM-") ? "IBM" + page.name.dropFirst(4).drop { $0 == "0" } : page.name
            list.append(
                (page.name, "iconv", page.name == "WINDOWS-1252" ? "CP1252" : name == "IBM37" ? "IBM037" : name)
            )
        }
        return list
    }()

    /// Where a reference and Ferry differ on purpose: (page, reference kind) to the bytes, and why.
    static let knownDifferences: [String: (bytes: Set<Int>, why: String)] = {
        var known: [String: (Set<Int>, String)] = [
            "IBM-273|python": (
                [0xBC], "CPython's cp273 has U+203E (overline); glibc, IBM-1141 and ebcdic's cp1141 U+00AF"
            ),
            "IBM-1047|ebcdic": (
                [0x15, 0x25], "the ebcdic package swaps NL and LF in cp1047; CPython and glibc do not"
            ),
            "IBM-278|iconv": (
                [0x71, 0xE0], "glibc's IBM278 swaps É and \\ against its own IBM1143 and ebcdic's cp278"
            ),
            "IBM-285|iconv": ([0xA1], "glibc's IBM285 has U+203E where its IBM1146 and ebcdic's cp285 have U+00AF"),
            "IBM-871|iconv": ([0x4A, 0xC0], "glibc's IBM871 swaps þ and Þ against its own IBM1149 and ebcdic's cp871"),
        ]
        for number in ["277", "278", "280", "284", "285", "297", "871"] + (1141...1149).map(String.init) {
            known["IBM-\(number)|ebcdic"] = ([0x15], "the ebcdic package decodes NL (0x15) as LF; glibc as U+0085")
        }
        return known
    }()

    @Test("every table in both directions; only the documented differences")
    func references() async throws {
        let python = try ExternalTool.require("python3", installHint: "apt-get install python3")
        try await TemporaryDirectory.with("ferry-codepages") { folder in
            var tables: [String: [Int]] = [:]
            for page in CodePage.all {
                tables[page.name] = (0...255).map { page.scalar(for: UInt8($0)).map { Int($0.value) } ?? -1 }
            }
            try JSONEncoder().encode(tables).write(to: URL(fileURLWithPath: folder.path + "/tables.json"))
            try JSONSerialization.data(withJSONObject: Self.comparisons.map { [$0.0, $0.1, $0.2] })
                .write(to: URL(fileURLWithPath: folder.path + "/pairs.json"))
            try Self.script.write(toFile: folder.path + "/compare.py", atomically: true, encoding: .utf8)
            let run = try await ExternalTool.run(
                python,
                [folder.path + "/compare.py", folder.path + "/tables.json", folder.path + "/pairs.json"]
            )
            #expect(run.status == 0, "\(run.stderr)")
            if run.stdout.contains("\"missing\"") {
                #expect(ProcessInfo.processInfo.environment["CI"] != "true", "CI installs the ebcdic package")
                try #require(Bool(false), "the PyPI ebcdic package is not installed: pip install ebcdic")
            }
            let results = try JSONDecoder().decode(
                [String: [String: [Int]]].self,
                from: Data(run.stdout.utf8)
            )
            #expect(results.count == Self.comparisons.count)
            var seen: [String: Set<Int>] = [:]
            for (page, kind, name) in Self.comparisons {
                let key = page + "|" + kind
                let result = try #require(results[key], "\(key)")
                let ferry = try #require(tables[page])
                var differing = Set<Int>()
                for byte in 0...255 {
                    if result["decoded"]![byte] != ferry[byte] { differing.insert(byte) }
                    if ferry[byte] >= 0, result["encoded"]![byte] != byte { differing.insert(byte) }
                }
                let known = Self.knownDifferences[key]?.bytes ?? []
                #expect(
                    differing == known,
                    "\(page) against \(kind) \(name): differing bytes \(differing.sorted().map { String($0, radix: 16) })"
                )
                seen[key] = differing
            }
            // Every documented difference is still real (a reference that changed would show here).
            for (key, known) in Self.knownDifferences {
                #expect(seen[key] == known.bytes, "\(key): \(known.why)")
            }
        }
    }
}
