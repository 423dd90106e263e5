public import NIOCore

/// Decodes both directions of one TLS connection from the bytes each side sent, in the order they were
/// seen: records, handshake messages, and — with the key log — the encrypted part of the handshake.
/// Pure: the live tap, `ferry trace` and the tests feed it the same way.
public struct TLSConversation: Sendable {
    public private(set) var records: [TLSTraceRecord] = []
    public private(set) var clientHello: ClientHello?
    public private(set) var serverHello: ServerHello?
    /// A HelloRetryRequest, when the server sent one.
    public private(set) var helloRetryRequest: ServerHello?
    public private(set) var serverCertificates: CertificateMessage?
    public private(set) var clientCertificates: CertificateMessage?
    public private(set) var certificateRequest: CertificateRequest?
    /// Notes on what could not be decoded and why.
    public private(set) var notes: [String] = []
    /// Whether both Finished messages were seen (or application data flowed).
    public private(set) var handshakeCompleted = false

    public var keyLog: TLSKeyLog
    private var context = TLSDecodingContext()
    private var client = Side()
    private var server = Side()
    private var segments = 0
    private var noted: Set<String> = []

    private struct Side: Sendable {
        var records = TLSRecordParser()
        var handshake = HandshakeMessageParser()
        var encrypted = false
        var protection: TLSRecordProtection?
        var whyEncrypted: String?
        var trafficSecret: [UInt8]?
        var finished = false
        var failed = false
        /// Wire bytes of the complete records seen so far.
        var consumed = 0
        /// Wire bytes up to and including the record that carried this side's Finished.
        var handshakeEnd: Int?
        /// Wire bytes before the first record that could not be decrypted.
        var firstOpaque: Int?
    }

    public init(keyLog: TLSKeyLog = TLSKeyLog()) {
        self.keyLog = keyLog
    }

    /// The negotiated version, once the ServerHello was seen.
    public var version: TLSProtocolVersion? { context.version }
    public var cipherSuite: TLSCipherSuite? { context.cipherSuite }

    /// How many bytes one side sent before its handshake ended: through the record that carried its Finished
    /// message, or, when that could not be read, up to the first record that stayed encrypted. `nil` when every
    /// byte seen belongs to the handshake. A capture cut there holds no application data.
    public func handshakeLength(_ direction: TLSDirection) -> Int? {
        let side = direction == .clientToServer ? client : server
        return side.handshakeEnd ?? side.firstOpaque
    }

    /// Every alert with its direction.
    public var alerts: [(direction: TLSDirection, alert: TLSAlert)] {
        records.flatMap { record -> [(TLSDirection, TLSAlert)] in
            if case .alert(let list) = record.content { return list.map { (record.direction, $0) } }
            return []
        }
    }

    /// Feeds bytes one side sent. Returns the records completed by them.
    @discardableResult
    public mutating func feed(
        _ bytes: ByteBuffer,
        from direction: TLSDirection,
        at time: Double
    ) -> ArraySlice<TLSTraceRecord> {
        let before = records.count
        segments += 1
        var side = direction == .clientToServer ? client : server
        guard !side.failed else { return [] }
        side.records.append(bytes)
        // Written back before each record is handled: handling may change the other side (keys, encryption).
        func store(_ side: Side) {
            if direction == .clientToServer { client = side } else { server = side }
        }
        while true {
            let record: TLSRecord
            do {
                guard let next = try side.records.next() else { break }
                record = next
            } catch {
                side.failed = true
                records.append(
                    TLSTraceRecord(
                        time: time,
                        direction: direction,
                        segment: segments,
                        wireLength: side.records.pendingBytes,
                        version: TLSProtocolVersion(rawValue: 0),
                        outerType: TLSContentType(rawValue: 0),
                        protection: .plaintext,
                        content: .malformed(error.description)
                    )
                )
                note(
                    "\(direction == .clientToServer ? "client" : "server") bytes stopped being TLS: \(error.description)"
                )
                break
            }
            store(side)
            handle(record, from: direction, at: time)
            side = direction == .clientToServer ? client : server
        }
        store(side)
        return records[before...]
    }

    private mutating func handle(_ record: TLSRecord, from direction: TLSDirection, at time: Double) {
        var side = direction == .clientToServer ? client : server
        let start = side.consumed
        side.consumed += record.wireLength
        store(side, direction)
        func append(_ protection: TLSTraceRecord.Protection, _ content: TLSTraceRecord.Content) {
            records.append(
                TLSTraceRecord(
                    time: time,
                    direction: direction,
                    segment: segments,
                    wireLength: record.wireLength,
                    version: record.version,
                    outerType: record.contentType,
                    protection: protection,
                    content: content
                )
            )
        }
        if record.isSSLv2ClientHello {
            let message = TLSDecodedHandshake(sslv2ClientHello: record.fragment)
            if case .clientHello(let hello) = message.content {
                clientHello = hello
            }
            append(.plaintext, .handshake([message]))
            return
        }
        // TLS 1.3 middlebox-compatibility ChangeCipherSpec records stay in plaintext.
        if side.encrypted && !(record.contentType == .changeCipherSpec && (context.version ?? .tls12) >= .tls13) {
            guard var protection = side.protection else {
                if side.firstOpaque == nil {
                    side.firstOpaque = start
                    store(side, direction)
                }
                let why = side.whyEncrypted ?? "no keys for this connection"
                note("\(direction == .clientToServer ? "client" : "server") records stay encrypted: \(why)")
                append(.encrypted(why), .opaque(type: record.contentType, length: record.fragment.readableBytes))
                return
            }
            guard let (innerType, plaintext) = protection.open(record) else {
                side.firstOpaque = side.firstOpaque ?? start
                side.protection = nil
                side.whyEncrypted = "decryption failed: the key log's secrets do not match this connection"
                note(
                    "\(direction == .clientToServer ? "client" : "server") records could not be decrypted: the key log's secrets do not match this connection"
                )
                store(side, direction)
                append(
                    .encrypted(side.whyEncrypted!),
                    .opaque(type: record.contentType, length: record.fragment.readableBytes)
                )
                return
            }
            side.protection = protection
            store(side, direction)
            let content = decodeContent(innerType, plaintext, from: direction)
            append(.decrypted, content)
            return
        }
        let content = decodeContent(record.contentType, record.fragment, from: direction)
        append(.plaintext, content)
    }

    private mutating func store(_ side: Side, _ direction: TLSDirection) {
        if direction == .clientToServer { client = side } else { server = side }
    }

    private mutating func decodeContent(
        _ type: TLSContentType,
        _ fragment: ByteBuffer,
        from direction: TLSDirection
    ) -> TLSTraceRecord.Content {
        switch type {
        case .handshake:
            var side = direction == .clientToServer ? client : server
            side.handshake.append(fragment)
            store(side, direction)
            var messages: [TLSDecodedHandshake] = []
            while true {
                var side = direction == .clientToServer ? client : server
                let next: TLSHandshakeMessage?
                do {
                    next = try side.handshake.next()
                } catch {
                    side.failed = true
                    store(side, direction)
                    return messages.isEmpty ? .malformed(error.description) : .handshake(messages)
                }
                store(side, direction)
                guard let message = next else { break }
                let decoded = TLSDecodedHandshake(message, context: context)
                messages.append(decoded)
                handshakeSeen(decoded, from: direction)
            }
            return .handshake(messages)
        case .alert:
            var reader = fragment
            var alerts: [TLSAlert] = []
            while let (level, code) = reader.readMultipleIntegers(as: (UInt8, UInt8).self) {
                alerts.append(TLSAlert(level: level, description: TLSAlertDescription(rawValue: code)))
            }
            if reader.readableBytes > 0 || alerts.isEmpty {
                return .malformed("alert record of \(fragment.readableBytes) bytes")
            }
            return .alert(alerts)
        case .changeCipherSpec:
            if (context.version ?? .tls12) < .tls13 { startTLS12Protection(direction) }
            return .changeCipherSpec
        case .applicationData:
            handshakeCompleted = handshakeCompleted || (client.finished && server.finished)
            return .applicationData(length: fragment.readableBytes)
        default:
            return .opaque(type: type, length: fragment.readableBytes)
        }
    }

    /// Tracks what the handshake established: randoms, version, suite, keys.
    private mutating func handshakeSeen(_ message: TLSDecodedHandshake, from direction: TLSDirection) {
        switch message.content {
        case .clientHello(let hello):
            clientHello = hello
        case .serverHello(let hello):
            if hello.isHelloRetryRequest {
                helloRetryRequest = hello
                return
            }
            serverHello = hello
            context.version = hello.negotiatedVersion
            context.cipherSuite = hello.cipherSuite
            if hello.negotiatedVersion >= .tls13 {
                client.encrypted = true
                server.encrypted = true
                startTLS13Protection(.clientToServer, label: "CLIENT_HANDSHAKE_TRAFFIC_SECRET")
                startTLS13Protection(.serverToClient, label: "SERVER_HANDSHAKE_TRAFFIC_SECRET")
            }
        case .certificate(let certificates):
            if direction == .serverToClient {
                serverCertificates = certificates
            } else {
                clientCertificates = certificates
            }
        case .certificateRequest(let request):
            certificateRequest = request
        case .finished:
            var side = direction == .clientToServer ? client : server
            side.finished = true
            side.handshakeEnd = side.handshakeEnd ?? side.consumed
            store(side, direction)
            if (context.version ?? .tls12) >= .tls13 {
                startTLS13Protection(
                    direction,
                    label: direction == .clientToServer ? "CLIENT_TRAFFIC_SECRET_0" : "SERVER_TRAFFIC_SECRET_0"
                )
            }
            handshakeCompleted = client.finished && server.finished
        case .keyUpdate:
            var side = direction == .clientToServer ? client : server
            if let secret = side.trafficSecret, let suite = context.cipherSuite {
                let next = TLSRecordProtection.nextSecret(secret, suite: suite)
                side.trafficSecret = next
                side.protection = TLSRecordProtection.tls13(secret: next, suite: suite)
            }
            store(side, direction)
        default:
            break
        }
    }

    private mutating func startTLS13Protection(_ direction: TLSDirection, label: String) {
        var side = direction == .clientToServer ? client : server
        defer { store(side, direction) }
        side.protection = nil
        side.trafficSecret = nil
        guard let suite = context.cipherSuite, let random = clientHello?.random else { return }
        guard suite.aead != nil else {
            side.whyEncrypted = "Ferry cannot decrypt \(suite)"
            return
        }
        guard let secret = keyLog.secret(label, clientRandom: random) else {
            side.whyEncrypted =
                keyLog.knows(clientRandom: random)
                ? "the key log has no \(label) for this connection" : "no key log entry for this connection"
            return
        }
        side.trafficSecret = secret
        side.protection = TLSRecordProtection.tls13(secret: secret, suite: suite)
    }

    private mutating func startTLS12Protection(_ direction: TLSDirection) {
        var side = direction == .clientToServer ? client : server
        side.encrypted = true
        defer { store(side, direction) }
        guard let suite = context.cipherSuite, let clientRandom = clientHello?.random,
            let serverRandom = serverHello?.random
        else {
            side.whyEncrypted = "ChangeCipherSpec before the hellos"
            return
        }
        let version = context.version ?? .tls12
        guard suite.aead != nil || (suite.cbc != nil && (version >= .tls10 || suite.cbc?.mac == .sha1)) else {
            side.whyEncrypted =
                "Ferry does not decrypt \(suite)\(version == .ssl3 ? " under SSLv3" : "") (AEAD, AES-CBC and 3DES-CBC suites only)"
            return
        }
        guard let master = keyLog.secret("CLIENT_RANDOM", clientRandom: clientRandom) else {
            side.whyEncrypted = "no key log entry (CLIENT_RANDOM) for this connection"
            return
        }
        // Encrypt-then-MAC (RFC 7366) holds when the server echoed the client's extension 22.
        let encryptThenMAC = serverHello?.extensions.contains(where: { $0.type.rawValue == 22 }) ?? false
        let derived =
            suite.aead != nil
            ? TLSRecordProtection.tls12(
                masterSecret: master,
                clientRandom: clientRandom,
                serverRandom: serverRandom,
                suite: suite
            )
            : TLSRecordProtection.cbc(
                masterSecret: master,
                clientRandom: clientRandom,
                serverRandom: serverRandom,
                suite: suite,
                version: version,
                encryptThenMAC: encryptThenMAC
            )
        guard let keys = derived else {
            side.whyEncrypted = "the key log's master secret is not 48 bytes"
            return
        }
        side.protection = direction == .clientToServer ? keys.client : keys.server
    }

    /// Adds a note shown under the trace.
    public mutating func addNote(_ text: String) {
        note(text)
    }

    private mutating func note(_ text: String) {
        if noted.insert(text).inserted { notes.append(text) }
    }
}
