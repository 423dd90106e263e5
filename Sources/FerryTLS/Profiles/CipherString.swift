import Foundation

/// An OpenSSL cipher string, evaluated against the TLS 1.2 suites of BoringSSL (the library under
/// swift-nio-ssl) before BoringSSL sees it.
///
/// BoringSSL ignores words it does not know, and swift-nio-ssl stops the process when a string selects nothing
/// or uses an `@` command other than `@STRENGTH` (such as OpenSSL's `@SECLEVEL`). Ferry therefore reads the
/// string first: an unknown word is an error with a suggestion, and so is a string that selects no usable suite.
/// The selection also tells which loosenings to warn about (no forward secrecy, CBC).
public enum CipherString {
    /// A TLS 1.2 (and below) suite BoringSSL implements.
    public struct Suite: Sendable, Hashable {
        public let name: String
        public let standardName: String
        let kx: String
        let auth: String
        let enc: String
        let mac: String

        /// Usable only with TLS 1.2 (AEAD and SHA-256 suites).
        public var needsTLS12: Bool { mac != "SHA1" }
        public var isCBC: Bool { mac != "AEAD" }
        public var hasForwardSecrecy: Bool { kx == "ECDHE" }
        var isPSK: Bool { auth == "PSK" }
    }

    static let suites: [Suite] = [
        ("DES-CBC3-SHA", "TLS_RSA_WITH_3DES_EDE_CBC_SHA", "RSA", "RSA", "3DES", "SHA1"),
        ("AES128-SHA", "TLS_RSA_WITH_AES_128_CBC_SHA", "RSA", "RSA", "AES128", "SHA1"),
        ("AES256-SHA", "TLS_RSA_WITH_AES_256_CBC_SHA", "RSA", "RSA", "AES256", "SHA1"),
        ("PSK-AES128-CBC-SHA", "TLS_PSK_WITH_AES_128_CBC_SHA", "PSK", "PSK", "AES128", "SHA1"),
        ("PSK-AES256-CBC-SHA", "TLS_PSK_WITH_AES_256_CBC_SHA", "PSK", "PSK", "AES256", "SHA1"),
        ("AES128-GCM-SHA256", "TLS_RSA_WITH_AES_128_GCM_SHA256", "RSA", "RSA", "AES128GCM", "AEAD"),
        ("AES256-GCM-SHA384", "TLS_RSA_WITH_AES_256_GCM_SHA384", "RSA", "RSA", "AES256GCM", "AEAD"),
        ("ECDHE-ECDSA-AES128-SHA", "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE", "ECDSA", "AES128", "SHA1"),
        ("ECDHE-ECDSA-AES256-SHA", "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE", "ECDSA", "AES256", "SHA1"),
        ("ECDHE-RSA-AES128-SHA", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE", "RSA", "AES128", "SHA1"),
        ("ECDHE-RSA-AES256-SHA", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE", "RSA", "AES256", "SHA1"),
        ("ECDHE-ECDSA-AES128-SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "ECDHE", "ECDSA", "AES128", "SHA256"),
        ("ECDHE-RSA-AES128-SHA256", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "ECDHE", "RSA", "AES128", "SHA256"),
        (
            "ECDHE-ECDSA-AES128-GCM-SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE", "ECDSA", "AES128GCM",
            "AEAD"
        ),
        (
            "ECDHE-ECDSA-AES256-GCM-SHA384", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE", "ECDSA", "AES256GCM",
            "AEAD"
        ),
        ("ECDHE-RSA-AES128-GCM-SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE", "RSA", "AES128GCM", "AEAD"),
        ("ECDHE-RSA-AES256-GCM-SHA384", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE", "RSA", "AES256GCM", "AEAD"),
        ("ECDHE-PSK-AES128-CBC-SHA", "TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA", "ECDHE", "PSK", "AES128", "SHA1"),
        ("ECDHE-PSK-AES256-CBC-SHA", "TLS_ECDHE_PSK_WITH_AES_256_CBC_SHA", "ECDHE", "PSK", "AES256", "SHA1"),
        (
            "ECDHE-RSA-CHACHA20-POLY1305", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE", "RSA", "CHACHA20",
            "AEAD"
        ),
        (
            "ECDHE-ECDSA-CHACHA20-POLY1305", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE", "ECDSA",
            "CHACHA20", "AEAD"
        ),
        (
            "ECDHE-PSK-CHACHA20-POLY1305", "TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256", "ECDHE", "PSK", "CHACHA20",
            "AEAD"
        ),
    ].map { Suite(name: $0.0, standardName: $0.1, kx: $0.2, auth: $0.3, enc: $0.4, mac: $0.5) }

    /// BoringSSL's aliases, as predicates on a suite (3DES only when named: BoringSSL treats it as deprecated).
    static let aliases: [String: @Sendable (Suite) -> Bool] = [
        "ALL": { $0.enc != "3DES" }, "DEFAULT": { $0.enc != "3DES" }, "HIGH": { $0.enc != "3DES" },
        "FIPS": { $0.enc != "3DES" && $0.enc != "CHACHA20" },
        "KRSA": { $0.kx == "RSA" }, "RSA": { $0.kx == "RSA" }, "ARSA": { $0.auth == "RSA" },
        "KECDHE": { $0.kx == "ECDHE" }, "KEECDH": { $0.kx == "ECDHE" }, "ECDH": { $0.kx == "ECDHE" },
        "ECDHE": { $0.kx == "ECDHE" }, "EECDH": { $0.kx == "ECDHE" },
        "AECDSA": { $0.auth == "ECDSA" }, "ECDSA": { $0.auth == "ECDSA" },
        "KPSK": { $0.kx == "PSK" }, "APSK": { $0.auth == "PSK" }, "PSK": { $0.kx == "PSK" },
        "3DES": { $0.enc == "3DES" }, "AES128": { $0.enc.hasPrefix("AES128") },
        "AES256": { $0.enc.hasPrefix("AES256") },
        "AES": { $0.enc.hasPrefix("AES") }, "AESGCM": { $0.enc.hasSuffix("GCM") }, "CHACHA20": { $0.enc == "CHACHA20" },
        "SHA1": { $0.mac == "SHA1" }, "SHA": { $0.mac == "SHA1" }, "SHA256": { $0.mac == "SHA256" },
        "SHA384": { $0.mac == "SHA384" },
        "SSLV3": { !$0.needsTLS12 }, "TLSV1": { !$0.needsTLS12 }, "TLSV1.2": { $0.needsTLS12 },
    ]

    /// A problem with the string: what and what to do.
    public struct Problem: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// The suites the string selects, in no particular order (PSK suites left out: Ferry has no pre-shared keys).
    public static func select(_ text: String) throws(Problem) -> [Suite] {
        var selected: [Suite] = []
        var killed: Set<String> = []
        let separators: Set<Character> = [":", ",", " ", ";"]
        // An '@' command may follow a word directly (DEFAULT@SECLEVEL=0).
        for word in text.replacingOccurrences(of: "@", with: ":@").split(whereSeparator: { separators.contains($0) }) {
            var rule = word.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            let operation = rule.first.flatMap { "!-+~".contains($0) ? $0 : nil }
            if operation != nil { rule.removeFirst() }
            if rule.hasPrefix("@") {
                guard rule.uppercased() == "@STRENGTH" else {
                    throw Problem(
                        description:
                            "'\(rule)' is an OpenSSL command BoringSSL does not have (it has no security levels)"
                    )
                }
                continue
            }
            // An equal-preference group [A|B] selects each of its members.
            var matching: [Suite] = []
            for alternative in rule.split(separator: "|") {
                var matches = suites
                for atom in alternative.split(separator: "+") {
                    let key = atom.uppercased()
                    if let predicate = aliases[key] {
                        matches = matches.filter(predicate)
                    } else if let suite = suites.first(where: { $0.name == key || $0.standardName == key }) {
                        matches = matches.filter { $0 == suite }
                    } else {
                        let suggestion =
                            (Array(aliases.keys) + suites.map(\.name)).min {
                                EditDistance.between($0, key) < EditDistance.between($1, key)
                            } ?? ""
                        throw Problem(
                            description:
                                "'\(atom)' is not a cipher or alias BoringSSL knows (did you mean \(suggestion)?)"
                        )
                    }
                }
                matching += matches
            }
            switch operation {
            case "!":
                killed.formUnion(matching.map(\.name))
                selected.removeAll { killed.contains($0.name) }
            case "-": selected.removeAll { suite in matching.contains(suite) }
            case "+": break
            default:
                for suite in matching where !killed.contains(suite.name) && !selected.contains(suite) {
                    selected.append(suite)
                }
            }
        }
        return selected.filter { !$0.isPSK }
    }
}

/// Levenshtein distance, for "did you mean" suggestions.
public enum EditDistance {
    public static func between(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        var previous = Array(0...b.count)
        for i in a.indices {
            var current = [i + 1] + Array(repeating: 0, count: b.count)
            for j in b.indices {
                current[j + 1] = min(previous[j + 1] + 1, current[j] + 1, previous[j] + (a[i] == b[j] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
