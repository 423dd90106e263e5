import FerryTrace
import FerryWire
import NIOCore
import Testing

/// The decoder on real bytes: an SSLv3 server flight from tlslite-ng answering OpenSSL's ClientHello (the
/// incident's shape: CertificateRequest with an empty CA list), and OpenSSL 3's TLS 1.3 ClientHello. Each is
/// fed whole, one byte at a time, and in odd-sized batches, and must decode the same way.
@Suite("TLS wire decoder")
struct WireDecoderTests {
    /// OpenSSL 3.0 `s_client -tls1_2 -cipher AES128-SHA` ClientHello.
    static let legacyClientHello = bytes([
        "16030100710100006d030330c36200d36dba0ef0ee4592646dd04a77342a035334c1c3e46df21e7c74a8aa000004002f00ff01000040002300000016",
        "000000170000000d0030002e040305030603080708080809080a080b080408050806040105010601030302030301020103020202040205020602",
    ])
    /// tlslite-ng 0.8 limited to SSLv3, `reqCert=True, reqCAs=None`: ServerHello, Certificate,
    /// CertificateRequest (Distinguished Names Length 0), ServerHelloDone, each in its own SSLv3 record.
    static let sslv3ServerFlight = bytes([
        "1603000039020000350300cc4f9b34de702311037d9761e3aeb1df6a745fddf14d69267aceb58b5d2e88d300002f00000d0016000000170000ff0100",
        "010016030003450b00034100033e00033b308203373082021fa00302010202147a50b484ba72ec0f68577d9bd433bfe39f304a9d300d06092a864886",
        "f70d01010b0500302b3117301506035504030c0e6c65676163792e6578616d706c653110300e060355040a0c07506172746e6572301e170d32363131",
        "32393035303135395a170d3236313230313035303135395a302b3117301506035504030c0e6c65676163792e6578616d706c653110300e060355040a",
        "0c07506172746e657230820122300d06092a864886f70d01010105000382010f003082010a0282010100b0ae579d504d8355cfce395d7ccd4a1ae680",
        "4d906098c53fb729278d9ac383702835341a5d0952cc142e330018d6533ae10f7c2f0b9351c40f296f61e7e5e2ecd442e87b6963682e390825571e77",
        "3bec0b176a4f1354966567d17256cfd3089d93220d5b24c234e16a1288adb4e7a5e3db3b05a9dfdedc414fd01f9dbffdf0c9333a393628b6c27f9e63",
        "439cabef23ffcb9b31399be089b1e90a15d98d148eacd46492ec1b7dbb21fdc7e0e67d5efbf463b4bede6b3e557a05e1722aa7e086e14b840557e8cd",
        "a675af5b9b56a392f2d4755ea00cd5e3447df941715dde9f751bfefa8b6a175a5ac943f12875050185267d4a7e814370e28db5a1f2f34ee47a930203",
        "010001a3533051301d0603551d0e0416041493fc1671bddaa4f416ba659ab25507322ab042d9301f0603551d2304183016801493fc1671bddaa4f416",
        "ba659ab25507322ab042d9300f0603551d130101ff040530030101ff300d06092a864886f70d01010b0500038201010056c51c63d03197df4bd705ac",
        "ed1747382772b52ae8df52250ac038ece3e7890b02b5d5c0aded3d14c855de7b16a4ebe0a00fb1f635df504dc8ac5dc192482bb3fd17ae05f021e2a7",
        "4ae287eb1210334bf92e891ee9df1752f94fcc10401e74c66f80d8019d56736a96e2ef13075ce8979f76dc27147a2afd4e168c7ee07f83962ec34256",
        "0ace47f15f3c4d701cb59d77f493c32b38c4ef3516ab1c7a57252a789320fb473d68aa45049f569cef11811292b1dcf01ba1c5ca55e585403bf63930",
        "862c11285095c4be4c6941c85839a80a4da03bad44cb0775e292b74e226266fa069feaa0736e7acc03f4f3c7df63054bfe2e18a5d94ef9a7aa2c2c6f",
        "b75f1275160300000a0d00000603014002000016030000040e000000",
    ])
    /// OpenSSL's answer: protocol_version, in a record stamped 0x0303 although the session is SSLv3.
    static let opensslAlert = bytes(["15030300020246"])
    /// What IBM System SSL sends instead (the incident): fatal illegal_parameter in an SSLv3 record.
    static let systemSSLAlert: [UInt8] = [0x15, 0x03, 0x00, 0x00, 0x02, 0x02, 0x2F]
    /// OpenSSL 3.0 `s_client` TLS 1.3 ClientHello.
    static let tls13ClientHello = bytes([
        "16030101240100012003031320fb0e7db45ae1f93b5f90fa2863143d8140c88a4b0f1a1cf5827b571451c3206d351e2c522ca20cde6aaa10c9824f20",
        "1d88ea0c1c8b476ca97c96671069db7d003e130213031301c02cc030009fcca9cca8ccaac02bc02f009ec024c028006bc023c0270067c00ac0140039",
        "c009c0130033009d009c003d003c0035002f00ff01000099000b000403000102000a00160014001d0017001e00190018010001010102010301040023",
        "00000016000000170000000d002a0028040305030603080708080809080a080b080408050806040105010601030303010302040205020602002b0009",
        "080304030303020301002d00020101003300260024001d0020a470a7dcc5a2f042a6b8c929a8e8c301addaced5868b8d0a26434eac5e0ed271",
    ])

    enum Feeding: String, CaseIterable, CustomTestStringConvertible {
        case whole, oneByteAtATime, batchesOfSeven
        var testDescription: String { rawValue }
    }

    static func bytes(_ lines: [String]) -> [UInt8] {
        let text = lines.joined()
        return stride(from: 0, to: text.count, by: 2).map { offset in
            let start = text.index(text.startIndex, offsetBy: offset)
            return UInt8(text[start..<text.index(start, offsetBy: 2)], radix: 16)!
        }
    }

    static func decode(_ flights: [(TLSDirection, [UInt8])], _ feeding: Feeding) -> TLSConversation {
        var conversation = TLSConversation()
        for (index, (direction, bytes)) in flights.enumerated() {
            let size = feeding == .whole ? bytes.count : feeding == .oneByteAtATime ? 1 : 7
            for start in stride(from: 0, to: bytes.count, by: size) {
                conversation.feed(
                    ByteBuffer(bytes: bytes[start..<min(start + size, bytes.count)]),
                    from: direction,
                    at: Double(index) * 0.1
                )
            }
        }
        return conversation
    }

    /// What a record decodes to, without its timing and read boundaries.
    static func shape(_ conversation: TLSConversation) -> [String] {
        conversation.records.map { "\($0.direction) \($0.version) \($0.outerType) \($0.protection) \($0.content)" }
    }

    @Test("the incident's flight decodes the same whichever way the bytes arrive", arguments: Feeding.allCases)
    func incidentFlight(feeding: Feeding) throws {
        let flights: [(TLSDirection, [UInt8])] = [
            (.clientToServer, Self.legacyClientHello), (.serverToClient, Self.sslv3ServerFlight),
            (.clientToServer, Self.systemSSLAlert),
        ]
        let conversation = Self.decode(flights, feeding)
        #expect(Self.shape(conversation) == Self.shape(Self.decode(flights, .whole)))
        #expect(conversation.records.map(\.version) == [.tls10, .ssl3, .ssl3, .ssl3, .ssl3, .ssl3])
        #expect(conversation.version == .ssl3)
        #expect(conversation.cipherSuite == TLSCipherSuite(rawValue: 0x002F))
        #expect(conversation.clientHello?.highestVersion == .tls12)
        let request = try #require(conversation.certificateRequest)
        #expect(request.certificateTypes == [.rsaSign, .ecdsaSign, .dssSign])
        #expect(request.distinguishedNamesLength == 0)
        #expect(request.distinguishedNames.isEmpty)
        #expect(request.signatureAlgorithms.isEmpty, "SSLv3 has no signature_algorithms field")
        let certificate = try #require(conversation.serverCertificates?.entries.first?.summary)
        #expect(certificate.subject == "O=Partner,CN=legacy.example")
        #expect(certificate.publicKey == "RSA")
        #expect(conversation.alerts.map(\.alert) == [TLSAlert(level: 2, description: .illegalParameter)])
        #expect(conversation.alerts.first?.direction == .clientToServer)
    }

    @Test("the summary of the failed SSLv3 handshake reads like the incident's trace")
    func incidentSummary() {
        let conversation = Self.decode(
            [
                (.clientToServer, Self.legacyClientHello), (.serverToClient, Self.sslv3ServerFlight),
                (.clientToServer, Self.systemSSLAlert),
            ],
            .whole
        )
        let text = TLSTraceRenderer(localSide: .clientToServer).render(conversation, format: .summary)
        #expect(
            text == """
                 ->  0.000    118  TLS1.0: HSHK( CLIENT_HELLO )
                <-   0.100    928  SSL3: HSHK( SERVER_HELLO CERTIFICATE CERTIFICATE_REQUEST SERVER_HELLO_DONE )
                 ->  0.100      7  SSL3: ALERT( FATAL: ILLEGAL_PARAMETER )
                   negotiated SSL3 TLS_RSA_WITH_AES_128_CBC_SHA (the client offered up to TLS1.2), handshake failed: the client sent FATAL: ILLEGAL_PARAMETER

                """
        )
        let verbose = TLSTraceRenderer(localSide: .clientToServer).render(conversation, format: .verbose)
        #expect(
            verbose.contains(
                """
                    Certificate Request (length 6)
                      Certificate Types (3): rsa_sign(1) ecdsa_sign(64) dss_sign(2)
                      Distinguished Names Length: 0
                """
            )
        )
    }

    @Test("the record version is printed as sent: OpenSSL's alert says 0x0303 inside an SSLv3 session")
    func recordVersionAsSent() {
        let conversation = Self.decode(
            [
                (.clientToServer, Self.legacyClientHello), (.serverToClient, Self.sslv3ServerFlight),
                (.clientToServer, Self.opensslAlert),
            ],
            .whole
        )
        #expect(conversation.records.last?.version == .tls12)
        #expect(conversation.version == .ssl3)
        #expect(conversation.alerts.last?.alert.alertDescription == .protocolVersion)
    }

    @Test("a TLS 1.3 ClientHello: versions, groups, key shares, signature schemes", arguments: Feeding.allCases)
    func tls13ClientHello(feeding: Feeding) throws {
        let conversation = Self.decode([(.clientToServer, Self.tls13ClientHello)], feeding)
        let hello = try #require(conversation.clientHello)
        #expect(hello.offeredVersions == [.tls13, .tls12, .tls11, .tls10])
        #expect(hello.cipherSuites.first == TLSCipherSuite(rawValue: 0x1302))
        // Each extension is required, so no check can pass by its branch never running.
        let values = hello.extensions.map(\.value)
        let shares = try #require(
            values.lazy.compactMap { if case .clientKeyShares(let shares) = $0 { shares } else { nil } }.first
        )
        #expect(shares == [.init(group: TLSNamedGroup(rawValue: 29), keyLength: 32)])
        let groups = try #require(
            values.lazy.compactMap { if case .groups(let groups) = $0 { groups } else { nil } }.first
        )
        #expect(groups.first?.name == "x25519")
        let schemes = try #require(
            values.lazy.compactMap { if case .signatureSchemes(let schemes) = $0 { schemes } else { nil } }.first
        )
        #expect(schemes.first?.description == "ecdsa_secp256r1_sha256(0x0403)")
        let modes = try #require(
            values.lazy.compactMap { if case .pskModes(let modes) = $0 { modes } else { nil } }.first
        )
        #expect(modes == [1])
    }

    @Test("an SSLv2-compatible ClientHello is recognised")
    func sslv2ClientHello() throws {
        // msg_type 1, version 3.1, 6 bytes of cipher specs (two kinds), no session id, 16-byte challenge.
        var record: [UInt8] = [
            0x01, 0x03, 0x01, 0x00, 0x06, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x2F, 0x01, 0x00, 0x80,
        ]
        record += [UInt8](repeating: 0xAB, count: 16)
        let bytes = [0x80 | UInt8(record.count >> 8), UInt8(record.count & 0xFF)] + record
        let conversation = Self.decode([(.clientToServer, bytes)], .oneByteAtATime)
        let hello = try #require(conversation.clientHello)
        #expect(hello.isSSLv2Compatible)
        #expect(hello.legacyVersion == .tls10)
        #expect(hello.cipherSuites.first == TLSCipherSuite(rawValue: 0x002F))
        let text = TLSTraceRenderer().render(conversation, format: .summary)
        #expect(text.contains("SSLv2: HSHK( CLIENT_HELLO(SSLv2) )"))
    }

    @Test("unknown content types and versions are kept as numbers; a truncated message is named")
    func unknownsAndErrors() throws {
        // A record of content type 99 with version 3.9, then a handshake record whose ClientHello is cut short.
        let unknown: [UInt8] = [99, 0x03, 0x09, 0x00, 0x02, 0xAA, 0xBB]
        let truncated: [UInt8] = [0x16, 0x03, 0x01, 0x00, 0x08, 0x01, 0x00, 0x00, 0x04, 0x03, 0x03, 0x00, 0x01]
        let conversation = Self.decode([(.clientToServer, unknown + truncated)], .whole)
        #expect(conversation.records.count == 2)
        #expect(conversation.records[0].content == .opaque(type: TLSContentType(rawValue: 99), length: 2))
        #expect(conversation.records[0].version.description == "0x309")
        guard case .handshake(let messages) = conversation.records[1].content else {
            Issue.record("expected a handshake record")
            return
        }
        #expect(messages.first?.error == "ClientHello random is truncated")
        let text = TLSTraceRenderer().render(conversation, format: .summary)
        #expect(text.contains("0x309: TYPE(99)( 2 bytes )"))
    }

    @Test("plaintext on a TLS port is reported as not TLS, with its first bytes")
    func notTLS() {
        let conversation = Self.decode(
            [(.clientToServer, Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8))],
            .oneByteAtATime
        )
        #expect(conversation.records.count == 1)
        #expect(conversation.records.first?.content == .malformed("not a TLS record (starts with 'GET /')"))
    }
}
