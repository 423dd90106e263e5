import Crypto

/// The TLS 1.3 handshake traffic secrets of a connection whose (EC)DHE shared secret is known: what a probe
/// that built its own ClientHello needs to read the server's encrypted flight (RFC 8446 §7.1).
public enum TLS13HandshakeSecrets {
    /// Key-log lines (`CLIENT_HANDSHAKE_TRAFFIC_SECRET`, `SERVER_HANDSHAKE_TRAFFIC_SECRET`) for the connection.
    ///
    /// - Parameters:
    ///   - sharedSecret: the X25519 (or other group's) shared secret.
    ///   - transcript: the ClientHello and ServerHello handshake messages, headers included, as sent.
    public static func keyLogLines(
        sharedSecret: [UInt8],
        transcript: [UInt8],
        clientRandom: [UInt8],
        suite: TLSCipherSuite
    ) -> [String] {
        let sha384 = suite.usesSHA384
        let hashLength = sha384 ? 48 : 32
        func hash(_ bytes: [UInt8]) -> [UInt8] {
            sha384 ? Array(SHA384.hash(data: bytes)) : Array(SHA256.hash(data: bytes))
        }
        func extract(salt: [UInt8], key: [UInt8]) -> [UInt8] {
            let prk =
                sha384
                ? HKDF<SHA384>.extract(inputKeyMaterial: SymmetricKey(data: key), salt: salt).withUnsafeBytes {
                    Array($0)
                }
                : HKDF<SHA256>.extract(inputKeyMaterial: SymmetricKey(data: key), salt: salt).withUnsafeBytes {
                    Array($0)
                }
            return prk
        }
        let zeros = [UInt8](repeating: 0, count: hashLength)
        let early = extract(salt: zeros, key: zeros)
        let derived = TLSRecordProtection.expandLabel(
            secret: early,
            label: "derived",
            context: hash([]),
            length: hashLength,
            sha384: sha384
        )
        let handshake = extract(salt: derived, key: sharedSecret)
        let context = hash(transcript)
        let client = TLSRecordProtection.expandLabel(
            secret: handshake,
            label: "c hs traffic",
            context: context,
            length: hashLength,
            sha384: sha384
        )
        let server = TLSRecordProtection.expandLabel(
            secret: handshake,
            label: "s hs traffic",
            context: context,
            length: hashLength,
            sha384: sha384
        )
        return [
            "CLIENT_HANDSHAKE_TRAFFIC_SECRET \(hex(clientRandom)) \(hex(client))",
            "SERVER_HANDSHAKE_TRAFFIC_SECRET \(hex(clientRandom)) \(hex(server))",
        ]
    }
}
