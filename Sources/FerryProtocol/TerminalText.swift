/// Text from a peer, a certificate or a ledger made safe to print and log: C0 and C1 control characters, DEL,
/// and the Unicode bidirectional overrides and isolates (which reorder what a reader sees) are shown as `\u{XX}`
/// escapes, so a crafted name cannot move the cursor, recolour a terminal, forge a log line or hide a suffix.
public enum TerminalText {
    /// Whether a scalar is one that must never reach a terminal or a log as it is.
    public static func isUnsafe(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F: true
        // LRM, RLM, embeddings, overrides, isolates, ALM.
        case 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069, 0x061C: true
        default: false
        }
    }

    /// `text` with every unsafe scalar escaped (and `\` doubled so an escape cannot be faked); with
    /// `keepingNewlines`, line feeds of multi-line text (a trace) stay.
    public static func escaped(_ text: String, keepingNewlines: Bool = false) -> String {
        guard text.unicodeScalars.contains(where: { isUnsafe($0) || $0 == "\\" }) else { return text }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if scalar == "\\" {
                out.append(contentsOf: "\\\\".unicodeScalars)
            } else if isUnsafe(scalar), !(keepingNewlines && scalar == "\n") {
                out.append(contentsOf: "\\u{\(String(scalar.value, radix: 16, uppercase: true))}".unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }
}
