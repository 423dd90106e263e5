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
    /// in slices), or a capture file.
    static func run(_ input: [UInt8]) {
        guard input.count >= 3 else { return }
        let selector = input[0]
        let body = Array(input[3...])
        if (0xB0..<0xC0).contains(selector) {
            _ = try? BatchDecoder.decodeAll(body, slice: Int(input[1]) << 4 | Int(input[2] & 0xF))
        } else if selector < 0xC0 {
            let split = body.isEmpty ? 0 : Int(input[1]) * body.count / 256
            let slice = max(1, Int(input[2]))
            var conversation = TLSConversation(keyLog: TLSKeyLog(text: "CLIENT_RANDOM " + String(repeating: "00", count: 32) + " " + String(repeating: "11", count: 48)))
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
            for format in TLSTraceRenderer.Format.allCases { _ = TLSTraceRenderer().render(conversation, format: format) }
        } else if let capture = try? CaptureFile(bytes: ByteBuffer(bytes: body)) {
            for connection in CaptureTrace(file: capture).connections {
                if let conversation = connection.conversation { _ = TLSTraceRenderer().render(conversation, format: .summary) }
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
            let files = isFolder.boolValue ? ((try? FileManager.default.contentsOfDirectory(atPath: argument)) ?? []).sorted().map { argument + "/" + $0 } : [argument]
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
