public import NIOCore

/// What the decoder knows about the connection when it reads a message (some layouts depend on it).
public struct TLSDecodingContext: Sendable, Equatable {
    /// The version the ServerHello negotiated, once seen.
    public var version: TLSProtocolVersion?
    /// The cipher suite the ServerHello chose, once seen.
    public var cipherSuite: TLSCipherSuite?

    public init(version: TLSProtocolVersion? = nil, cipherSuite: TLSCipherSuite? = nil) {
        self.version = version
        self.cipherSuite = cipherSuite
    }
}

/// A handshake message with its body decoded, or the reason it could not be.
public struct TLSDecodedHandshake: Sendable, Equatable {
    public let type: TLSHandshakeType
    /// The body length from the message header.
    public let length: Int
    public let content: Content?
    /// Why the body could not be decoded (the message is still listed).
    public let error: String?

    public enum Content: Sendable, Equatable {
        case clientHello(ClientHello)
        case serverHello(ServerHello)
        case certificate(CertificateMessage)
        case serverKeyExchange(ServerKeyExchange)
        case certificateRequest(CertificateRequest)
        case clientKeyExchange(ClientKeyExchange)
        case certificateVerify(CertificateVerify)
        case finished(verifyDataLength: Int)
        case newSessionTicket(NewSessionTicket)
        case encryptedExtensions(EncryptedExtensions)
        case keyUpdate(requestUpdate: UInt8)
        case empty
        case opaque(length: Int)
    }

    public init(_ message: TLSHandshakeMessage, context: TLSDecodingContext) {
        type = message.type
        length = message.body.readableBytes
        do {
            content = try Self.decode(message, context: context)
            error = nil
        } catch {
            content = nil
            self.error = error.description
        }
    }

    /// An SSLv2-compatible ClientHello record.
    public init(sslv2ClientHello record: ByteBuffer) {
        type = .clientHello
        length = record.readableBytes
        do {
            content = .clientHello(try ClientHello(sslv2: record))
            error = nil
        } catch {
            content = nil
            self.error = error.description
        }
    }

    static func decode(_ message: TLSHandshakeMessage, context: TLSDecodingContext) throws(TLSWireError) -> Content {
        let body = message.body
        let version = context.version ?? .tls12
        let tls13 = version >= .tls13
        func empty() throws(TLSWireError) -> Content {
            guard body.readableBytes == 0 else {
                throw TLSWireError(description: "\(message.type) should be empty but holds \(body.readableBytes) bytes")
            }
            return .empty
        }
        switch message.type {
        case .clientHello: return .clientHello(try ClientHello(body: body))
        case .serverHello: return .serverHello(try ServerHello(body: body))
        case .certificate: return .certificate(try CertificateMessage(body: body, tls13: tls13))
        case .serverKeyExchange:
            return .serverKeyExchange(
                try ServerKeyExchange(body: body, version: version, cipherSuite: context.cipherSuite)
            )
        case .certificateRequest: return .certificateRequest(try CertificateRequest(body: body, version: version))
        case .clientKeyExchange:
            return .clientKeyExchange(
                try ClientKeyExchange(body: body, version: version, cipherSuite: context.cipherSuite)
            )
        case .certificateVerify: return .certificateVerify(try CertificateVerify(body: body, version: version))
        case .finished: return .finished(verifyDataLength: body.readableBytes)
        case .newSessionTicket: return .newSessionTicket(try NewSessionTicket(body: body, tls13: tls13))
        case .encryptedExtensions: return .encryptedExtensions(try EncryptedExtensions(body: body))
        case .keyUpdate:
            var reader = WireReader(body, "KeyUpdate")
            let request = try reader.u8("request_update")
            try reader.expectEnd()
            return .keyUpdate(requestUpdate: request)
        case .helloRequest, .serverHelloDone, .endOfEarlyData: return try empty()
        default: return .opaque(length: body.readableBytes)
        }
    }

    /// The name the summary line shows; a HelloRetryRequest is named as such.
    public var summaryName: String {
        if case .serverHello(let hello) = content, hello.isHelloRetryRequest { return "HELLO_RETRY_REQUEST" }
        if case .clientHello(let hello) = content, hello.isSSLv2Compatible { return "CLIENT_HELLO(SSLv2)" }
        return type.description
    }

    /// The message's display name for the verbose trace.
    public var displayName: String {
        switch type {
        case .clientHello: return "Client Hello"
        case .serverHello: return summaryName == "HELLO_RETRY_REQUEST" ? "Hello Retry Request" : "Server Hello"
        case .certificate: return "Certificate"
        case .serverKeyExchange: return "Server Key Exchange"
        case .certificateRequest: return "Certificate Request"
        case .serverHelloDone: return "Server Hello Done"
        case .clientKeyExchange: return "Client Key Exchange"
        case .certificateVerify: return "Certificate Verify"
        case .finished: return "Finished"
        case .newSessionTicket: return "New Session Ticket"
        case .encryptedExtensions: return "Encrypted Extensions"
        case .keyUpdate: return "Key Update"
        case .helloRequest: return "Hello Request"
        case .endOfEarlyData: return "End of Early Data"
        default: return type.description
        }
    }

    public var fields: [TLSField] {
        if let error { return [TLSField("Malformed", error)] }
        switch content {
        case .clientHello(let value): return value.fields
        case .serverHello(let value): return value.fields
        case .certificate(let value): return value.fields
        case .serverKeyExchange(let value): return value.fields
        case .certificateRequest(let value): return value.fields
        case .clientKeyExchange(let value): return value.fields
        case .certificateVerify(let value): return value.fields
        case .finished(let length): return [TLSField("Verify Data length", "\(length)")]
        case .newSessionTicket(let value): return value.fields
        case .encryptedExtensions(let value): return value.fields
        case .keyUpdate(let request):
            return [
                TLSField(
                    "Key Update Request",
                    request == 0 ? "update_not_requested(0)" : request == 1 ? "update_requested(1)" : "\(request)"
                )
            ]
        case .empty, .none: return []
        case .opaque(let length): return [TLSField("Body length", "\(length)")]
        }
    }
}
