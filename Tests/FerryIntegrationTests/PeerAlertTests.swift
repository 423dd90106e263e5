import FerryTestSupport
import FerryWire
import Foundation
import NIOCore
import Testing

@testable import FerryDiagnosis

/// `peer-alert` for the alerts a real server sends to a malformed or inconsistent ClientHello: OpenSSL answers
/// a bad extension length with decode_error and a key share outside the offered groups with illegal_parameter.
@Suite("peer-alert from a real server's answer to bad ClientHellos")
struct PeerAlertTests {
    static func be16(_ value: Int) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xFF)] }

    /// A ClientHello record with these extension bytes (already with their block length, or malformed).
    static func hello(extensionsBlock: [UInt8]) -> ByteBuffer {
        let body: [UInt8] =
            [0x03, 0x03] + [UInt8](repeating: 0x5A, count: 32) + [0] + be16(4) + [0x13, 0x01, 0xC0, 0x2B] + [1, 0]
            + extensionsBlock
        let message: [UInt8] = [1, 0] + be16(body.count) + body
        return ByteBuffer(bytes: [0x16, 0x03, 0x01] + be16(message.count) + message)
    }

    @Test(
        "decode_error and illegal_parameter, each with what the client had sent just before",
        arguments: ["decode_error", "illegal_parameter"]
    )
    func alerts(expected: String) async throws {
        let openssl = try ExternalTool.require("openssl", installHint: "apt-get install openssl")
        let folder = try TemporaryDirectory("ferry-alerts")
        defer { folder.remove() }
        let pki = try TestPKI(directory: folder.path + "/pki")
        let port = freeLoopbackPort()
        let server = try BackgroundProcess(
            openssl,
            ["s_server", "-accept", "\(port)", "-cert", pki.serverCertificate, "-key", pki.serverKey]
        )
        #expect(try await server.waitForOutput("ACCEPT", timeout: 30), "\(server.output)")
        let block: [UInt8]
        if expected == "decode_error" {
            // An extensions block whose length runs past the extension inside it.
            block = Self.be16(16) + [0x00, 0x0A, 0x00, 0x20, 0x00, 0x02, 0x00, 0x17]
        } else {
            // TLS 1.3 offering only x25519 in supported_groups but a key share for secp256r1.
            let share: [UInt8] = [0x00, 0x17] + Self.be16(65) + [0x04] + [UInt8](repeating: 0x11, count: 64)
            var extensions: [UInt8] = [0x00, 0x2B, 0x00, 0x03, 0x02, 0x03, 0x04]
            extensions += [0x00, 0x0A, 0x00, 0x04, 0x00, 0x02, 0x00, 0x1D]
            extensions += [0x00, 0x0D, 0x00, 0x04, 0x00, 0x02, 0x04, 0x03]
            extensions += [0x00, 0x33] + Self.be16(share.count + 2) + Self.be16(share.count) + share
            block = Self.be16(extensions.count) + extensions
        }
        let outcome = try await RawExchange.run(
            host: "127.0.0.1",
            port: port,
            hello: Self.hello(extensionsBlock: block),
            connectTimeout: .seconds(5),
            timeout: .seconds(5)
        ) { outcome in
            outcome.chunks.contains { $0.direction == .serverToClient }
        }
        await server.stop()
        var conversation = TLSConversation()
        for chunk in outcome.chunks { conversation.feed(chunk.bytes, from: chunk.direction, at: chunk.time) }
        let findings = TraceRules.findings(conversation, local: .clientToServer)
        let alert = try #require(findings.first { $0.id == "peer-alert" }, "\(conversation.records)")
        let code = expected == "decode_error" ? 50 : 47
        #expect(alert.title == "The server aborted the handshake with \(expected) (\(code))")
        #expect(
            alert.evidence.contains { $0.hasPrefix("just before, the client had sent TLS1.0: HSHK( CLIENT_HELLO )") },
            "\(alert.evidence)"
        )
        #expect(alert.side == .peer)
    }
}
