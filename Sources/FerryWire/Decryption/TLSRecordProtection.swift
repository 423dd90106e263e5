import Crypto
import CryptoExtras
public import NIOCore

/// Decrypts the records of one direction with one set of keys (TLS 1.3 traffic keys, or TLS 1.2 AEAD
/// keys), counting sequence numbers.
public struct TLSRecordProtection: Sendable {
    public enum Layout: Sendable {
        /// TLS 1.3: nonce = iv XOR seq, AAD = record header, inner content type at the end.
        case tls13
        /// TLS 1.2 AES-GCM: 4-byte salt + 8-byte explicit nonce per record, AAD = seq + header with the plaintext length.
        case tls12GCM
        /// TLS 1.2 ChaCha20-Poly1305 (RFC 7905): nonce = iv XOR seq, AAD as for GCM.
        case tls12ChaCha
    }

    let aead: TLSCipherSuite.AEAD
    let key: SymmetricKey
    var iv: [UInt8]
    let layout: Layout
    public private(set) var sequence: UInt64 = 0
    /// TLS 1.0-1.2 CBC suites: the MAC and how records are laid out; nil for AEAD.
    var cbc: CBCState?

    struct CBCState: Sendable {
        let suite: TLSCipherSuite.CBC
        let macKey: SymmetricKey
        /// TLS 1.1 and later carry each record's IV in front of it; TLS 1.0 chains from the last block.
        let explicitIV: Bool
        /// RFC 7366 encrypt-then-MAC, when both hellos carried the extension.
        let encryptThenMAC: Bool
        /// SSLv3: its own MAC (RFC 6101 §5.2.3.1) and padding of any content.
        let ssl3: Bool
        /// The Triple DES key schedule, for 3DES suites.
        let tripleDES: TripleDES?
    }

    init(aead: TLSCipherSuite.AEAD, key: [UInt8], iv: [UInt8], layout: Layout) {
        self.aead = aead
        self.key = SymmetricKey(data: key)
        self.iv = iv
        self.layout = layout
    }

    init(
        cbc: TLSCipherSuite.CBC,
        key: [UInt8],
        macKey: [UInt8],
        iv: [UInt8],
        explicitIV: Bool,
        encryptThenMAC: Bool,
        ssl3: Bool = false
    ) {
        self.aead = .aes128GCM  // unused for CBC
        self.key = SymmetricKey(data: key)
        self.iv = iv
        self.layout = .tls12GCM  // unused for CBC
        self.cbc = CBCState(
            suite: cbc,
            macKey: SymmetricKey(data: macKey),
            explicitIV: explicitIV,
            encryptThenMAC: encryptThenMAC,
            ssl3: ssl3,
            tripleDES: cbc.cipher == .tripleDES ? TripleDES(key: key) : nil
        )
    }

    /// The plaintext and its real content type, or `nil` when authentication fails (wrong keys).
    public mutating func open(_ record: TLSRecord) -> (contentType: TLSContentType, plaintext: ByteBuffer)? {
        if let cbc { return openCBC(record, cbc) }
        var fragment = record.fragment
        let tagLength = 16
        var nonce: [UInt8]
        var aad: [UInt8]
        switch layout {
        case .tls13:
            guard fragment.readableBytes > tagLength else { return nil }
            nonce = xorSequence()
            aad = [
                record.contentType.rawValue, UInt8(record.version.rawValue >> 8), UInt8(record.version.rawValue & 0xFF),
                UInt8(fragment.readableBytes >> 8), UInt8(fragment.readableBytes & 0xFF),
            ]
        case .tls12GCM:
            guard fragment.readableBytes > 8 + tagLength, let explicit = fragment.readBytes(length: 8) else {
                return nil
            }
            nonce = iv + explicit
            aad = tls12AAD(record, plaintextLength: fragment.readableBytes - tagLength)
        case .tls12ChaCha:
            guard fragment.readableBytes > tagLength else { return nil }
            nonce = xorSequence()
            aad = tls12AAD(record, plaintextLength: fragment.readableBytes - tagLength)
        }
        guard let ciphertext = fragment.readBytes(length: fragment.readableBytes - tagLength),
            let tag = fragment.readBytes(length: tagLength)
        else { return nil }
        let plaintext: [UInt8]
        do {
            switch aead {
            case .aes128GCM, .aes256GCM:
                let box = try AES.GCM.SealedBox(nonce: AES.GCM.Nonce(data: nonce), ciphertext: ciphertext, tag: tag)
                plaintext = Array(try AES.GCM.open(box, using: key, authenticating: aad))
            case .chacha20Poly1305:
                let box = try ChaChaPoly.SealedBox(
                    nonce: ChaChaPoly.Nonce(data: nonce),
                    ciphertext: ciphertext,
                    tag: tag
                )
                plaintext = Array(try ChaChaPoly.open(box, using: key, authenticating: aad))
            }
        } catch {
            return nil
        }
        sequence &+= 1
        if layout == .tls13 {
            // TLSInnerPlaintext: content, the real type, zero padding.
            guard let typeIndex = plaintext.lastIndex(where: { $0 != 0 }) else { return nil }
            var buffer = ByteBuffer()
            buffer.writeBytes(plaintext[..<typeIndex])
            return (TLSContentType(rawValue: plaintext[typeIndex]), buffer)
        }
        return (record.contentType, ByteBuffer(bytes: plaintext))
    }

    /// A CBC record (RFC 5246 §6.2.3.2, RFC 2246 §6.2.3.2, RFC 6101 §5.2.3.2, RFC 7366): MAC-then-encrypt with
    /// padding, or encrypt-then-MAC; the MAC is verified, so wrong keys are never shown as plaintext.
    private mutating func openCBC(
        _ record: TLSRecord,
        _ state: CBCState
    ) -> (contentType: TLSContentType, plaintext: ByteBuffer)? {
        let fragment = Array(record.fragment.readableBytesView)
        let macLength = state.suite.macLength
        let block = state.suite.blockLength
        var body = fragment
        if state.encryptThenMAC {
            guard fragment.count >= macLength + block else { return nil }
            body = Array(fragment.dropLast(macLength))
            let expected = mac(state, type: record.contentType, version: record.version, content: body)
            guard constantTimeEqual(expected, Array(fragment.suffix(macLength))) else { return nil }
        }
        var ivBytes = iv
        var ciphertext = body
        if state.explicitIV {
            guard body.count >= 2 * block else { return nil }
            ivBytes = Array(body.prefix(block))
            ciphertext = Array(body.dropFirst(block))
        }
        guard !ciphertext.isEmpty, ciphertext.count % block == 0,
            let decrypted = decrypt(ciphertext, iv: ivBytes, state)
        else { return nil }
        var plain = decrypted
        // Padding: its length in the last byte; TLS fills it with that value, SSLv3 with anything (shorter than a block).
        guard let padLength = plain.last.map(Int.init), padLength + 1 <= plain.count,
            state.ssl3 ? padLength < block : plain.suffix(padLength + 1).allSatisfy({ Int($0) == padLength })
        else { return nil }
        plain.removeLast(padLength + 1)
        if !state.encryptThenMAC {
            guard plain.count >= macLength else { return nil }
            let content = Array(plain.dropLast(macLength))
            let expected = mac(state, type: record.contentType, version: record.version, content: content)
            guard constantTimeEqual(expected, Array(plain.suffix(macLength))) else { return nil }
            plain = content
        }
        if !state.explicitIV { iv = Array(ciphertext.suffix(block)) }
        sequence &+= 1
        return (record.contentType, ByteBuffer(bytes: plain))
    }

    private func decrypt(_ ciphertext: [UInt8], iv: [UInt8], _ state: CBCState) -> [UInt8]? {
        if let tripleDES = state.tripleDES { return tripleDES.decryptCBC(ciphertext, iv: iv) }
        guard let civ = try? AES._CBC.IV(ivBytes: iv),
            let decrypted = try? AES._CBC.decrypt(ciphertext, using: key, iv: civ, noPadding: true)
        else { return nil }
        return Array(decrypted)
    }

    /// HMAC over seq_num + type + version + length + content (RFC 5246 §6.2.3.1); SSLv3's keyed hash
    /// hash(secret + pad_2 + hash(secret + pad_1 + seq_num + type + length + content)) (RFC 6101 §5.2.3.1).
    private func mac(_ state: CBCState, type: TLSContentType, version: TLSProtocolVersion, content: [UInt8]) -> [UInt8]
    {
        var data = (0..<8).reversed().map { UInt8(truncatingIfNeeded: sequence >> (8 * $0)) }
        data.append(type.rawValue)
        if !state.ssl3 { data += [UInt8(version.rawValue >> 8), UInt8(version.rawValue & 0xFF)] }
        data += [UInt8(content.count >> 8), UInt8(content.count & 0xFF)]
        data += content
        if state.ssl3 {
            // Only SHA-1 CBC suites exist for SSLv3 here: pads of 40 bytes.
            let secret = state.macKey.withUnsafeBytes { Array($0) }
            let inner = Array(Insecure.SHA1.hash(data: secret + [UInt8](repeating: 0x36, count: 40) + data))
            return Array(Insecure.SHA1.hash(data: secret + [UInt8](repeating: 0x5C, count: 40) + inner))
        }
        switch state.suite.mac {
        case .sha1: return Array(HMAC<Insecure.SHA1>.authenticationCode(for: data, using: state.macKey))
        case .sha256: return Array(HMAC<SHA256>.authenticationCode(for: data, using: state.macKey))
        case .sha384: return Array(HMAC<SHA384>.authenticationCode(for: data, using: state.macKey))
        }
    }

    private func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        return zip(a, b).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }

    private func xorSequence() -> [UInt8] {
        var nonce = iv
        for index in 0..<8 {
            nonce[nonce.count - 1 - index] ^= UInt8(truncatingIfNeeded: sequence >> (8 * index))
        }
        return nonce
    }

    private func tls12AAD(_ record: TLSRecord, plaintextLength: Int) -> [UInt8] {
        var aad = (0..<8).reversed().map { UInt8(truncatingIfNeeded: sequence >> (8 * $0)) }
        aad += [
            record.contentType.rawValue, UInt8(record.version.rawValue >> 8), UInt8(record.version.rawValue & 0xFF),
            UInt8(plaintextLength >> 8), UInt8(plaintextLength & 0xFF),
        ]
        return aad
    }

    // MARK: Key derivation

    /// TLS 1.3 traffic keys from a traffic secret (RFC 8446 §7.3).
    public static func tls13(secret: [UInt8], suite: TLSCipherSuite) -> TLSRecordProtection? {
        guard let aead = suite.aead else { return nil }
        let key = expandLabel(secret: secret, label: "key", length: aead.keyLength, sha384: suite.usesSHA384)
        let iv = expandLabel(secret: secret, label: "iv", length: 12, sha384: suite.usesSHA384)
        return TLSRecordProtection(aead: aead, key: key, iv: iv, layout: .tls13)
    }

    /// The next TLS 1.3 traffic secret after a KeyUpdate (RFC 8446 §7.2).
    public static func nextSecret(_ secret: [UInt8], suite: TLSCipherSuite) -> [UInt8] {
        expandLabel(secret: secret, label: "traffic upd", length: suite.usesSHA384 ? 48 : 32, sha384: suite.usesSHA384)
    }

    /// HKDF-Expand-Label (RFC 8446 §7.1).
    static func expandLabel(secret: [UInt8], label: String, context: [UInt8] = [], length: Int, sha384: Bool) -> [UInt8]
    {
        let fullLabel = Array("tls13 \(label)".utf8)
        var info: [UInt8] = [UInt8(length >> 8), UInt8(length & 0xFF), UInt8(fullLabel.count)]
        info += fullLabel
        info.append(UInt8(context.count))
        info += context
        let prk = SymmetricKey(data: secret)
        let output =
            sha384
            ? HKDF<SHA384>.expand(pseudoRandomKey: prk, info: info, outputByteCount: length)
            : HKDF<SHA256>.expand(pseudoRandomKey: prk, info: info, outputByteCount: length)
        return output.withUnsafeBytes { Array($0) }
    }

    /// TLS 1.2 AEAD keys for both directions from the master secret (RFC 5246 §6.3, RFC 5288, RFC 7905).
    public static func tls12(
        masterSecret: [UInt8],
        clientRandom: [UInt8],
        serverRandom: [UInt8],
        suite: TLSCipherSuite
    ) -> (client: TLSRecordProtection, server: TLSRecordProtection)? {
        guard let aead = suite.aead, masterSecret.count == 48 else { return nil }
        let ivLength = aead == .chacha20Poly1305 ? 12 : 4
        let block = prf(
            secret: masterSecret,
            label: "key expansion",
            seed: serverRandom + clientRandom,
            length: 2 * aead.keyLength + 2 * ivLength,
            sha384: suite.usesSHA384
        )
        let k = aead.keyLength
        let layout: Layout = aead == .chacha20Poly1305 ? .tls12ChaCha : .tls12GCM
        let client = TLSRecordProtection(
            aead: aead,
            key: Array(block[0..<k]),
            iv: Array(block[2 * k..<2 * k + ivLength]),
            layout: layout
        )
        let server = TLSRecordProtection(
            aead: aead,
            key: Array(block[k..<2 * k]),
            iv: Array(block[2 * k + ivLength..<2 * k + 2 * ivLength]),
            layout: layout
        )
        return (client, server)
    }

    /// CBC keys for both directions (RFC 5246 §6.3; RFC 2246 §6.3 with its MD5/SHA-1 PRF; RFC 6101 §6.2.2 for
    /// SSLv3): MAC keys, then encryption keys, then (SSLv3 and TLS 1.0) the first IVs.
    public static func cbc(
        masterSecret: [UInt8],
        clientRandom: [UInt8],
        serverRandom: [UInt8],
        suite: TLSCipherSuite,
        version: TLSProtocolVersion,
        encryptThenMAC: Bool
    ) -> (client: TLSRecordProtection, server: TLSRecordProtection)? {
        guard let cbc = suite.cbc, masterSecret.count == 48, version >= .ssl3 else { return nil }
        // SSLv3 has no SHA-2 MACs (and Ferry does not decrypt its MD5 suites, which are RC4 or DES).
        if version == .ssl3, cbc.mac != .sha1 { return nil }
        let m = cbc.macLength
        let k = cbc.keyLength
        let b = cbc.blockLength
        let length = 2 * m + 2 * k + 2 * b
        let seed = serverRandom + clientRandom
        let block =
            version >= .tls12
            ? prf(secret: masterSecret, label: "key expansion", seed: seed, length: length, sha384: suite.usesSHA384)
            : version >= .tls10
                ? legacyPRF(secret: masterSecret, label: "key expansion", seed: seed, length: length)
                : ssl3KeyBlock(masterSecret: masterSecret, seed: seed, length: length)
        func slice(_ start: Int, _ count: Int) -> [UInt8] { Array(block[start..<start + count]) }
        let explicit = version >= .tls11
        let ssl3 = version == .ssl3
        let etm = encryptThenMAC && !ssl3
        let client = TLSRecordProtection(
            cbc: cbc,
            key: slice(2 * m, k),
            macKey: slice(0, m),
            iv: slice(2 * m + 2 * k, b),
            explicitIV: explicit,
            encryptThenMAC: etm,
            ssl3: ssl3
        )
        let server = TLSRecordProtection(
            cbc: cbc,
            key: slice(2 * m + k, k),
            macKey: slice(m, m),
            iv: slice(2 * m + 2 * k + b, b),
            explicitIV: explicit,
            encryptThenMAC: etm,
            ssl3: ssl3
        )
        return (client, server)
    }

    /// SSLv3's key block: MD5(master + SHA1("A" + master + seed)) + MD5(master + SHA1("BB" + master + seed)) + ...
    /// (RFC 6101 §6.2.2).
    static func ssl3KeyBlock(masterSecret: [UInt8], seed: [UInt8], length: Int) -> [UInt8] {
        var output: [UInt8] = []
        var round = 1
        while output.count < length {
            let salt = [UInt8](repeating: UInt8(ascii: "A") + UInt8(round - 1), count: round)
            let inner = Array(Insecure.SHA1.hash(data: salt + masterSecret + seed))
            output += Array(Insecure.MD5.hash(data: masterSecret + inner))
            round += 1
        }
        return Array(output.prefix(length))
    }

    /// The TLS 1.0/1.1 PRF: P_MD5 over the secret's first half XOR P_SHA1 over its second (RFC 2246 §5).
    static func legacyPRF(secret: [UInt8], label: String, seed: [UInt8], length: Int) -> [UInt8] {
        let half = (secret.count + 1) / 2
        let fullSeed = Array(label.utf8) + seed
        func p<H: HashFunction>(_ hash: H.Type, _ key: [UInt8]) -> [UInt8] {
            let symmetric = SymmetricKey(data: key)
            var output: [UInt8] = []
            var a = fullSeed
            while output.count < length {
                a = Array(HMAC<H>.authenticationCode(for: a, using: symmetric))
                output += Array(HMAC<H>.authenticationCode(for: a + fullSeed, using: symmetric))
            }
            return Array(output.prefix(length))
        }
        let md5 = p(Insecure.MD5.self, Array(secret.prefix(half)))
        let sha1 = p(Insecure.SHA1.self, Array(secret.suffix(half)))
        return zip(md5, sha1).map { $0 ^ $1 }
    }

    /// The TLS 1.2 PRF: P_SHA256 (or P_SHA384) over label + seed.
    static func prf(secret: [UInt8], label: String, seed: [UInt8], length: Int, sha384: Bool) -> [UInt8] {
        let key = SymmetricKey(data: secret)
        let fullSeed = Array(label.utf8) + seed
        func mac(_ data: [UInt8]) -> [UInt8] {
            sha384
                ? Array(HMAC<SHA384>.authenticationCode(for: data, using: key))
                : Array(HMAC<SHA256>.authenticationCode(for: data, using: key))
        }
        var output: [UInt8] = []
        var a = fullSeed
        while output.count < length {
            a = mac(a)
            output += mac(a + fullSeed)
        }
        return Array(output.prefix(length))
    }
}
