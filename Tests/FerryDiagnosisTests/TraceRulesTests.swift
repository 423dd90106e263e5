import Crypto
import FerryDiagnosis
import NIOCore
import Testing

@testable import FerryWire

/// The trace rules on handshakes built here byte by byte, for what no peer on this machine sends.
@Suite("Trace rules on built handshakes")
struct TraceRulesTests {
    static func be16(_ value: Int) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xFF)] }

    static func handshakeRecord(type: UInt8, body: [UInt8], version: [UInt8] = [0x03, 0x03]) -> [UInt8] {
        let message = [type, 0] + be16(body.count) + body
        return [0x16] + version + be16(message.count) + message
    }

    /// A TLS 1.3 ClientHello, a ServerHello choosing TLS_AES_128_GCM_SHA256, and the server's encrypted
    /// CertificateRequest carrying `authorities` as its certificate_authorities extension.
    static func tls13(authorities: [UInt8]) -> TLSConversation {
        let random = [UInt8](repeating: 7, count: 32)
        let versions: [UInt8] = [0x00, 0x2B, 0x00, 0x03, 0x02, 0x03, 0x04]
        let hello = [0x03, 0x03] + random + [0] + be16(2) + [0x13, 0x01] + [1, 0] + be16(versions.count) + versions
        let selected: [UInt8] = [0x00, 0x2B, 0x00, 0x02, 0x03, 0x04]
        let serverHello =
            [0x03, 0x03] + [UInt8](repeating: 9, count: 32) + [0] + [0x13, 0x01, 0] + be16(selected.count) + selected
        // CertificateRequest: empty context; signature_algorithms (ecdsa_secp256r1_sha256) and certificate_authorities.
        let extensions: [UInt8] =
            [0x00, 0x0D, 0x00, 0x04, 0x00, 0x02, 0x04, 0x03] + [0x00, 0x2F] + be16(authorities.count) + authorities
        let request = [13, 0] + be16(1 + 2 + extensions.count) + [0] + be16(extensions.count) + extensions
        // Sealed under a made-up server handshake traffic secret, as RFC 8446 §5.2 says.
        let secret = [UInt8](repeating: 0x42, count: 32)
        let key = TLSRecordProtection.expandLabel(secret: secret, label: "key", length: 16, sha384: false)
        let iv = TLSRecordProtection.expandLabel(secret: secret, label: "iv", length: 12, sha384: false)
        let inner = request + [22]
        let header: [UInt8] = [23, 3, 3] + be16(inner.count + 16)
        let sealed = try! AES.GCM.seal(
            inner,
            using: SymmetricKey(data: key),
            nonce: AES.GCM.Nonce(data: iv),
            authenticating: header
        )
        let record = header + Array(sealed.ciphertext) + Array(sealed.tag)
        var conversation = TLSConversation(
            keyLog: TLSKeyLog(
                text:
                    "SERVER_HANDSHAKE_TRAFFIC_SECRET \(String(repeating: "07", count: 32)) \(String(repeating: "42", count: 32))"
            )
        )
        conversation.feed(
            ByteBuffer(bytes: handshakeRecord(type: 1, body: hello, version: [3, 1])),
            from: .clientToServer,
            at: 0
        )
        conversation.feed(
            ByteBuffer(bytes: handshakeRecord(type: 2, body: serverHello) + record),
            from: .serverToClient,
            at: 0.001
        )
        return conversation
    }

    @Test("a TLS 1.3 certificate_authorities extension with no names is an error; with names, fine")
    func emptyExtension() throws {
        let empty = Self.tls13(authorities: [0x00, 0x00])
        #expect(empty.records.last?.protection == .decrypted)
        #expect(empty.certificateRequest?.hasAuthoritiesExtension == true)
        let findings = TraceRules.findings(empty, local: .clientToServer)
        #expect(findings.map(\.id) == ["tls13-empty-ca-extension"])
        #expect(findings.first?.rule.contains("RFC 8446 §4.2.4") == true)

        // One DN: SEQUENCE { SET { SEQUENCE { OID 2.5.4.3, UTF8String "CA" } } }.
        let name: [UInt8] = [0x30, 0x0D, 0x31, 0x0B, 0x30, 0x09, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0C, 0x02, 0x43, 0x41]
        let named = Self.tls13(authorities: Self.be16(2 + name.count) + Self.be16(name.count) + name)
        #expect(named.certificateRequest?.distinguishedNames.first?.rfc4514 == "CN=CA")
        #expect(TraceRules.findings(named, local: .clientToServer).isEmpty)
    }
}
