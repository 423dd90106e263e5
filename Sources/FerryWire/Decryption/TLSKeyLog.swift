/// Secrets from an NSS key log (`SSLKEYLOGFILE` format), by client random.
public struct TLSKeyLog: Sendable, Equatable {
    /// The secrets of one connection, keyed by label (`CLIENT_RANDOM`, `SERVER_HANDSHAKE_TRAFFIC_SECRET`, ...).
    public private(set) var secrets: [[UInt8]: [String: [UInt8]]] = [:]
    /// The lines as read, for writing back (pcapng Decryption Secrets Block).
    public private(set) var lines: [String] = []

    public init() {}

    /// Parses key-log text; comments and malformed lines are skipped (counted in `skippedLines`).
    public init(text: String) {
        for line in text.split(whereSeparator: \.isNewline) {
            add(line: String(line))
        }
    }

    public private(set) var skippedLines = 0

    /// Adds one line; returns whether it was a valid key-log line.
    @discardableResult
    public mutating func add(line: String) -> Bool {
        let trimmed = Self.trimmed(line)
        guard !trimmed.isEmpty, !trimmed.hasPrefix("#") else { return false }
        let parts = trimmed.split(separator: " ")
        guard parts.count == 3, let random = Self.bytes(hex: parts[1]), random.count == 32,
            let secret = Self.bytes(hex: parts[2]), !secret.isEmpty
        else {
            skippedLines += 1
            return false
        }
        secrets[random, default: [:]][String(parts[0])] = secret
        lines.append(trimmed)
        return true
    }

    public mutating func merge(_ other: TLSKeyLog) {
        for line in other.lines { add(line: line) }
    }

    public func secret(_ label: String, clientRandom: [UInt8]) -> [UInt8]? {
        secrets[clientRandom]?[label]
    }

    /// Whether any secret is known for this connection.
    public func knows(clientRandom: [UInt8]) -> Bool { secrets[clientRandom] != nil }

    /// The text of the log, one line per secret.
    /// Only the lines with these labels (e.g. the handshake traffic secrets, for a capture of the handshake).
    public func keeping(labels: Set<String>) -> TLSKeyLog {
        var kept = TLSKeyLog()
        for line in lines where labels.contains(String(line.prefix { $0 != " " })) {
            kept.add(line: line)
        }
        return kept
    }

    public var text: String { lines.map { $0 + "\n" }.joined() }

    static func trimmed(_ line: String) -> String {
        var view = Substring(line)
        while let first = view.first, first == " " || first == "\t" || first == "\r" { view = view.dropFirst() }
        while let last = view.last, last == " " || last == "\t" || last == "\r" { view = view.dropLast() }
        return String(view)
    }

    static func bytes(hex: Substring) -> [UInt8]? {
        guard hex.utf8.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(hex.utf8.count / 2)
        var high: UInt8?
        for character in hex.utf8 {
            let value: UInt8
            switch character {
            case 48...57: value = character - 48
            case 65...70: value = character - 55
            case 97...102: value = character - 87
            default: return nil
            }
            if let first = high {
                bytes.append(first << 4 | value)
                high = nil
            } else {
                high = value
            }
        }
        return bytes
    }
}
