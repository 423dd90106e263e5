public import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Converts a stream of bytes chunk by chunk (memory bounded by the longest record, at most 1 MiB for a line):
/// splits the source into records (lines, fixed-length or RDW records), transcodes each record with table lookups,
/// and writes it in the target's form (a line with its line end, a padded fixed record, an RDW record in blocks).
public struct TextConverter: Sendable {
    public let conversion: TextConversion
    public private(set) var report = ConversionReport()

    /// The longest line accepted, so that a file without line ends cannot take memory without bound.
    public static let maximumLine = 1 << 20

    private var pending: [UInt8] = []
    /// The source offset of `pending[0]`.
    private var pendingOffset: Int64 = 0
    /// Reading blocked VB: bytes left in the current block (0: a BDW comes next).
    private var blockLeft = 0
    /// Writing blocked VB: the block being filled (records with their RDWs).
    private var block = ByteBuffer()
    /// A record in the target encoding, before it is laid out as the target's record.
    private var scratch = ByteBuffer()

    private let sourceFormat: TextConversion.RecordFormat
    private let targetFormat: TextConversion.RecordFormat
    private let sourcePage: CodePage?
    private let targetPage: CodePage?
    /// Each source byte in the target encoding (see `pack`), or 0 where the byte takes the general path: a byte
    /// without a mapping (an error or a substitute), or a UTF-8 source's byte above 0x7F (a sequence to decode).
    private let table: [UInt32]
    /// Lines to lines: `table` with the source's line end mapped to the target's.
    private let lineTable: [UInt32]?
    /// The target's line end.
    private let targetLineEnd: [UInt8]

    public init(_ conversion: TextConversion) {
        self.conversion = conversion
        let onSource = conversion.recordsOnSource
        sourceFormat = onSource ? conversion.records : .lines
        targetFormat = onSource ? .lines : conversion.records
        let sourcePage = conversion.from.codePage
        let targetPage = conversion.to.codePage
        self.sourcePage = sourcePage
        self.targetPage = targetPage
        let table = (0..<256).map { value -> UInt32 in
            let scalar =
                sourcePage.map { $0.scalar(for: UInt8(value)) } ?? (value < 0x80 ? Unicode.Scalar(UInt8(value)) : nil)
            guard let scalar else { return 0 }
            guard let targetPage else { return Self.pack(Array(String(Character(scalar)).utf8)) }
            return targetPage.byte(for: scalar).map { Self.pack([$0]) } ?? 0
        }
        self.table = table
        targetLineEnd = Self.lineEnd(targetPage, conversion)
        if conversion.records == .lines {
            var lineTable = table
            lineTable[Int(Self.lineTerminator(sourcePage, conversion))] = Self.pack(targetLineEnd)
            self.lineTable = lineTable
        } else {
            lineTable = nil
        }
    }

    /// Up to three bytes, the first in the low byte, with their count in the top byte.
    private static func pack(_ bytes: [UInt8]) -> UInt32 {
        precondition((1...3).contains(bytes.count))
        var packed = UInt32(bytes.count) << 24
        for (index, value) in bytes.enumerated() { packed |= UInt32(value) << (8 * UInt32(index)) }
        return packed
    }

    // MARK: reading records

    /// Converts a chunk; what is left of an unfinished record waits for the next chunk.
    public mutating func convert(_ input: ByteBuffer, into output: inout ByteBuffer) throws(ConversionError) {
        report.bytesIn += Int64(input.readableBytes)
        pending.append(contentsOf: input.readableBytesView)
        let before = output.writerIndex
        defer { report.bytesOut += Int64(output.writerIndex - before) }
        try drain(into: &output, final: false)
    }

    /// The end of the input: the last record, and a block being filled.
    public mutating func finish(into output: inout ByteBuffer) throws(ConversionError) {
        let before = output.writerIndex
        defer { report.bytesOut += Int64(output.writerIndex - before) }
        try drain(into: &output, final: true)
        if block.readableBytes > 0 { flushBlock(into: &output) }
    }

    private mutating func drain(into output: inout ByteBuffer, final: Bool) throws(ConversionError) {
        var start = 0
        defer {
            if start > 0 {
                pending.removeFirst(start)
                pendingOffset += Int64(start)
            }
        }
        switch sourceFormat {
        case .lines:
            let terminator = Self.lineTerminator(sourcePage, conversion)
            while true {
                // Lines to lines: every whole line in one loop, up to a line with a byte for the general path.
                if let lineTable {
                    let (reached, lines) = map(
                        start..<pending.count,
                        with: lineTable,
                        lineEnd: terminator,
                        into: &output
                    )
                    report.records += Int64(lines)
                    start = reached
                }
                guard let end = Self.index(of: terminator, in: pending, from: start) else { break }
                var last = end
                if terminator == 0x0A, last > start, pending[last - 1] == 0x0D { last -= 1 }
                try record(start..<last, into: &output)
                start = end + 1
            }
            if final, start < pending.count {
                try record(start..<pending.count, into: &output)
                start = pending.count
            } else if pending.count - start > Self.maximumLine {
                throw ConversionError(
                    "line \(report.records + 1) (at byte offset \(pendingOffset + Int64(start))) is longer than \(Self.maximumLine) bytes: is the record format right (fb:LRECL or vb for records without line ends)?"
                )
            }
        case .fixed(let length):
            while pending.count - start >= length {
                // Trailing blanks pad a fixed record; the lines it becomes do not keep them.
                var end = start + length
                let space = sourcePage?.space ?? 0x20
                while end > start, pending[end - 1] == space { end -= 1 }
                try record(start..<end, into: &output)
                start += length
            }
            if final, start < pending.count {
                guard conversion.shortLast == .keep else {
                    throw ConversionError(
                        "the last record (record \(report.records + 1), at byte offset \(pendingOffset + Int64(start))) has \(pending.count - start) bytes, not \(length): the file is not fb:\(length), or set the short last record to keep"
                    )
                }
                try record(start..<pending.count, into: &output)
                start = pending.count
            }
        case .variable(let blockSize):
            while true {
                if blockSize != nil && blockLeft == 0 {
                    guard pending.count - start >= 4 else { break }
                    let length = Int(pending[start]) << 8 | Int(pending[start + 1])
                    guard length >= 8, pending[start + 2] == 0, pending[start + 3] == 0 else {
                        throw ConversionError(
                            "byte offset \(pendingOffset + Int64(start)): \(hex(pending[start..<start + 4])) is not a block descriptor word (a big-endian length of at least 8, then two zero bytes): is the file vb without blocks (records vb)?"
                        )
                    }
                    blockLeft = length - 4
                    start += 4
                }
                guard pending.count - start >= 4 else { break }
                let length = Int(pending[start]) << 8 | Int(pending[start + 1])
                guard length >= 4, pending[start + 2] == 0, pending[start + 3] == 0,
                    blockSize == nil || length <= blockLeft
                else {
                    throw ConversionError(
                        "record \(report.records + 1) at byte offset \(pendingOffset + Int64(start)): \(hex(pending[start..<start + 4])) is not a record descriptor word (a big-endian length of at least 4 including itself, then two zero bytes\(blockSize == nil ? "" : ", within its block")): is the record format right (vb, vb:bdw)?"
                    )
                }
                guard pending.count - start >= length else { break }
                try record(start + 4..<start + length, into: &output)
                start += length
                if blockSize != nil { blockLeft -= length }
            }
            if final, start < pending.count || blockLeft != 0 {
                throw ConversionError(
                    "the input ends inside record \(report.records + 1) (byte offset \(pendingOffset + Int64(start))): the file is cut short or is not \(sourceFormat)"
                )
            }
        }
    }

    /// The first `byte` in `bytes[start...]`, found with `memchr`.
    private static func index(of byte: UInt8, in bytes: [UInt8], from start: Int) -> Int? {
        bytes.withUnsafeBufferPointer { buffer in
            guard start < buffer.count, let base = buffer.baseAddress,
                let found = memchr(base + start, Int32(byte), buffer.count - start)
            else { return nil }
            return base.distance(to: found.assumingMemoryBound(to: UInt8.self))
        }
    }

    /// The line end that ends a line in `page` (the ASCII side's LF when nil or not EBCDIC).
    private static func lineTerminator(_ page: CodePage?, _ conversion: TextConversion) -> UInt8 {
        guard let page, page.isEBCDIC else { return 0x0A }
        return conversion.ebcdicLineEnd == .ebcdicLF ? 0x25 : 0x15
    }

    /// The line end written in `page`.
    private static func lineEnd(_ page: CodePage?, _ conversion: TextConversion) -> [UInt8] {
        if page?.isEBCDIC == true { return [lineTerminator(page, conversion)] }
        return conversion.lineEnd == .crlf ? [0x0D, 0x0A] : [0x0A]
    }

    private func hex(_ bytes: ArraySlice<UInt8>) -> String {
        bytes.map { byte in
            let text = String(byte, radix: 16)
            return text.count == 1 ? "0" + text : text
        }.joined(separator: " ")
    }

    // MARK: one record

    private mutating func record(_ range: Range<Int>, into output: inout ByteBuffer) throws(ConversionError) {
        report.records += 1
        if case .lines = targetFormat {
            // Straight into the output when every byte maps; otherwise nothing stays written and the general path
            // below reports or substitutes.
            let before = output.writerIndex
            if map(range, with: table, into: &output).reached == range.upperBound {
                output.writeBytes(targetLineEnd)
                return
            }
            output.moveWriterIndex(to: before)
        }
        scratch.clear()
        try transcode(range)
        try write(into: &output)
    }

    /// `pending[range]` from the source encoding into `scratch` in the target's: the table for what it maps, and
    /// one byte or UTF-8 sequence at a time where it stops.
    private mutating func transcode(_ range: Range<Int>) throws(ConversionError) {
        var index = range.lowerBound
        while true {
            index = map(index..<range.upperBound, with: table, into: &scratch).reached
            guard index < range.upperBound else { return }
            if sourcePage != nil {
                try unmappable(byte: pending[index], at: index)
                index += 1
            } else {
                index += try transcodeScalar(at: index, end: range.upperBound)
            }
        }
    }

    /// One UTF-8 sequence at `index` into `scratch` in the target's encoding; its length.
    private mutating func transcodeScalar(at index: Int, end: Int) throws(ConversionError) -> Int {
        let (scalar, length) = decodeUTF8(at: index, end: end)
        guard let scalar else {
            throw ConversionError(
                "byte offset \(pendingOffset + Int64(index)) (record \(report.records)): \(hex(pending[index..<min(index + 4, end)])) is not valid UTF-8: is the source encoding right (--from)?"
            )
        }
        guard let page = targetPage else {
            scratch.writeBytes(pending[index..<index + length])
            return length
        }
        if let byte = page.byte(for: scalar) {
            scratch.writeInteger(byte)
        } else if conversion.unmappable == .substitute {
            report.substituted += 1
            scratch.writeInteger(page.isEBCDIC ? 0x3F : page.byte(for: "?") ?? 0x3F)
        } else {
            throw ConversionError(
                "byte offset \(pendingOffset + Int64(index)) (record \(report.records)): the character U+\(String(scalar.value, radix: 16, uppercase: true)) '\(scalar.properties.isWhitespace || scalar.value < 0x20 ? " " : String(Character(scalar)))' has no byte in \(page.name): choose a code page that has it (an euro variant such as IBM-1140 for €), or substitute unmappable characters"
            )
        }
        return length
    }

    /// The per-byte loop: `pending[range]` into `target` with one lookup in `table` per byte (raw pointers, no
    /// checks per byte), up to the first byte the table leaves to the general path; returns its index (the end when
    /// none). With `lineEnd`, the range is read as lines: the table maps the line end too, a CR before an LF line end
    /// is dropped, and only whole lines stay written: `reached` is then the start of the first line not written (the
    /// unfinished last one, or one with a byte for the general path), and `lines` how many were.
    private func map(
        _ range: Range<Int>,
        with table: [UInt32],
        lineEnd: UInt8? = nil,
        into target: inout ByteBuffer
    ) -> (reached: Int, lines: Int) {
        let terminator = lineEnd.map(Int.init) ?? 256
        let dropCR = lineEnd == 0x0A
        var reached = range.lowerBound
        var lines = 0
        // A packed entry is stored whole (4 bytes), at most 3 of them count: room for 3 bytes a byte, and 4 more.
        target.writeWithUnsafeMutableBytes(minimumWritableBytes: range.count * 3 + 4) { raw in
            pending.withUnsafeBufferPointer { source in
                table.withUnsafeBufferPointer { map in
                    var written = 0
                    var index = range.lowerBound
                    var lineStart = index
                    var lineWritten = 0
                    while index < range.upperBound {
                        let byte = source[index]
                        let packed = map[Int(byte)]
                        if packed == 0 { break }
                        let ends = Int(byte) == terminator
                        if ends, dropCR, index > lineStart, source[index - 1] == 0x0D {
                            written -= Int(map[0x0D] >> 24)
                        }
                        raw.storeBytes(of: packed.littleEndian, toByteOffset: written, as: UInt32.self)
                        written += Int(packed >> 24)
                        index += 1
                        if ends {
                            lines += 1
                            lineStart = index
                            lineWritten = written
                        }
                    }
                    if lineEnd == nil {
                        lineStart = index
                        lineWritten = written
                    }
                    reached = lineStart
                    return lineWritten
                }
            }
        }
        return (reached, lines)
    }

    private mutating func unmappable(byte: UInt8, at index: Int) throws(ConversionError) {
        let source = sourcePage?.name ?? "the source"
        let sourceScalar = sourcePage?.scalar(for: byte)
        guard conversion.unmappable == .substitute else {
            if let sourceScalar, let target = targetPage {
                throw ConversionError(
                    "byte offset \(pendingOffset + Int64(index)) (record \(report.records)): byte 0x\(hex([byte][...])) is U+\(String(sourceScalar.value, radix: 16, uppercase: true)) in \(source), which has no byte in \(target.name): choose a target that has it, or substitute unmappable characters"
                )
            }
            throw ConversionError(
                "byte offset \(pendingOffset + Int64(index)) (record \(report.records)): byte 0x\(hex([byte][...])) is not defined in \(source): is the source code page right (--from)?"
            )
        }
        report.substituted += 1
        if let target = targetPage {
            scratch.writeInteger(target.isEBCDIC ? 0x3F : target.byte(for: "?") ?? 0x3F)
        } else {
            scratch.writeBytes([0xEF, 0xBF, 0xBD])
        }
    }

    /// One scalar at `index` and its length, or nil for invalid UTF-8 (overlong forms, surrogates, cut sequences).
    private func decodeUTF8(at index: Int, end: Int) -> (Unicode.Scalar?, Int) {
        let first = pending[index]
        if first < 0x80 { return (Unicode.Scalar(first), 1) }
        let length: Int
        var value: UInt32
        switch first {
        case 0xC2...0xDF:
            length = 2
            value = UInt32(first & 0x1F)
        case 0xE0...0xEF:
            length = 3
            value = UInt32(first & 0x0F)
        case 0xF0...0xF4:
            length = 4
            value = UInt32(first & 0x07)
        default: return (nil, 1)
        }
        guard index + length <= end else { return (nil, 1) }
        for offset in 1..<length {
            let byte = pending[index + offset]
            guard byte & 0xC0 == 0x80 else { return (nil, 1) }
            value = value << 6 | UInt32(byte & 0x3F)
        }
        let minimum: UInt32 = length == 2 ? 0x80 : length == 3 ? 0x800 : 0x10000
        guard value >= minimum, let scalar = Unicode.Scalar(value) else { return (nil, 1) }
        return (scalar, length)
    }

    // MARK: writing records

    private mutating func write(into output: inout ByteBuffer) throws(ConversionError) {
        switch targetFormat {
        case .lines:
            output.writeImmutableBuffer(scratch)
            output.writeBytes(targetLineEnd)
        case .fixed(let length):
            let space = targetPage?.space ?? 0x20
            try pieces(of: length, tooLong: "longer than the record length \(length): choose a longer LRECL, or") {
                _,
                piece in
                output.writeImmutableBuffer(piece)
                if piece.readableBytes < length {
                    output.writeRepeatingByte(space, count: length - piece.readableBytes)
                }
            }
        case .variable(let blockSize):
            let maximum = (blockSize ?? 32_760) - (blockSize == nil ? 0 : 4) - 4
            try pieces(of: maximum, tooLong: "more than a variable record holds (\(maximum)):") { converter, piece in
                let recordLength = piece.readableBytes + 4
                let rdw = [UInt8(recordLength >> 8), UInt8(recordLength & 0xFF), 0, 0]
                guard let blockSize else {
                    output.writeBytes(rdw)
                    output.writeImmutableBuffer(piece)
                    return
                }
                if converter.block.readableBytes + recordLength > blockSize - 4 { converter.flushBlock(into: &output) }
                converter.block.writeBytes(rdw)
                converter.block.writeImmutableBuffer(piece)
            }
        }
    }

    /// Hands `scratch` to `write` in pieces of at most `maximum` bytes, as the overlong setting says: one piece
    /// (error when longer), the first piece only (truncate), or every piece (split); counted in the report.
    private mutating func pieces(
        of maximum: Int,
        tooLong: String,
        _ write: (inout TextConverter, ByteBuffer) -> Void
    ) throws(ConversionError) {
        let total = scratch.readableBytes
        var start = 0
        repeat {
            let length = min(maximum, total - start)
            write(&self, scratch.getSlice(at: scratch.readerIndex + start, length: length)!)
            start += length
            if start < total {
                switch conversion.overlong {
                case .error:
                    throw ConversionError(
                        "record \(report.records) has \(total) bytes, \(tooLong) split or truncate long records"
                    )
                case .truncate:
                    report.truncated += 1
                    start = total
                case .split:
                    report.split += 1
                }
            }
        } while start < total
    }

    private mutating func flushBlock(into output: inout ByteBuffer) {
        let length = block.readableBytes + 4
        output.writeBytes([UInt8(length >> 8), UInt8(length & 0xFF), 0, 0])
        output.writeBuffer(&block)
        block.clear()
    }
}
