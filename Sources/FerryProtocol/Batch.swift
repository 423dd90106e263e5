import Foundation
public import NIOCore

/// Many small files in one request: `POST /v1/files/{folder}/` with `Content-Type: application/vnd.ferry.batch`.
///
/// The body is a sequence of entries, each a header line of JSON and then exactly `size` bytes:
///
///     {"path":"2026/a.csv","size":65536,"sha256":"<64 hex digits>"}\n<65536 bytes>
///
/// `path` is relative to the folder in the URL (plain, not percent-encoded). Each entry is checked and
/// committed as a PUT of that path would be (rights, path rules, the declared digest, atomic commit, a ledger
/// row); a refused entry does not stop the others. The answer is a ``BatchReport``. Entries are limited to
/// ``maximumEntrySize``: larger files go by PUT or by a resumable upload.
public enum Batch {
    public static let mediaType = "application/vnd.ferry.batch"
    /// The largest file one entry may carry (the server holds an entry in memory before committing it).
    public static let maximumEntrySize: Int64 = 1 << 20
    /// The longest header line, newline included.
    public static let maximumHeaderLength = 4096

    /// The JSON line in front of each entry's bytes.
    public struct Header: Codable, Sendable, Equatable {
        public var path: String
        public var size: Int64
        public var sha256: String

        public init(path: String, size: Int64, sha256: String) {
            self.path = path
            self.size = size
            self.sha256 = sha256
        }
    }

    /// What happened to one entry.
    public struct FileResult: Codable, Sendable, Equatable {
        /// The entry's path as sent.
        public var path: String
        /// The status a PUT of this file would have had: 201 created, 204 replaced, or the refusal's.
        public var status: Int
        public var bytes: Int64?
        public var sha256: String?
        public var problem: Problem?

        public init(path: String, status: Int, bytes: Int64? = nil, sha256: String? = nil, problem: Problem? = nil) {
            self.path = path
            self.status = status
            self.bytes = bytes
            self.sha256 = sha256
            self.problem = problem
        }

        public var committed: Bool { (200..<300).contains(status) }
    }

    /// The answer to a batch: one result per entry received, in order, and the problem that stopped the
    /// batch early if one did (a malformed header, a body that ended inside an entry). Entries before that
    /// point stay committed.
    public struct Report: Codable, Sendable, Equatable {
        public var committed: Int
        public var failed: Int
        public var files: [FileResult]
        public var problem: Problem?

        public init(files: [FileResult], problem: Problem? = nil) {
            self.files = files
            self.committed = files.filter(\.committed).count
            self.failed = files.count - committed
            self.problem = problem
        }
    }

    /// Encodes an entry's header line.
    public static func headerLine(_ header: Header) -> ByteBuffer {
        var line = ByteBuffer()
        line.writeString("{\"path\":")
        line.writeString(jsonString(header.path))
        line.writeString(",\"size\":\(header.size),\"sha256\":\"\(header.sha256)\"}\n")
        return line
    }

    static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

/// A malformed batch body: names the entry and what is wrong with it.
public struct BatchFormatError: Error, Sendable, Equatable, CustomStringConvertible {
    public let entry: Int
    public let reason: String

    public var description: String { "entry \(entry + 1): \(reason)" }
}

/// Splits a batch body, fed in pieces as they arrive, into headers and bytes. Holds at most one header line.
public struct BatchDecoder: Sendable {
    public enum Event: Sendable, Equatable {
        /// A new entry begins.
        case header(Batch.Header)
        /// Some of the current entry's bytes (a slice of the input, not a copy).
        case bytes(ByteBuffer)
        /// The current entry's bytes are complete.
        case entryEnd
    }

    enum State: Sendable {
        case header
        case body(remaining: Int64)
    }

    var state = State.header
    var pendingLine = ByteBuffer()
    /// The index of the entry being read.
    public private(set) var entry = 0
    let maximumEntrySize: Int64

    public init(maximumEntrySize: Int64 = Batch.maximumEntrySize) {
        self.maximumEntrySize = maximumEntrySize
    }

    /// The next event from `input` (consuming what it used), or `nil` when `input` holds no more.
    public mutating func next(from input: inout ByteBuffer) throws(BatchFormatError) -> Event? {
        switch state {
        case .body(let remaining):
            if remaining == 0 {
                state = .header
                entry += 1
                return .entryEnd
            }
            guard input.readableBytes > 0 else { return nil }
            let take = Int(min(Int64(input.readableBytes), remaining))
            state = .body(remaining: remaining - Int64(take))
            return .bytes(input.readSlice(length: take)!)
        case .header:
            guard input.readableBytes > 0 else { return nil }
            let newline = input.readableBytesView.firstIndex(of: UInt8(ascii: "\n"))
            let available = newline.map { $0 - input.readerIndex + 1 } ?? input.readableBytes
            guard pendingLine.readableBytes + available <= Batch.maximumHeaderLength else {
                throw fail(
                    "the header line is longer than \(Batch.maximumHeaderLength) bytes (a header is one line of JSON ending in a newline)"
                )
            }
            var piece = input.readSlice(length: available)!
            pendingLine.writeBuffer(&piece)
            guard newline != nil else { return nil }
            let line = pendingLine.readString(length: pendingLine.readableBytes - 1) ?? ""
            pendingLine.clear()
            let header = try parse(line)
            state = .body(remaining: header.size)
            return .header(header)
        }
    }

    /// Checks that the body ended between entries.
    public func finish() throws(BatchFormatError) {
        switch state {
        case .header where pendingLine.readableBytes == 0:
            return
        case .header:
            throw fail("the body ended inside a header line")
        case .body(let remaining):
            throw fail("the body ended \(remaining) bytes before the end of this entry")
        }
    }

    func fail(_ reason: String) -> BatchFormatError {
        BatchFormatError(entry: entry, reason: reason)
    }

    func parse(_ line: String) throws(BatchFormatError) -> Batch.Header {
        guard let header = try? JSONDecoder().decode(Batch.Header.self, from: Data(line.utf8)) else {
            throw fail(
                "the header line is not JSON of the form {\"path\": \"name\", \"size\": bytes, \"sha256\": \"hex\"}"
            )
        }
        guard !header.path.isEmpty else { throw fail("the path is empty") }
        guard (0...maximumEntrySize).contains(header.size) else {
            throw fail(
                "size \(header.size) is outside 0...\(maximumEntrySize); send larger files with PUT or a resumable upload"
            )
        }
        guard header.sha256.utf8.count == 64,
            header.sha256.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) })
        else {
            throw fail("sha256 must be 64 lowercase hex digits")
        }
        return header
    }
}

extension BatchDecoder {
    /// An entry decoded by ``decodeAll(_:slice:)``.
    public struct Decoded: Sendable, Equatable {
        public var header: Batch.Header
        public var bytes: [UInt8]
    }

    /// Decodes a whole body fed in slices of `slice` bytes, as a server receives it, and checks what the
    /// decoder promises on the way (it stops the process if broken): bytes only inside an entry and never
    /// beyond its size, each entry ending at exactly its size, every input byte consumed. For tests and the
    /// fuzzer.
    public static func decodeAll(_ body: [UInt8], slice: Int) throws(BatchFormatError) -> [Decoded] {
        var decoder = BatchDecoder()
        var entries: [Decoded] = []
        var open = false
        var offset = 0
        repeat {
            var input = ByteBuffer(bytes: body[offset..<min(body.count, offset + max(1, slice))])
            offset += max(1, slice)
            while let event = try decoder.next(from: &input) {
                switch event {
                case .header(let header):
                    precondition(!open, "a header inside an entry")
                    entries.append(Decoded(header: header, bytes: []))
                    open = true
                case .bytes(let bytes):
                    precondition(open, "bytes outside an entry")
                    entries[entries.count - 1].bytes += bytes.readableBytesView
                    precondition(
                        entries[entries.count - 1].bytes.count <= entries[entries.count - 1].header.size,
                        "bytes beyond the declared size"
                    )
                case .entryEnd:
                    precondition(
                        open && Int64(entries[entries.count - 1].bytes.count) == entries[entries.count - 1].header.size,
                        "an entry ended short"
                    )
                    open = false
                }
            }
            precondition(input.readableBytes == 0, "input left unread")
        } while offset < body.count
        try decoder.finish()
        return entries
    }
}
