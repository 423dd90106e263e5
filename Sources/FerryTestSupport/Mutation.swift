import Foundation

/// Reproducible mutations of byte strings for the property-based runs over Ferry's decoders (bit flips,
/// interesting bytes, length fields, truncation, duplication, insertion). `FERRY_FUZZ_ITERATIONS` sets how many
/// inputs a run tries, `FERRY_FUZZ_SEED` which ones.
public enum Mutation {
    public static var iterations: Int {
        ProcessInfo.processInfo.environment["FERRY_FUZZ_ITERATIONS"].flatMap(Int.init) ?? 4000
    }

    /// A different seed explores other mutations: `FERRY_FUZZ_SEED=7`.
    public static var seed: UInt64 {
        ProcessInfo.processInfo.environment["FERRY_FUZZ_SEED"].flatMap(UInt64.init) ?? 0
    }

    /// Every 20th iteration, lets other tasks run. A run of thousands of decodes in a row otherwise holds one of the
    /// test process's two cooperative threads for tens of seconds (seen in stack samples of a full run), and the
    /// in-process servers of the suites beside it, which need those threads, stall.
    public static func pause(after iteration: Int) async {
        if iteration % 20 == 19 { await Task.yield() }
    }

    /// SplitMix64: a fixed seed makes every run reproducible.
    public struct Random: RandomNumberGenerator {
        public var state: UInt64
        public init(state: UInt64) { self.state = state }
        public mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    public static func mutate(_ input: [UInt8], _ random: inout Random) -> [UInt8] {
        var bytes = input
        for _ in 0..<Int.random(in: 1...4, using: &random) {
            guard !bytes.isEmpty else { break }
            let at = Int.random(in: 0..<bytes.count, using: &random)
            switch Int.random(in: 0..<6, using: &random) {
            case 0: bytes[at] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &random)
            case 1: bytes[at] = [0x00, 0xFF, 0x7F, 0x80, 0x01, 0x16, 0x03][Int.random(in: 0..<7, using: &random)]
            case 2:  // a length field: two bytes set to something large, small or off by one
                if at + 1 < bytes.count {
                    let value = [0xFFFF, 0, 1, Int(bytes[at]) << 8 | Int(bytes[at + 1]) + 1, 0x4000][
                        Int.random(in: 0..<5, using: &random)
                    ]
                    bytes[at] = UInt8(truncatingIfNeeded: value >> 8)
                    bytes[at + 1] = UInt8(truncatingIfNeeded: value)
                }
            case 3: bytes.removeLast(Int.random(in: 0...(bytes.count - at), using: &random))
            case 4:
                let end = min(bytes.count, at + Int.random(in: 1...64, using: &random))
                bytes.insert(contentsOf: bytes[at..<end], at: at)
            default:
                bytes.insert(
                    contentsOf: (0..<Int.random(in: 1...16, using: &random)).map { _ in
                        UInt8.random(in: 0...255, using: &random)
                    },
                    at: at
                )
            }
        }
        return bytes
    }
}
