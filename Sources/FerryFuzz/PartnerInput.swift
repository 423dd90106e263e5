import FerryConfig
import FerryProtocol
import Foundation

/// The parsers a partner's request or an operator's file reaches, each with the properties its answer must have:
/// a violated one traps, so the fuzzer reports a wrong answer as it reports a crash.
enum PartnerInput {
    static func run(_ kind: UInt8, _ parameter: UInt8, _ body: [UInt8]) {
        let text = String(decoding: body, as: UTF8.self)
        switch kind {
        case 0: tusMetadata(text)
        case 1: partnerPath(encoded: text)
        case 2: partnerPath(plain: text)
        case 3: range(text, length: Int64(parameter) * Int64(parameter) + Int64(body.count))
        case 4: digestHeader(text)
        case 5: terminalText(text, keepingNewlines: parameter & 1 == 1)
        case 6: percentDecoding(text)
        // Only as its own target (`scripts/fuzz SECONDS config`): it writes a file and runs the async loader,
        // and LeakSanitizer must be off for it (the loader's lazily made globals look like leaks).
        case 7 where FuzzEntry.target == 0xF7: configuration(body)
        default: return
        }
    }

    static func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
        if !condition() { fatalError("property violated: \(message())") }
    }

    /// `Upload-Metadata`: what parses encodes back to the same pairs.
    static func tusMetadata(_ header: String) {
        guard let values = try? TusMetadata.parse(header) else { return }
        let again = try? TusMetadata.parse(TusMetadata.encode(values))
        check(again == values, "tus metadata does not round-trip: \(header.debugDescription)")
    }

    /// A path in a URL: an accepted one has no segment that could leave its area or hide in `.ferry`, and its
    /// encoding parses back to itself.
    static func partnerPath(encoded: String) {
        guard let path = try? PartnerPath(encoded: Substring(encoded)) else { return }
        checkSafe(path, encoded)
        check(
            (try? PartnerPath(encoded: Substring(path.encoded))) == path,
            "encoded path does not round-trip: \(encoded.debugDescription)"
        )
    }

    /// A path in tus metadata or a batch header.
    static func partnerPath(plain: String) {
        guard let path = try? PartnerPath(plain: plain) else { return }
        checkSafe(path, plain)
        check(
            (try? PartnerPath(plain: path.relative)).map(\.segments) == path.segments,
            "plain path does not round-trip: \(plain.debugDescription)"
        )
    }

    static func checkSafe(_ path: PartnerPath, _ input: String) {
        for segment in path.segments {
            check(
                !segment.isEmpty && segment != "." && segment != "..",
                "empty or dot segment from \(input.debugDescription)"
            )
            check(
                !segment.contains("/") && !segment.contains("\\"),
                "separator in a segment from \(input.debugDescription)"
            )
            check(
                !segment.unicodeScalars.contains { TerminalText.isUnsafe($0) },
                "control or bidi character in a segment from \(input.debugDescription)"
            )
            check(
                !segment.lowercased().hasPrefix(PartnerPath.reservedPrefix),
                ".ferry segment from \(input.debugDescription)"
            )
            check(
                segment.utf8.count <= PartnerPath.maximumSegmentLength,
                "segment too long from \(input.debugDescription)"
            )
        }
    }

    /// `Range`: a partial answer lies inside the file and is not empty.
    static func range(_ header: String, length: Int64) {
        switch RangeRequest(header: header, length: length) {
        case .whole, .unsatisfiable: return
        case .partial(let range):
            check(
                range.lowerBound >= 0 && range.upperBound <= length && !range.isEmpty,
                "range \(range) outside 0..<\(length) from \(header.debugDescription)"
            )
        }
    }

    /// `Repr-Digest`: a digest that parses is a SHA-256 (32 bytes).
    static func digestHeader(_ value: String) {
        guard let digest = try? FileDigest.parse(reprDigest: value) else { return }
        check(digest.bytes.count == 32, "a digest of \(digest.bytes.count) bytes from \(value.debugDescription)")
    }

    /// Escaped text reaches a terminal with no control or bidi character (but kept newlines).
    static func terminalText(_ text: String, keepingNewlines: Bool) {
        let escaped = TerminalText.escaped(text, keepingNewlines: keepingNewlines)
        check(
            !escaped.unicodeScalars.contains { TerminalText.isUnsafe($0) && !(keepingNewlines && $0 == "\n") },
            "unsafe scalar left in \(text.debugDescription)"
        )
    }

    /// Percent-decoding: what an encoded segment decodes to is the segment.
    static func percentDecoding(_ text: String) {
        _ = PercentEncoding.decode(Substring(text))
        let encoded = PercentEncoding.encodeSegment(text)
        check(
            PercentEncoding.decode(Substring(encoded)).map { String(decoding: $0, as: UTF8.self) } == text,
            "segment does not round-trip: \(text.debugDescription)"
        )
    }

    /// A configuration file: loaded, or refused with a `ConfigError`; nothing else.
    static func configuration(_ bytes: [UInt8]) {
        let file = FileManager.default.temporaryDirectory.path + "/ferry-fuzz-\(getpid()).yaml"
        FileManager.default.createFile(atPath: file, contents: Data(bytes))
        let done = DispatchSemaphore(value: 0)
        let outcome = Outcome()
        Task {
            do {
                _ = try await ConfigLoader.load(file: file, environment: [:])
            } catch is ConfigError {
            } catch {
                outcome.unexpected = String(describing: error)
            }
            done.signal()
        }
        done.wait()
        check(
            outcome.unexpected == nil,
            "a configuration was refused without a ConfigError: \(outcome.unexpected ?? "")"
        )
    }

    final class Outcome: @unchecked Sendable {
        var unexpected: String?
    }
}
