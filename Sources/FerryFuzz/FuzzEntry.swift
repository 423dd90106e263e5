import FerryProtocol
import FerryTrace
import FerryWire
import Foundation
import NIOCore

/// The decoder under libFuzzer. Build and run (see docs/trace.md, `scripts/fuzz`):
///
///     swift build --scratch-path .build-fuzz --product ferry-fuzz -c release \
///         -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DFUZZING
///     .build-fuzz/release/ferry-fuzz Fuzz/corpus -max_total_time=60
///
/// Built normally (without FUZZING) it runs the files given as arguments through the same entry point, so
/// the committed corpus is replayed by the ordinary build.
enum FuzzEntry {
    /// The first byte picks what is fuzzed: a two-sided conversation (fed in slices), a batch upload body (fed
    /// in slices), a capture file (0xC0–0xEF), or one of the parsers a partner's request or an operator's file
    /// reaches (0xF0–0xFF, `PartnerInput`).
    static func run(_ input: [UInt8]) {
        if let forced = target, !input.isEmpty {
            // The first byte is the target's: seeds of that target are read as they are.
            var input = input
            input[0] = forced
            return runUnforced(input)
        }
        runUnforced(input)
    }

    /// The fuzz targets by name (`scripts/fuzz SECONDS TARGET`, `FERRY_FUZZ_TARGET`): every input then goes to
    /// that one, so each gets its own count of executions.
    static let targets: [String: UInt8] = [
        "conversation": 0x00, "batch": 0xB0, "capture": 0xC0, "tus-metadata": 0xF0, "path-encoded": 0xF1,
        "path-plain": 0xF2,
        "range": 0xF3, "repr-digest": 0xF4, "terminal-text": 0xF5, "percent": 0xF6, "config": 0xF7,
    ]

    static let target: UInt8? = {
        guard let name = ProcessInfo.processInfo.environment["FERRY_FUZZ_TARGET"], !name.isEmpty else { return nil }
        guard let selector = targets[name] else {
            FileHandle.standardError.write(
                Data(
                    "FerryFuzz: unknown target '\(name)'; one of \(targets.keys.sorted().joined(separator: ", "))\n"
                        .utf8
                )
            )
            exit(2)
        }
        return selector
    }()

    private static func runUnforced(_ input: [UInt8]) {
        guard input.count >= 3 else { return }
        let selector = input[0]
        let body = Array(input[3...])
        if selector >= 0xF0 {
            PartnerInput.run(selector & 0x0F, input[1], body)
        } else if (0xB0..<0xC0).contains(selector) {
            _ = try? BatchDecoder.decodeAll(body, slice: Int(input[1]) << 4 | Int(input[2] & 0xF))
        } else if selector < 0xC0 {
            let split = body.isEmpty ? 0 : Int(input[1]) * body.count / 256
            let slice = max(1, Int(input[2]))
            var conversation = TLSConversation(
                keyLog: TLSKeyLog(
                    text: "CLIENT_RANDOM " + String(repeating: "00", count: 32) + " "
                        + String(repeating: "11", count: 48)
                )
            )
            var offsets = (client: 0, server: split)
            var turn = false
            while offsets.client < split || offsets.server < body.count {
                turn.toggle()
                if turn && offsets.client < split || offsets.server >= body.count {
                    let end = min(split, offsets.client + slice)
                    conversation.feed(ByteBuffer(bytes: body[offsets.client..<end]), from: .clientToServer, at: 0)
                    offsets.client = end
                } else {
                    let end = min(body.count, offsets.server + slice)
                    conversation.feed(ByteBuffer(bytes: body[offsets.server..<end]), from: .serverToClient, at: 0)
                    offsets.server = end
                }
            }
            for format in TLSTraceRenderer.Format.allCases {
                _ = TLSTraceRenderer().render(conversation, format: format)
            }
        } else if let capture = try? CaptureFile(bytes: ByteBuffer(bytes: body)) {
            for connection in CaptureTrace(file: capture).connections {
                if let conversation = connection.conversation {
                    _ = TLSTraceRenderer().render(conversation, format: .summary)
                }
            }
        }
    }
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    FuzzEntry.run(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
) -> CInt

/// SwiftPM links an executable's entry point under this name; under FUZZING it hands over to libFuzzer.
@_cdecl("FerryFuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return runFuzzerDriver(&count, &arguments) { data, size in fuzzOne(data, size) }
}
#else
/// Replays files (or every file in folders) given as arguments through the same entry point.
@main
struct Replay {
    static func main() {
        var replayed = 0
        for argument in CommandLine.arguments.dropFirst() {
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: argument, isDirectory: &isFolder) else {
                FileHandle.standardError.write(Data("FerryFuzz: no such file or folder: \(argument)\n".utf8))
                exit(1)
            }
            let files =
                isFolder.boolValue
                ? ((try? FileManager.default.contentsOfDirectory(atPath: argument)) ?? []).sorted().map {
                    argument + "/" + $0
                } : [argument]
            for file in files {
                guard let data = FileManager.default.contents(atPath: file) else { continue }
                FuzzEntry.run(Array(data))
                replayed += 1
            }
        }
        print("replayed \(replayed) inputs without a crash")
    }
}
#endif
