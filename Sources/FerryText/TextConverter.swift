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
    private var block: [UInt8] = []
    private var scratch: [UInt8] = []

    private let sourceFormat: TextConversion.RecordFormat
    private let targetFormat: TextConversion.RecordFormat
    private let sourcePage: CodePage?
    private let targetPage: CodePage?
    /// Single-byte source to single-byte target, per byte; 0xFFFF: no byte in the target (or none in the source).
    private let byteMap: [UInt16]?
    /// Single-byte source to UTF-8: each byte's encoding, length in the top byte.
    private let utf8Map: [UInt32]?

    public init(_ conversion: TextConversion) {
        self.conversion = conversion
        let onSource = conversion.recordsOnSource
        sourceFormat = onSource ? conversion.records : .lines
        targetFormat = onSource ? .lines : conversion.records
        sourcePage = conversion.from.codePage
        targetPage = conversion.to.codePage
        if let source = sourcePage, let target = targetPage {
            byteMap = (0..<256).map { byte in
                guard let scalar = source.scalar(for: UInt8(byte)), let mapped = target.byte(for: scalar) else {
                    return CodePage.undefined
                }
                return UInt16(mapped)
            }
        } else {
            byteMap = nil
        }
        if let source = sourcePage, conversion.to == .utf8 {
            utf8Map = (0..<256).map { byte -> UInt32 in
                guard let scalar = source.scalar(for: UInt8(byte)) else { return 0 }
                let bytes = Array(String(Character(scalar)).utf8)
                var packed = UInt32(bytes.count) << 24
                for (index, value) in bytes.enumerated() { packed |= UInt32(value) << (8 * UInt32(index)) }
                return packed
            }
        } else {
            utf8Map = nil
        }
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
        if !block.isEmpty { flushBlock(into: &output) }
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
            let terminator = lineTerminator(sourcePage)
            while let end = Self.index(of: terminator, in: pending, from: start) {
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

    private func lineTerminator(_ page: CodePage?) -> UInt8 {
        guard let page, page.isEBCDIC else { return 0x0A }
        return conversion.ebcdicLineEnd == .ebcdicLF ? 0x25 : 0x15
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
        if case .lines = targetFormat, mapLine(range, into: &output) {
            writeLineEnd(into: &output)
            return
        }
        scratch.removeAll(keepingCapacity: true)
        try transcode(range)
        try write(into: &output)
    }

    /// `pending[range]` from the source encoding into `scratch` in the target's.
    private mutating func transcode(_ range: Range<Int>) throws(ConversionError) {
        scratch.reserveCapacity(range.count * 2)
        // Single-byte sources: one table lookup per byte in a loop over raw buffers (no bounds or exclusivity
        // checks per byte); a byte without a mapping stops the loop and is handled (error or substitute) here.
        if byteMap != nil || utf8Map != nil {
            var index = range.lowerBound
            while index < range.upperBound {
                let stopped = mapBytes(from: index, to: range.upperBound)
                guard stopped < range.upperBound else { break }
                try unmappable(byte: pending[stopped], at: stopped)
                index = stopped + 1
            }
            return
        }
        // UTF-8 source: decode, then the target's bytes.
        var index = range.lowerBound
        while index < range.upperBound {
            let (scalar, length) = decodeUTF8(at: index, end: range.upperBound)
            guard let scalar else {
                throw ConversionError(
                    "byte offset \(pendingOffset + Int64(index)) (record \(report.records)): \(hex(pending[index..<min(index + 4, range.upperBound)])) is not valid UTF-8: is the source encoding right (--from)?"
                )
            }
            if let page = targetPage {
                if let byte = page.byte(for: scalar) {
                    scratch.append(byte)
                } else if conversion.unmappable == .substitute {
                    report.substituted += 1
                    scratch.append(page.isEBCDIC ? 0x3F : page.byte(for: "?") ?? 0x3F)
                } else {
                    throw ConversionError(
                        "byte offset \(pendingOffset + Int64(index)) (record \(report.records)): the character U+\(String(scalar.value, radix: 16, uppercase: true)) '\(scalar.properties.isWhitespace || scalar.value < 0x20 ? " " : String(Character(scalar)))' has no byte in \(page.name): choose a code page that has it (an euro variant such as IBM-1140 for €), or substitute unmappable characters"
                    )
                }
            } else {
                scratch.append(contentsOf: pending[index..<index + length])
            }
            index += length
        }
    }

    private func writeLineEnd(into output: inout ByteBuffer) {
        switch (targetPage?.isEBCDIC == true, conversion.lineEnd) {
        case (true, _): output.writeInteger(lineTerminator(targetPage))
        case (false, .crlf): output.writeBytes([0x0D, 0x0A])
        default: output.writeInteger(UInt8(0x0A))
        }
    }

    /// A line record from a single-byte source straight into `output` (no scratch copy). `false`, with nothing
    /// written, when the source is not single-byte or a byte has no mapping: the record then takes the general path,
    /// which reports or substitutes it.
    private func mapLine(_ range: Range<Int>, into output: inout ByteBuffer) -> Bool {
        guard byteMap != nil || utf8Map != nil else { return false }
        var complete = true
        output.writeWithUnsafeMutableBytes(minimumWritableBytes: range.count * (utf8Map == nil ? 1 : 3)) { raw in
            var written = 0
            pending.withUnsafeBufferPointer { source in
                if let utf8Map {
                    utf8Map.withUnsafeBufferPointer { map in
                        for index in range {
                            let packed = map[Int(source[index])]
                            let count = Int(packed >> 24)
                            if count == 0 {
                                complete = false
                                return
                            }
                            raw[written] = UInt8(truncatingIfNeeded: packed)
                            if count > 1 { raw[written + 1] = UInt8(truncatingIfNeeded: packed >> 8) }
                            if count > 2 { raw[written + 2] = UInt8(truncatingIfNeeded: packed >> 16) }
                            written += count
                        }
                    }
                } else if let byteMap {
                    byteMap.withUnsafeBufferPointer { map in
                        for index in range {
                            let mapped = map[Int(source[index])]
                            if mapped == CodePage.undefined {
                                complete = false
                                return
                            }
                            raw[written] = UInt8(truncatingIfNeeded: mapped)
                            written += 1
                        }
                    }
                }
            }
            return complete ? written : 0
        }
        return complete
    }

    /// Maps `pending[start..<end]` into `scratch` with `byteMap` or `utf8Map` up to the first byte without a
    /// mapping; returns its index (`end`: all mapped).
    private mutating func mapBytes(from start: Int, to end: Int) -> Int {
        let old = scratch.count
        let widest = utf8Map == nil ? 1 : 3
        // Room for the widest result, written through a raw pointer and trimmed to what was written.
        scratch.append(contentsOf: repeatElement(0, count: (end - start) * widest))
        var written = old
        var index = start
        pending.withUnsafeBufferPointer { source in
            scratch.withUnsafeMutableBufferPointer { target in
                if let utf8Map {
                    utf8Map.withUnsafeBufferPointer { map in
                        while index < end {
                            let packed = map[Int(source[index])]
                            let count = Int(packed >> 24)
                            if count == 0 { break }
                            target[written] = UInt8(truncatingIfNeeded: packed)
                            if count > 1 { target[written + 1] = UInt8(truncatingIfNeeded: packed >> 8) }
                            if count > 2 { target[written + 2] = UInt8(truncatingIfNeeded: packed >> 16) }
                            written += count
                            index += 1
                        }
                    }
                } else if let byteMap {
                    byteMap.withUnsafeBufferPointer { map in
                        while index < end {
                            let mapped = map[Int(source[index])]
                            if mapped == CodePage.undefined { break }
                            target[written] = UInt8(truncatingIfNeeded: mapped)
                            written += 1
                            index += 1
                        }
                    }
                }
            }
        }
        scratch.removeLast(scratch.count - written)
        return index
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
            scratch.append(target.isEBCDIC ? 0x3F : target.byte(for: "?") ?? 0x3F)
        } else {
            scratch.append(contentsOf: [0xEF, 0xBF, 0xBD])
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
            output.writeBytes(scratch)
            writeLineEnd(into: &output)
        case .fixed(let length):
            let space = targetPage?.space ?? 0x20
            try pieces(of: length, tooLong: "longer than the record length \(length): choose a longer LRECL, or") {
                converter,
                range in
                output.writeBytes(converter.scratch[range])
                if range.count < length { output.writeRepeatingByte(space, count: length - range.count) }
            }
        case .variable(let blockSize):
            let maximum = (blockSize ?? 32_760) - (blockSize == nil ? 0 : 4) - 4
            try pieces(of: maximum, tooLong: "more than a variable record holds (\(maximum)):") { converter, range in
                let recordLength = range.count + 4
                if let blockSize, converter.block.count + recordLength > blockSize - 4 {
                    converter.flushBlock(into: &output)
                }
                var rdw = [UInt8(recordLength >> 8), UInt8(recordLength & 0xFF), 0, 0]
                rdw.append(contentsOf: converter.scratch[range])
                if blockSize == nil { output.writeBytes(rdw) } else { converter.block.append(contentsOf: rdw) }
            }
        }
    }

    /// Hands `scratch` to `write` in pieces of at most `maximum` bytes, as the overlong setting says: one piece
    /// (error when longer), the first piece only (truncate), or every piece (split); counted in the report.
    private mutating func pieces(
        of maximum: Int,
        tooLong: String,
        _ write: (inout TextConverter, Range<Int>) -> Void
    ) throws(ConversionError) {
        var start = 0
        repeat {
            let end = start + min(maximum, scratch.count - start)
            write(&self, start..<end)
            start = end
            if start < scratch.count {
                switch conversion.overlong {
                case .error:
                    throw ConversionError(
                        "record \(report.records) has \(scratch.count) bytes, \(tooLong) split or truncate long records"
                    )
                case .truncate:
                    report.truncated += 1
                    start = scratch.count
                case .split:
                    report.split += 1
                }
            }
        } while start < scratch.count
    }

    private mutating func flushBlock(into output: inout ByteBuffer) {
        let length = block.count + 4
        output.writeBytes([UInt8(length >> 8), UInt8(length & 0xFF), 0, 0])
        output.writeBytes(block)
        block.removeAll(keepingCapacity: true)
    }
}
