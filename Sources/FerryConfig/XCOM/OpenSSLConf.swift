import Foundation

/// A file in OpenSSL's CONF syntax, read the way OpenSSL's `NCONF_load` reads it (XCOM's `configssl.cnf` is
/// one): `[section]` headers, `name = value` lines, `#` comments, a trailing `\` joining lines, quotes, backslash
/// escapes, and variables `$name`, `${name}`, `$(name)`, `$section::name` and `$ENV::NAME`.
///
/// A `$` that does not name a defined variable is an error, as in OpenSSL ("variable has no value"): a literal
/// `$` must be written `\$`. This is the classic way a pass phrase breaks such a file.
public struct OpenSSLConf: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public let section: String
        public let name: String
        public let value: String
        /// 1-based line of the entry's first line.
        public let line: Int
        /// The value as written, before escapes and variables (for messages).
        public let raw: String
    }

    /// The entries in file order; the unnamed top section is `default`.
    public let entries: [Entry]
    /// The section headers in file order, with their lines.
    public let sections: [(name: String, line: Int)]

    public static func == (lhs: OpenSSLConf, rhs: OpenSSLConf) -> Bool {
        lhs.entries == rhs.entries && lhs.sections.map(\.name) == rhs.sections.map(\.name)
    }

    /// The value of `name` in `section`, the last one when repeated (as OpenSSL keeps the last).
    public func value(_ name: String, in section: String) -> Entry? {
        entries.last { $0.section == section && $0.name == name }
    }

    /// A problem in the file: where, what, and what to do.
    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public let file: String
        public let line: Int
        public let problem: String
        public let fix: String
        /// Whether the problem is a `$` that does not name a variable (the classic broken pass phrase).
        public var isVariableProblem: Bool { problem.contains("variable") }
        public var description: String { "\(file):\(line): \(problem). Fix: \(fix)" }
    }

    /// Parses the text of a file (named for messages).
    public static func parse(
        _ text: String,
        file: String,
        environment: [String: String] = [:]
    ) throws(ParseError) -> OpenSSLConf {
        var entries: [Entry] = []
        var sections: [(String, Int)] = []
        var section = "default"
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map {
            String($0.hasSuffix("\r") ? $0.dropLast() : $0)
        }
        if lines.last == "" { lines.removeLast() }
        var index = 0
        while index < lines.count {
            let first = index + 1
            var line = lines[index]
            index += 1
            // A backslash at the very end joins the next line (an escaped backslash does not).
            while endsWithContinuation(line), index < lines.count {
                line.removeLast()
                line += lines[index]
                index += 1
            }
            let content = stripComment(line).trimmingCharacters(in: .whitespaces)
            if content.isEmpty { continue }
            if content.hasPrefix("[") {
                guard content.hasSuffix("]") else {
                    throw ParseError(
                        file: file,
                        line: first,
                        problem: "'\(content)' opens a section without closing it",
                        fix: "write the header as [NAME]"
                    )
                }
                let name = content.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
                guard !name.isEmpty, name.allSatisfy(isNameCharacter) else {
                    throw ParseError(
                        file: file,
                        line: first,
                        problem: "'\(content)' is not a valid section name",
                        fix: "use letters, digits and _ only, e.g. [CERTIFICATE]"
                    )
                }
                section = name
                sections.append((name, first))
                continue
            }
            if content.hasPrefix(".") {
                throw ParseError(
                    file: file,
                    line: first,
                    problem: "the directive '\(content.split(separator: " ").first ?? "")' is not supported",
                    fix: "inline the included settings in this file"
                )
            }
            guard let equals = content.firstIndex(of: "=") else {
                throw ParseError(
                    file: file,
                    line: first,
                    problem: "'\(content)' is neither a [section] nor a NAME = VALUE line",
                    fix: "add '= VALUE', or comment the line out with #"
                )
            }
            let name = content[..<equals].trimmingCharacters(in: .whitespaces)
            guard !name.isEmpty, name.allSatisfy({ isNameCharacter($0) || $0 == "." }) else {
                throw ParseError(
                    file: file,
                    line: first,
                    problem: "'\(name)' is not a valid name",
                    fix: "use letters, digits, _ and . only, e.g. RECEIVE_SIDE"
                )
            }
            let raw = content[content.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            let value = try expand(
                raw,
                file: file,
                line: first,
                section: section,
                entries: entries,
                environment: environment
            )
            entries.append(Entry(section: section, name: name, value: value, line: first, raw: raw))
        }
        return OpenSSLConf(entries: entries, sections: sections)
    }

    static func isNameCharacter(_ character: Character) -> Bool {
        character.isASCII && (character.isLetter || character.isNumber || character == "_")
    }

    private static func endsWithContinuation(_ line: String) -> Bool {
        var count = 0
        for character in line.reversed() {
            guard character == "\\" else { break }
            count += 1
        }
        return count % 2 == 1
    }

    /// Drops an unquoted, unescaped `#` and what follows.
    private static func stripComment(_ line: String) -> String {
        var quote: Character?
        var escaped = false
        for (offset, character) in line.enumerated() {
            if escaped {
                escaped = false
                continue
            }
            if character == "\\" && quote != "'" {
                escaped = true
                continue
            }
            if let open = quote {
                if character == open { quote = nil }
                continue
            }
            if character == "\"" || character == "'" {
                quote = character
                continue
            }
            if character == "#" { return String(line.prefix(offset)) }
        }
        return line
    }

    /// Removes quotes, applies escapes and expands variables, as OpenSSL's `str_copy` does.
    private static func expand(
        _ raw: String,
        file: String,
        line: Int,
        section: String,
        entries: [Entry],
        environment: [String: String]
    ) throws(ParseError) -> String {
        let characters = Array(raw)
        var out = ""
        var index = 0
        var quote: Character?
        while index < characters.count {
            let character = characters[index]
            if let open = quote {
                if character == open {
                    quote = nil
                } else if character == "\\" && open == "\"" && index + 1 < characters.count {
                    index += 1
                    out.append(unescape(characters[index]))
                } else {
                    out.append(character)
                }
                index += 1
                continue
            }
            switch character {
            case "\"", "'":
                quote = character
                index += 1
            case "\\":
                if index + 1 < characters.count {
                    out.append(unescape(characters[index + 1]))
                }
                index += 2
            case "$":
                let (value, next) = try variable(
                    characters,
                    at: index,
                    raw: raw,
                    file: file,
                    line: line,
                    section: section,
                    entries: entries,
                    environment: environment
                )
                out += value
                index = next
            default:
                out.append(character)
                index += 1
            }
        }
        if let quote {
            throw ParseError(
                file: file,
                line: line,
                problem: "the value \(raw) opens a \(quote) quote without closing it",
                fix: "close the quote"
            )
        }
        return out
    }

    private static func unescape(_ character: Character) -> Character {
        switch character {
        case "n": "\n"
        case "r": "\r"
        case "t": "\t"
        case "b": "\u{8}"
        default: character
        }
    }

    private static func variable(
        _ characters: [Character],
        at start: Int,
        raw: String,
        file: String,
        line: Int,
        section: String,
        entries: [Entry],
        environment: [String: String]
    ) throws(ParseError) -> (String, Int) {
        var index = start + 1
        var close: Character?
        if index < characters.count, characters[index] == "{" || characters[index] == "(" {
            close = characters[index] == "{" ? "}" : ")"
            index += 1
        }
        func readName() -> String {
            var name = ""
            while index < characters.count, isNameCharacter(characters[index]) {
                name.append(characters[index])
                index += 1
            }
            return name
        }
        var scope = section
        var name = readName()
        if index + 1 < characters.count, characters[index] == ":", characters[index + 1] == ":" {
            index += 2
            scope = name
            name = readName()
        }
        if let close {
            guard index < characters.count, characters[index] == close else {
                throw ParseError(
                    file: file,
                    line: line,
                    problem: "the variable in \(raw) is not closed with '\(close)'",
                    fix: "close it, or write a literal $ as \\$"
                )
            }
            index += 1
        }
        let written = String(characters[start..<index])
        guard !name.isEmpty else {
            throw ParseError(
                file: file,
                line: line,
                problem: "the '$' in \(raw) starts a variable reference with no name (OpenSSL: variable has no value)",
                fix: "write a literal $ as \\$ (a pass phrase such as pa$$word becomes pa\\$\\$word)"
            )
        }
        if scope == "ENV" {
            if let value = environment[name] { return (value, index) }
        } else if let entry = entries.last(where: { $0.section == scope && $0.name == name })
            ?? entries.last(where: { $0.section == "default" && $0.name == name })
        {
            return (entry.value, index)
        }
        throw ParseError(
            file: file,
            line: line,
            problem: "\(written) in \(raw) names a variable that is not defined (OpenSSL: variable has no value)",
            fix:
                "write a literal $ as \\$ (a pass phrase such as pa$$word becomes pa\\$\\$word), or define \(name) earlier in the file"
        )
    }
}
