import FerryTrace
import FerryWire
import NIOCore
import Testing

@Suite("TLS tap: what the handshake negotiated, from raw records")
struct TLSTapTests {
    /// A TLS 1.3 ServerHello record (TLS_AES_128_GCM_SHA256, x25519 key share), as a server sends it.
    static func tls13ServerHello() -> [UInt8] {
        var body: [UInt8] = [0x03, 0x03] + Array(repeating: 0x11, count: 32) + [32] + Array(repeating: 0x22, count: 32)
        body += [0x13, 0x01, 0x00]
        let extensions: [UInt8] =
            [0x00, 0x2B, 0x00, 0x02, 0x03, 0x04] + [0x00, 0x33, 0x00, 0x24, 0x00, 0x1D, 0x00, 0x20]
            + Array(repeating: 0x33, count: 32)
        body += [UInt8(extensions.count >> 8), UInt8(extensions.count & 0xFF)] + extensions
        return record(22, version: 0x0303, handshake(2, body))
    }

    /// An SSLv3 ServerHello followed by a CertificateRequest with an empty CA list, in one record (the incident).
    static func ssl3ServerFlight() -> [UInt8] {
        let hello: [UInt8] = [0x03, 0x00] + Array(repeating: 0x44, count: 32) + [0] + [0x00, 0x2F, 0x00]
        let certificateRequest: [UInt8] = [0x02, 0x01, 0x40, 0x00, 0x00]
        return record(22, version: 0x0300, handshake(2, hello) + handshake(13, certificateRequest) + handshake(14, []))
    }

    static func handshake(_ type: UInt8, _ body: [UInt8]) -> [UInt8] {
        [type, UInt8(body.count >> 16), UInt8((body.count >> 8) & 0xFF), UInt8(body.count & 0xFF)] + body
    }

    static func record(_ type: UInt8, version: UInt16, _ fragment: [UInt8]) -> [UInt8] {
        [type, UInt8(version >> 8), UInt8(version & 0xFF), UInt8(fragment.count >> 8), UInt8(fragment.count & 0xFF)]
            + fragment
    }

    /// Feeds bytes in pieces of `step` and collects the events.
    func feed(_ bytes: [UInt8], step: Int, role: TLSTapHandler.Role = .client) -> [TLSTapStateMachine.Event] {
        var machine = TLSTapStateMachine(role: role)
        var events: [TLSTapStateMachine.Event] = []
        var index = 0
        while index < bytes.count {
            let end = min(index + step, bytes.count)
            events += machine.received(ByteBuffer(bytes: bytes[index..<end]))
            index = end
        }
        return events
    }

    @Test(
        "a TLS 1.3 ServerHello gives version and cipher, drip-fed, whole or in batches",
        arguments: [1, 3, 7, 64, 100_000]
    )
    func tls13(step: Int) {
        let events = feed(Self.tls13ServerHello(), step: step)
        #expect(events == [.negotiated(.tls13, TLSCipherSuite(rawValue: 0x1301))])
        #expect(TLSCipherSuite(rawValue: 0x1301).description == "TLS_AES_128_GCM_SHA256")
    }

    @Test("an SSLv3 flight with several messages in one record is read", arguments: [1, 5, 1000])
    func ssl3(step: Int) {
        let events = feed(Self.ssl3ServerFlight(), step: step)
        #expect(events == [.negotiated(.ssl3, TLSCipherSuite(rawValue: 0x002F))])
    }

    @Test("plaintext alerts are recorded per direction")
    func alerts() {
        var machine = TLSTapStateMachine(role: .client)
        let received = machine.received(ByteBuffer(bytes: Self.record(21, version: 0x0303, [2, 40])))
        #expect(received == [.alertReceived(TLSAlert(level: 2, description: .handshakeFailure))])
        let sent = machine.sent(ByteBuffer(bytes: Self.record(21, version: 0x0300, [2, 47])))
        #expect(sent == [.alertSent(TLSAlert(level: 2, description: .illegalParameter))])
        #expect(TLSAlert(level: 2, description: .illegalParameter).description == "FATAL: ILLEGAL_PARAMETER")
    }

    @Test("plaintext HTTP on a TLS connection is reported, once")
    func notTLS() {
        var machine = TLSTapStateMachine(role: .client)
        let events = machine.received(ByteBuffer(string: "HTTP/1.1 400 Bad Request\r\n\r\n"))
        #expect(events.count == 1)
        guard case .notTLS(let why) = events.first else {
            Issue.record("expected notTLS, got \(events)")
            return
        }
        #expect(why.contains("'HTTP/'"))
        #expect(machine.received(ByteBuffer(string: "more")).isEmpty)
    }

    @Test("oversized records and truncated hellos are errors, not crashes")
    func malformed() {
        var machine = TLSTapStateMachine(role: .client)
        let events = machine.received(ByteBuffer(bytes: [22, 3, 3, 0xFF, 0xFF]))
        #expect(events.count == 1)
        let truncated = Self.record(22, version: 0x0303, Self.handshake(2, [3, 3, 1, 2]))
        var other = TLSTapStateMachine(role: .client)
        #expect(other.received(ByteBuffer(bytes: truncated)).count == 1)
    }
}
