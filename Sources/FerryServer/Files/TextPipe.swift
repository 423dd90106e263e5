import Crypto
import FerryLedger
import FerryProtocol
import FerryText
import Foundation
import NIOCore

/// The text conversion of one file between the wire and storage (a partner's `partners.NAME.text`): the bytes
/// on the wire pass through it chunk by chunk, and it hashes what it gives back, so the ledger has both digests.
struct TextPipe {
    let conversion: TextConversion
    private var converter: TextConverter
    private var hasher = SHA256()
    private var output = ByteBuffer()
    /// Bytes given back so far.
    private(set) var bytes: Int64 = 0

    /// What a failed conversion means for the transfer, for the problem's detail.
    let consequence: String

    init(_ conversion: TextConversion, consequence: String = "nothing was stored") {
        self.conversion = conversion
        self.consequence = consequence
        converter = TextConverter(conversion)
    }

    /// Converts the next chunk; the result is valid until the next call.
    mutating func pass(_ chunk: ByteBuffer) throws(ProblemError) -> ByteBuffer {
        output.clear()
        do {
            try converter.convert(chunk, into: &output)
        } catch {
            throw problem(error)
        }
        return taken()
    }

    /// The end of the input: the last record.
    mutating func finish() throws(ProblemError) -> ByteBuffer {
        output.clear()
        do {
            try converter.finish(into: &output)
        } catch {
            throw problem(error)
        }
        return taken()
    }

    private mutating func taken() -> ByteBuffer {
        output.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
        bytes += Int64(output.readableBytes)
        return output
    }

    /// What the conversion made, once finished.
    var outcome: TextOutcome {
        TextOutcome(
            sha256: FileDigest(bytes: Array(hasher.finalize()))!.hex,
            bytes: bytes,
            settings: conversion.description,
            report: converter.report
        )
    }

    func problem(_ error: ConversionError) -> ProblemError {
        ProblemError(.conversionFailed, detail: "text mode (\(conversion)): \(error.description); \(consequence)")
    }
}

/// A finished conversion: the stored file's digest and size, and what the ledger says of it.
struct TextOutcome: Sendable {
    let sha256: String
    let bytes: Int64
    let settings: String
    let report: ConversionReport

    /// The ledger's `conversion`: the settings, then what was substituted, split or truncated.
    var ledgerText: String { settings + (report.notes.isEmpty ? "" : "; " + report.notes) }
}

/// A stored text file as a partner in text mode fetches it: converted as it is sent, never kept converted. Its
/// length and digest come from one conversion pass, remembered in the digest index beside the file's own (under
/// a `.ferry/text/` key no partner path can name) until the file changes; a range is the conversion's output from
/// the start with the bytes before the range skipped, so a resumed download gets exactly the bytes it missed.
enum TextRepresentation {
    /// The validator of the converted representation: the file's, marked with the settings.
    static func etag(_ fileETag: String, _ conversion: TextConversion) -> String {
        let inner = fileETag.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        return "\"\(inner)-text-\(settingsKey(conversion))\""
    }

    /// A short digest of the settings, so that two modes of one file never share a validator or an index entry.
    static func settingsKey(_ conversion: TextConversion) -> String {
        String(FileDigest(bytes: Array(SHA256.hash(data: Array(conversion.description.utf8))))!.hex.prefix(16))
    }

    /// Streams `span` of the converted file to `body`.
    static func stream<File: StoredFile>(
        _ file: File,
        by conversion: TextConversion,
        span: Range<Int64>,
        _ body: (ByteBuffer) async throws -> Void
    ) async throws {
        var pipe = TextPipe(conversion, consequence: "the download stopped")
        var position: Int64 = 0
        func give(_ converted: ByteBuffer) async throws {
            let start = position
            position += Int64(converted.readableBytes)
            let from = max(span.lowerBound, start)
            let to = min(span.upperBound, position)
            guard from < to else { return }
            if let slice = converted.getSlice(at: converted.readerIndex + Int(from - start), length: Int(to - from)) {
                try await body(slice)
            }
        }
        do {
            try await file.forEachChunk(in: 0..<file.item.size) { chunk in
                try await give(try pipe.pass(chunk))
                if position >= span.upperBound { throw Enough() }
            }
            try await give(try pipe.finish())
        } catch is Enough {}
    }

    private struct Enough: Error {}
}

extension FileStore {
    /// The converted representation's digest and length (one conversion pass, then from the digest index).
    func converted(
        _ file: Storage.Reader,
        by conversion: TextConversion,
        rootRelative: String
    ) async throws -> (digest: FileDigest, length: Int64) {
        let key = ".ferry/text/\(TextRepresentation.settingsKey(conversion))/\(rootRelative)"
        if let known = try await digests.digest(for: key, stamp: file.item.stamp) {
            let parts = known.split(separator: " ")
            if parts.count == 2, let digest = FileDigest(hex: String(parts[0])), let length = Int64(parts[1]) {
                return (digest, length)
            }
        }
        var pipe = TextPipe(conversion, consequence: "nothing was sent")
        try await file.forEachChunk(in: 0..<file.item.size) { chunk in _ = try pipe.pass(chunk) }
        _ = try pipe.finish()
        let outcome = pipe.outcome
        let digest = FileDigest(hex: outcome.sha256)!
        try await digests.remember(digest: "\(outcome.sha256) \(outcome.bytes)", for: key, stamp: file.item.stamp)
        return (digest, outcome.bytes)
    }
}
