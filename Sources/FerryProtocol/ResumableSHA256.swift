public import NIOCore

/// SHA-256 (FIPS 180-4) whose running state can be written down at a 64-byte boundary and taken up again later,
/// in another process or on another node: a resumable upload kept in an object store continues its whole-file
/// digest from the last completed part wherever the next request lands. swift-crypto's SHA256 (BoringSSL) does
/// not expose its state, so this one is written out; it is used only where the state must travel, and checked
/// against swift-crypto on random data and against the FIPS 180-4 examples.
public struct ResumableSHA256: Sendable {
    /// What is kept between requests: the eight working words and the bytes hashed so far (a multiple of 64).
    public struct State: Codable, Equatable, Sendable {
        public var words: [UInt32]
        public var length: Int64

        public init(words: [UInt32], length: Int64) {
            self.words = words
            self.length = length
        }
    }

    private var h0: UInt32 = 0x6a09_e667
    private var h1: UInt32 = 0xbb67_ae85
    private var h2: UInt32 = 0x3c6e_f372
    private var h3: UInt32 = 0xa54f_f53a
    private var h4: UInt32 = 0x510e_527f
    private var h5: UInt32 = 0x9b05_688c
    private var h6: UInt32 = 0x1f83_d9ab
    private var h7: UInt32 = 0x5be0_cd19
    /// The start of a block not yet hashed (fewer than 64 bytes).
    private var pending: [UInt8] = []
    /// Bytes given so far.
    public private(set) var length: Int64 = 0

    public init() {}

    /// Takes up a state written down earlier.
    public init(resuming state: State) throws(StateError) {
        guard state.words.count == 8, state.length >= 0, state.length % 64 == 0 else { throw StateError() }
        (h0, h1, h2, h3) = (state.words[0], state.words[1], state.words[2], state.words[3])
        (h4, h5, h6, h7) = (state.words[4], state.words[5], state.words[6], state.words[7])
        length = state.length
    }

    /// A saved state that is not one: wrong number of words, or a length that is not a whole number of blocks.
    public struct StateError: Error, CustomStringConvertible {
        public var description: String { "a saved SHA-256 state needs 8 words and a length that is a multiple of 64" }
    }

    /// The state to write down; only at a block boundary (a length that is a multiple of 64), else `nil`.
    public var state: State? {
        guard pending.isEmpty else { return nil }
        return State(words: [h0, h1, h2, h3, h4, h5, h6, h7], length: length)
    }

    public mutating func update(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { update($0) }
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        length += Int64(bytes.count)
        var offset = 0
        if !pending.isEmpty {
            let taken = min(64 - pending.count, bytes.count)
            pending += bytes[0..<taken]
            offset = taken
            guard pending.count == 64 else { return }
            pending.withUnsafeBytes { compress($0, blocks: 1) }
            pending.removeAll(keepingCapacity: true)
        }
        let blocks = (bytes.count - offset) / 64
        if blocks > 0 {
            compress(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + blocks * 64)]), blocks: blocks)
            offset += blocks * 64
        }
        if offset < bytes.count { pending += bytes[offset...] }
    }

    /// The digest of everything given (the value stays usable: finishing works on a copy).
    public func finalize() -> [UInt8] {
        var copy = self
        let bits = UInt64(length) &* 8
        var tail = pending
        tail.append(0x80)
        while tail.count % 64 != 56 { tail.append(0) }
        for shift in stride(from: 56, through: 0, by: -8) {
            tail.append(UInt8(truncatingIfNeeded: bits >> UInt64(shift)))
        }
        tail.withUnsafeBytes { copy.compress($0, blocks: tail.count / 64) }
        var digest: [UInt8] = []
        digest.reserveCapacity(32)
        for word in [copy.h0, copy.h1, copy.h2, copy.h3, copy.h4, copy.h5, copy.h6, copy.h7] {
            for shift in [24, 16, 8, 0] { digest.append(UInt8(truncatingIfNeeded: word >> UInt32(shift))) }
        }
        return digest
    }

    @inline(__always)
    private static func rotate(_ value: UInt32, _ count: UInt32) -> UInt32 {
        (value >> count) | (value << (32 - count))
    }

    private mutating func compress(_ data: UnsafeRawBufferPointer, blocks: Int) {
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 64) { w in
            for block in 0..<blocks {
                let base = block * 64
                for index in 0..<16 {
                    w[index] = UInt32(bigEndian: data.loadUnaligned(fromByteOffset: base + index * 4, as: UInt32.self))
                }
                for index in 16..<64 {
                    let a = w[index - 15]
                    let b = w[index - 2]
                    let s0 = Self.rotate(a, 7) ^ Self.rotate(a, 18) ^ (a >> 3)
                    let s1 = Self.rotate(b, 17) ^ Self.rotate(b, 19) ^ (b >> 10)
                    w[index] = w[index - 16] &+ s0 &+ w[index - 7] &+ s1
                }
                var (a, b, c, d, e, f, g, h) = (h0, h1, h2, h3, h4, h5, h6, h7)
                for index in 0..<64 {
                    let s1 = Self.rotate(e, 6) ^ Self.rotate(e, 11) ^ Self.rotate(e, 25)
                    let choice = (e & f) ^ (~e & g)
                    let t1 = h &+ s1 &+ choice &+ Self.k[index] &+ w[index]
                    let s0 = Self.rotate(a, 2) ^ Self.rotate(a, 13) ^ Self.rotate(a, 22)
                    let majority = (a & b) ^ (a & c) ^ (b & c)
                    let t2 = s0 &+ majority
                    (h, g, f, e, d, c, b, a) = (g, f, e, d &+ t1, c, b, a, t1 &+ t2)
                }
                h0 = h0 &+ a
                h1 = h1 &+ b
                h2 = h2 &+ c
                h3 = h3 &+ d
                h4 = h4 &+ e
                h5 = h5 &+ f
                h6 = h6 &+ g
                h7 = h7 &+ h
            }
        }
    }

    private static let k: [UInt32] = [
        0x428a_2f98, 0x7137_4491, 0xb5c0_fbcf, 0xe9b5_dba5, 0x3956_c25b, 0x59f1_11f1, 0x923f_82a4, 0xab1c_5ed5,
        0xd807_aa98, 0x1283_5b01, 0x2431_85be, 0x550c_7dc3, 0x72be_5d74, 0x80de_b1fe, 0x9bdc_06a7, 0xc19b_f174,
        0xe49b_69c1, 0xefbe_4786, 0x0fc1_9dc6, 0x240c_a1cc, 0x2de9_2c6f, 0x4a74_84aa, 0x5cb0_a9dc, 0x76f9_88da,
        0x983e_5152, 0xa831_c66d, 0xb003_27c8, 0xbf59_7fc7, 0xc6e0_0bf3, 0xd5a7_9147, 0x06ca_6351, 0x1429_2967,
        0x27b7_0a85, 0x2e1b_2138, 0x4d2c_6dfc, 0x5338_0d13, 0x650a_7354, 0x766a_0abb, 0x81c2_c92e, 0x9272_2c85,
        0xa2bf_e8a1, 0xa81a_664b, 0xc24b_8b70, 0xc76c_51a3, 0xd192_e819, 0xd699_0624, 0xf40e_3585, 0x106a_a070,
        0x19a4_c116, 0x1e37_6c08, 0x2748_774c, 0x34b0_bcb5, 0x391c_0cb3, 0x4ed8_aa4a, 0x5b9c_ca4f, 0x682e_6ff3,
        0x748f_82ee, 0x78a5_636f, 0x84c8_7814, 0x8cc7_0208, 0x90be_fffa, 0xa450_6ceb, 0xbef9_a3f7, 0xc671_78f2,
    ]
}
