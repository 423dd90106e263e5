/// One thing a diagnosis found: a stable id, how bad it is, what proves it, whose side it is on, the rule it
/// rests on, and the fixes, best first. Tests assert on ids; the CLI renders the rest.
public struct Finding: Sendable, Equatable, Codable {
    public enum Severity: String, Sendable, Codable, Comparable {
        case error, warning, note

        var rank: Int { self == .error ? 0 : self == .warning ? 1 : 2 }
        public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rank < rhs.rank }
    }

    /// Whose side the problem is on.
    public enum Side: String, Sendable, Codable {
        case local, peer, configuration, network
    }

    public let id: String
    public let severity: Severity
    public let title: String
    /// Trace lines and fields that prove it.
    public let evidence: [String]
    public let side: Side
    /// The RFC section or documented behaviour it rests on.
    public let rule: String
    /// Fixes, best first.
    public let fixes: [String]

    init(_ kind: FindingKind, title: String? = nil, evidence: [String], side: Side? = nil, fixes: [String]? = nil) {
        self.id = kind.id
        self.severity = kind.severity
        self.title = title ?? kind.title
        self.evidence = evidence
        self.side = side ?? kind.side
        self.rule = kind.rule
        self.fixes = fixes ?? kind.fixes
    }

    /// Two lines for a failure message or a log: severity, id, title, and the best fix.
    public var brief: String {
        "  \(severity.rawValue.uppercased()) [\(id)] \(title)" + (fixes.first.map { "\n    fix: \($0)" } ?? "")
    }

    /// The finding as the CLI prints it.
    public var text: String {
        var out = "\(severity.rawValue.uppercased()) [\(id)] \(title)\n"
        for line in evidence { out += "    evidence: \(line)\n" }
        out += "    at fault: \(side.rawValue)\n    rule: \(rule)\n"
        for (index, fix) in fixes.enumerated() { out += "    fix \(index + 1): \(fix)\n" }
        return out
    }
}

extension Array where Element == Finding {
    /// Most severe first; stable within a severity.
    public var ordered: [Finding] {
        enumerated().sorted { ($0.element.severity, $0.offset) < ($1.element.severity, $1.offset) }.map(\.element)
    }

    /// 0 when nothing is wrong, 1 for warnings only, 2 for errors (notes do not count).
    public var exitCode: Int32 {
        if contains(where: { $0.severity == .error }) { return 2 }
        if contains(where: { $0.severity == .warning }) { return 1 }
        return 0
    }
}
