public import Foundation

/// The ledger written out for auditors, a page at a time (memory stays flat): every chain in seq order, then the rows
/// from before the chain. JSON Lines carries each row with the exact fields its hash covers (times in whole
/// microseconds as well as ISO 8601) and ends with one `{"head": ...}` line per chain, so an export can be checked
/// without Ferry (docs/ledger.md) and handed back to `ferry ledger verify --heads` later. CSV is the same rows for
/// reading in a spreadsheet: it cannot tell an empty field from an absent one, so it is not the form to verify.
public enum LedgerExport {
    public enum Format: String, Sendable, CaseIterable {
        case jsonl, csv
    }

    /// One exported row: the hash's fields by their column names.
    struct Row: Encodable {
        var chain: String?
        var seq: Int64?
        var prev_hash: String?
        var hash: String?
        var id: String
        var direction: String
        var partner: String
        var operation: String
        var path: String
        var bytes: Int64
        var sha256: String?
        var started_us: Int64
        var ended_us: Int64
        var started: String
        var ended: String
        var result: String
        var error: String?
        var tls_version: String?
        var cipher_suite: String?
        var peer_subject: String?
        var peer_issuer: String?
        var peer_serial: String?
        var findings: String?
        var file_sha256: String?
        var conversion: String?

        static let columns = [
            "chain", "seq", "prev_hash", "hash", "id", "direction", "partner", "operation", "path", "bytes", "sha256",
            "started_us", "ended_us", "started", "ended", "result", "error", "tls_version", "cipher_suite",
            "peer_subject", "peer_issuer", "peer_serial", "findings", "file_sha256", "conversion",
        ]

        init(_ entry: LedgerEntry, link: ChainLink?) {
            let iso = ISO8601DateFormatter()
            iso.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            chain = link?.chain
            seq = link?.seq
            prev_hash = link?.previous
            hash = link?.hash
            id = entry.id
            direction = entry.direction.rawValue
            partner = entry.partner
            operation = entry.operation.name
            path = entry.path
            bytes = entry.bytes
            sha256 = entry.sha256
            started_us = LedgerChain.microseconds(entry.started)
            ended_us = LedgerChain.microseconds(entry.ended)
            started = iso.string(from: entry.started)
            ended = iso.string(from: entry.ended)
            result = entry.result.rawValue
            error = entry.error
            tls_version = entry.tlsVersion
            cipher_suite = entry.cipherSuite
            peer_subject = entry.peerSubject
            peer_issuer = entry.peerIssuer
            peer_serial = entry.peerSerial
            findings = entry.findings.isEmpty ? nil : entry.findings.joined(separator: ",")
            file_sha256 = entry.fileSHA256
            conversion = entry.conversion
        }

        var fields: [String] {
            [
                chain ?? "", seq.map(String.init) ?? "", prev_hash ?? "", hash ?? "", id, direction, partner,
                operation, path, String(bytes), sha256 ?? "", String(started_us), String(ended_us), started, ended,
                result, error ?? "", tls_version ?? "", cipher_suite ?? "", peer_subject ?? "", peer_issuer ?? "",
                peer_serial ?? "", findings ?? "", file_sha256 ?? "", conversion ?? "",
            ]
        }
    }

    private struct HeadLine: Encodable {
        var head: ChainStart
    }

    /// Writes the ledger to `write` (called with each piece of text) and returns each chain's head (its last row).
    public static func write(
        _ ledger: any ChainedLedger,
        format: Format,
        _ write: (String) throws -> Void
    ) async throws -> [ChainStart] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        func emit(_ row: Row) throws {
            switch format {
            case .jsonl: try write(String(decoding: try encoder.encode(row), as: UTF8.self) + "\n")
            case .csv: try write(row.fields.map(csvField).joined(separator: ",") + "\r\n")
            }
        }
        if format == .csv { try write(Row.columns.joined(separator: ",") + "\r\n") }
        var heads: [ChainStart] = []
        for start in try await ledger.chainStarts().sorted(by: { $0.chain < $1.chain }) {
            var head = start
            while true {
                let page = try await ledger.chained(start.chain, afterSeq: head.seq, limit: LedgerChain.page)
                for row in page {
                    try emit(Row(row.entry, link: row.link))
                    if let link = row.link { head = ChainStart(chain: link.chain, seq: link.seq, hash: link.hash) }
                }
                if page.count < LedgerChain.page { break }
            }
            heads.append(head)
        }
        var after = ""
        while true {
            let page = try await ledger.unchained(afterID: after, limit: LedgerChain.page)
            for entry in page { try emit(Row(entry, link: nil)) }
            guard page.count == LedgerChain.page, let last = page.last else { break }
            after = last.id
        }
        if format == .jsonl {
            for head in heads {
                try write(String(decoding: try encoder.encode(HeadLine(head: head)), as: UTF8.self) + "\n")
            }
        }
        return heads
    }

    /// A CSV field (RFC 4180), quoted when it holds a comma, quote or line end. A field that a spreadsheet would run
    /// as a formula (`=`, `+`, `-`, `@` first: a partner chooses its paths and names) gets a leading `'`.
    static func csvField(_ text: String) -> String {
        var text = text
        if let first = text.first, "=+-@\t\r".contains(first) { text = "'" + text }
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// The heads in a file an export wrote (its `{"head": ...}` lines), or in a file of such lines alone.
    public static func heads(in path: String) throws -> [ChainStart] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LedgerError("cannot read \(path); give the JSON Lines file `ferry ledger export` wrote")
        }
        struct Line: Decodable { var head: ChainStart? }
        var heads: [ChainStart] = []
        for line in data.split(separator: UInt8(ascii: "\n")) where line.contains(UInt8(ascii: "{")) {
            guard let parsed = try? JSONDecoder().decode(Line.self, from: Data(line)) else { continue }
            if let head = parsed.head { heads.append(head) }
        }
        guard !heads.isEmpty else {
            throw LedgerError(
                "\(path) has no head lines ({\"head\": ...}); give the JSON Lines file `ferry ledger export` wrote"
            )
        }
        return heads
    }
}
