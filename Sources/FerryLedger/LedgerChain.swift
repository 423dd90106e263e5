import Crypto
public import Foundation

/// Where a row stands in its chain: every row carries the SHA-256 of its own content and of the row before it in
/// the same chain, so changing, removing or inserting a row breaks every link after it. A chain is per writer: the
/// embedded ledger has one (`local`), a shared database one per node (named as the node), so nodes never wait on
/// each other's heads. The encoding is in docs/ledger.md, precise enough to check an export without Ferry.
public struct ChainLink: Sendable, Equatable, Codable {
    /// The chain's name.
    public var chain: String
    /// 1, 2, 3, ... with no gaps within a chain.
    public var seq: Int64
    /// The previous row's hash (hex), or 64 zeros for the first row of a chain.
    public var previous: String
    /// This row's hash (hex).
    public var hash: String

    public init(chain: String, seq: Int64, previous: String, hash: String) {
        self.chain = chain
        self.seq = seq
        self.previous = previous
        self.hash = hash
    }
}

/// A row as stored, with its link (`nil`: a row written before the ledger was chained).
public struct ChainedEntry: Sendable {
    public var entry: LedgerEntry
    public var link: ChainLink?
    public init(entry: LedgerEntry, link: ChainLink?) {
        self.entry = entry
        self.link = link
    }
}

/// Where a chain starts: at its genesis (seq 0, 64 zeros) or, once retention removed its oldest rows, at the last
/// removed row, whose seq and hash the ledger keeps as the chain's anchor.
public struct ChainStart: Sendable, Equatable, Codable {
    public var chain: String
    public var seq: Int64
    public var hash: String
    public init(chain: String, seq: Int64 = 0, hash: String = LedgerChain.genesis) {
        self.chain = chain
        self.seq = seq
        self.hash = hash
    }
}

/// Reading a ledger in chain order, for `ferry ledger verify` and `export`.
public protocol ChainedLedger: Ledger {
    /// Every chain that has rows or an anchor, with where it starts.
    func chainStarts() async throws -> [ChainStart]
    /// Up to `limit` rows of `chain` with seq above `afterSeq`, in seq order.
    func chained(_ chain: String, afterSeq: Int64, limit: Int) async throws -> [ChainedEntry]
    /// Up to `limit` rows written before the chain (no link), in id order after `afterID`.
    func unchained(afterID: String, limit: Int) async throws -> [LedgerEntry]
}

/// The hash of a row, and the check of a whole ledger.
public enum LedgerChain {
    /// The previous hash of a chain's first row.
    public static let genesis = String(repeating: "0", count: 64)
    /// The chain of the embedded (SQLite) ledger.
    public static let localChain = "local"
    /// Rows read per query while verifying or exporting: memory stays flat whatever the ledger holds.
    static let page = 1_000

    /// A time as the chain keeps it: whole microseconds since 1970. A ledger rounds a row's times to this before it
    /// stores and hashes them, so that a double read back from any database hashes the same.
    public static func microseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
    }

    /// `date` rounded to whole microseconds.
    public static func rounded(_ date: Date) -> Date {
        Date(timeIntervalSince1970: Double(microseconds(date)) / 1_000_000)
    }

    /// The row's times rounded as stored.
    public static func normalised(_ entry: LedgerEntry) -> LedgerEntry {
        var entry = entry
        entry.started = rounded(entry.started)
        entry.ended = rounded(entry.ended)
        return entry
    }

    /// The fields a row's hash covers, in their order (docs/ledger.md): each as a netstring (`LENGTH:BYTES,`, the
    /// length in bytes of its UTF-8), an absent value as `~`.
    static func fields(_ entry: LedgerEntry, chain: String, seq: Int64) -> [String?] {
        [
            "ferry-ledger-1", chain, String(seq), entry.id, entry.direction.rawValue, entry.partner,
            entry.operation.name, entry.path, String(entry.bytes), entry.sha256,
            String(microseconds(entry.started)), String(microseconds(entry.ended)), entry.result.rawValue,
            entry.error, entry.tlsVersion, entry.cipherSuite, entry.peerSubject, entry.peerIssuer, entry.peerSerial,
            entry.findings.isEmpty ? nil : entry.findings.joined(separator: ","), entry.fileSHA256, entry.conversion,
        ]
    }

    /// SHA-256 over the previous hash's 32 bytes and the row's fields (hex).
    public static func hash(_ entry: LedgerEntry, chain: String, seq: Int64, previous: String) -> String {
        var hasher = SHA256()
        hasher.update(data: bytes(hex: previous))
        for field in fields(entry, chain: chain, seq: seq) {
            if let field {
                hasher.update(data: Data("\(field.utf8.count):".utf8))
                hasher.update(data: Data(field.utf8))
                hasher.update(data: Data(",".utf8))
            } else {
                hasher.update(data: Data("~".utf8))
            }
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// Links `entries` after the head (`seq`, `hash`) of `chain`: the rows as they are stored (times rounded) with
    /// their links, and the new head.
    static func link(
        _ entries: [LedgerEntry],
        chain: String,
        after head: ChainStart
    ) -> (rows: [(LedgerEntry, ChainLink)], head: ChainStart) {
        var head = head
        var rows: [(LedgerEntry, ChainLink)] = []
        rows.reserveCapacity(entries.count)
        for entry in entries {
            let entry = normalised(entry)
            let seq = head.seq + 1
            let digest = hash(entry, chain: chain, seq: seq, previous: head.hash)
            rows.append((entry, ChainLink(chain: chain, seq: seq, previous: head.hash, hash: digest)))
            head = ChainStart(chain: chain, seq: seq, hash: digest)
        }
        return (rows, head)
    }

    private static func bytes(hex: String) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        var high: UInt8?
        for character in hex.utf8 {
            guard let nibble = UInt8(ascii: character) else { continue }
            if let first = high {
                bytes.append(first << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        return bytes
    }

    /// What `verify` found in one chain.
    public struct ChainReport: Sendable, Codable, Equatable {
        public var chain: String
        /// Where checking began (the genesis, or the anchor retention left).
        public var start: ChainStart
        /// Rows whose links held.
        public var rows: Int
        /// The last good row: the head an auditor keeps to notice rows removed from the end later.
        public var head: ChainStart
        /// The first row that breaks the chain, and how; `nil` when the whole chain holds.
        public var broken: Break?
    }

    /// The first break in a chain.
    public struct Break: Sendable, Codable, Equatable {
        /// The row's id (or the id of the row found where a missing one should be).
        public var id: String
        /// The seq the chain expected there.
        public var seq: Int64
        public var reason: String
    }

    /// The whole ledger checked.
    public struct Report: Sendable, Codable, Equatable {
        public var chains: [ChainReport]
        /// Rows from before the ledger was chained: listed, not covered.
        public var unchained: Int
        public var intact: Bool { chains.allSatisfy { $0.broken == nil } }
    }

    /// Checks every chain from its start to its last row, a page at a time, and stops each at its first break.
    /// `heads` are heads an auditor kept from earlier (an export's): a chain whose rows end before one of them was cut
    /// at the end, and one whose row at that seq has another hash was rewritten.
    public static func verify(_ ledger: any ChainedLedger, heads: [ChainStart] = []) async throws -> Report {
        var reports: [ChainReport] = []
        for start in try await ledger.chainStarts().sorted(by: { $0.chain < $1.chain }) {
            var head = start
            var rows = 0
            var broken: Break?
            var hashes: [Int64: String] = [:]
            for kept in heads where kept.chain == start.chain { hashes[kept.seq] = kept.hash }
            scan: while true {
                let page = try await ledger.chained(start.chain, afterSeq: head.seq, limit: Self.page)
                for row in page {
                    guard let link = row.link else { continue }
                    let expected = head.seq + 1
                    let reason: String? =
                        if link.seq != expected {
                            "rows \(expected) to \(link.seq - 1) of the chain are missing"
                        } else if link.previous != head.hash {
                            "its link to the row before does not match (that row, or this link, was changed)"
                        } else if hash(row.entry, chain: start.chain, seq: link.seq, previous: link.previous)
                            != link.hash
                        {
                            "its content does not match its hash (the row was changed)"
                        } else if let kept = hashes[link.seq], kept != link.hash {
                            "its hash differs from the head kept for seq \(link.seq) (the chain was rewritten)"
                        } else {
                            nil
                        }
                    if let reason {
                        broken = Break(id: row.entry.id, seq: expected, reason: reason)
                        break scan
                    }
                    head = ChainStart(chain: start.chain, seq: link.seq, hash: link.hash)
                    rows += 1
                }
                if page.count < Self.page { break }
            }
            if broken == nil, let last = hashes.keys.max(), last > head.seq {
                broken = Break(
                    id: "",
                    seq: head.seq + 1,
                    reason:
                        "the chain ends at \(head.seq) but a head was kept at \(last): rows were removed from its end"
                )
            }
            reports.append(ChainReport(chain: start.chain, start: start, rows: rows, head: head, broken: broken))
        }
        for kept in heads where !reports.contains(where: { $0.chain == kept.chain }) {
            reports.append(
                ChainReport(
                    chain: kept.chain,
                    start: ChainStart(chain: kept.chain),
                    rows: 0,
                    head: ChainStart(chain: kept.chain),
                    broken: Break(id: "", seq: 1, reason: "a head was kept for this chain but it has no rows")
                )
            )
        }
        var unchained = 0
        var after = ""
        while true {
            let page = try await ledger.unchained(afterID: after, limit: Self.page)
            unchained += page.count
            guard page.count == Self.page, let last = page.last else { break }
            after = last.id
        }
        return Report(chains: reports, unchained: unchained)
    }
}

extension UInt8 {
    fileprivate init?(ascii character: UInt8) {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): self = character - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): self = character - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): self = character - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
