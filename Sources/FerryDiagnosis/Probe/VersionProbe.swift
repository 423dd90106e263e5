import Crypto
public import FerryWire
import NIOCore

/// What one version probe saw: the server's answer to a ClientHello offering exactly one version.
public struct VersionProbe: Sendable {
    public enum Outcome: Sendable, Equatable {
        /// A ServerHello for this version with this suite.
        case accepted(TLSCipherSuite)
        /// A ServerHello for another version.
        case otherVersion(TLSProtocolVersion)
        case alert(TLSAlert)
        case closed
        case timedOut
        case notTLS(String)
    }

    public let offered: TLSProtocolVersion
    public let outcome: Outcome
    /// The first bytes the server sent, printable, when they were not TLS.
    public var serverPreview: String?
    /// The decoded exchange (TLS 1.3 decrypted with the probe's own keys).
    public let conversation: TLSConversation

    public var accepted: Bool { if case .accepted = outcome { return true } else { return false } }
    /// TLS 1.3: the group a HelloRetryRequest asked for, when the probe was answered with one and offered it.
    public var helloRetryGroup: TLSNamedGroup?

    /// The outcome as reports print it, with the HelloRetryRequest when there was one.
    public var detail: String {
        outcome.description + (helloRetryGroup.map { " (after a HelloRetryRequest for \($0))" } ?? "")
    }

    /// A TLS 1.3 key share the probe can offer: X25519 first, a NIST curve when a HelloRetryRequest asks for it.
    enum ShareKey {
        case x25519(Curve25519.KeyAgreement.PrivateKey)
        case p256(P256.KeyAgreement.PrivateKey)
        case p384(P384.KeyAgreement.PrivateKey)
        case p521(P521.KeyAgreement.PrivateKey)

        init?(group: UInt16) {
            switch group {
            case 29: self = .x25519(.init())
            case 23: self = .p256(.init())
            case 24: self = .p384(.init())
            case 25: self = .p521(.init())
            default: return nil
            }
        }

        var group: UInt16 {
            switch self {
            case .x25519: return 29
            case .p256: return 23
            case .p384: return 24
            case .p521: return 25
            }
        }

        var publicBytes: [UInt8] {
            switch self {
            case .x25519(let key): return Array(key.publicKey.rawRepresentation)
            case .p256(let key): return Array(key.publicKey.x963Representation)
            case .p384(let key): return Array(key.publicKey.x963Representation)
            case .p521(let key): return Array(key.publicKey.x963Representation)
            }
        }

        /// The (EC)DHE shared secret with the server's share (for NIST curves, the x-coordinate, RFC 8446 §7.4.2).
        func sharedSecret(with peer: [UInt8]) -> [UInt8]? {
            let secret: SharedSecret?
            switch self {
            case .x25519(let key):
                secret = (try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: peer)).flatMap {
                    try? key.sharedSecretFromKeyAgreement(with: $0)
                }
            case .p256(let key):
                secret = (try? P256.KeyAgreement.PublicKey(x963Representation: peer)).flatMap {
                    try? key.sharedSecretFromKeyAgreement(with: $0)
                }
            case .p384(let key):
                secret = (try? P384.KeyAgreement.PublicKey(x963Representation: peer)).flatMap {
                    try? key.sharedSecretFromKeyAgreement(with: $0)
                }
            case .p521(let key):
                secret = (try? P521.KeyAgreement.PublicKey(x963Representation: peer)).flatMap {
                    try? key.sharedSecretFromKeyAgreement(with: $0)
                }
            }
            return secret?.withUnsafeBytes { Array($0) }
        }
    }

    /// Offers `version` only (SSLv3..TLS 1.2 in client_version; TLS 1.3 in supported_versions with an X25519
    /// key share) and reads the plaintext server flight; in TLS 1.3 it derives the handshake keys itself to
    /// read the encrypted flight.
    static func run(
        _ version: TLSProtocolVersion,
        host: String,
        port: Int,
        serverName: String?,
        timeout: Duration,
        signatureSchemes: [UInt16] = ClientHelloBuilder.broadSchemes
    ) async throws -> VersionProbe {
        let first = try await run(
            version,
            host: host,
            port: port,
            serverName: serverName,
            timeout: timeout,
            key: .x25519(.init()),
            schemes: signatureSchemes
        )
        // A TLS 1.3 server that wants another group answers with a HelloRetryRequest naming it (FIPS setups:
        // P-256 or P-384 only). The probe then offers that group's share on a new connection.
        guard version >= .tls13, let retry = first.conversation.helloRetryRequest else { return first }
        var group: TLSNamedGroup?
        for item in retry.extensions { if case .selectedGroup(let selected) = item.value { group = selected } }
        guard let group, let key = ShareKey(group: group.rawValue) else { return first }
        var second = try await run(
            version,
            host: host,
            port: port,
            serverName: serverName,
            timeout: timeout,
            key: key,
            schemes: signatureSchemes
        )
        second.helloRetryGroup = group
        return second
    }

    private static func run(
        _ version: TLSProtocolVersion,
        host: String,
        port: Int,
        serverName: String?,
        timeout: Duration,
        key: ShareKey,
        schemes: [UInt16]
    ) async throws -> VersionProbe {
        var random = [UInt8](repeating: 0, count: 32)
        for index in random.indices { random[index] = UInt8.random(in: 0...255) }
        var builder = ClientHelloBuilder(
            version: version,
            random: random,
            serverName: serverName,
            keySharePublicKey: version >= .tls13 ? key.publicBytes : nil,
            keyShareGroup: key.group
        )
        builder.signatureSchemes = schemes
        let hello = builder.record()
        let outcome = try await RawExchange.run(
            host: host,
            port: port,
            hello: hello,
            connectTimeout: .seconds(5),
            timeout: timeout
        ) { outcome in
            let conversation = Self.decode(outcome.chunks, key: key, clientHelloRecord: hello)
            if !conversation.alerts.isEmpty || conversation.helloRetryRequest != nil { return true }
            if conversation.records.contains(where: {
                if case .malformed = $0.content { return true } else { return false }
            }) {
                return true
            }
            for record in conversation.records where record.direction == .serverToClient {
                guard case .handshake(let messages) = record.content else { continue }
                if messages.contains(where: { $0.type == .serverHelloDone || $0.type == .finished }) { return true }
            }
            return false
        }
        let conversation = Self.decode(outcome.chunks, key: key, clientHelloRecord: hello)
        let result: Outcome
        if conversation.helloRetryRequest != nil, conversation.serverHello == nil {
            result = .closed
        } else if let hello = conversation.serverHello {
            result =
                hello.negotiatedVersion == version
                ? .accepted(hello.cipherSuite) : .otherVersion(hello.negotiatedVersion)
        } else if let alert = conversation.alerts.first(where: { $0.direction == .serverToClient })?.alert {
            result = .alert(alert)
        } else if let malformed = conversation.records.first(where: {
            if case .malformed = $0.content { return $0.direction == .serverToClient } else { return false }
        }),
            case .malformed(let why) = malformed.content
        {
            result = .notTLS(why)
        } else {
            result = outcome.timedOut ? .timedOut : .closed
        }
        var probe = VersionProbe(offered: version, outcome: result, conversation: conversation)
        if case .notTLS = result, let first = outcome.chunks.first(where: { $0.direction == .serverToClient })?.bytes {
            let head = first.getBytes(at: first.readerIndex, length: min(first.readableBytes, 80)) ?? []
            probe.serverPreview = String(decoding: head.map { ($0 >= 0x20 && $0 < 0x7F) ? $0 : 0x20 }, as: UTF8.self)
                .split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
        }
        return probe
    }

    /// Decodes the exchange; for TLS 1.3, with handshake keys derived from the probe's own key share.
    static func decode(
        _ chunks: [(direction: TLSDirection, time: Double, bytes: ByteBuffer)],
        key: ShareKey,
        clientHelloRecord: ByteBuffer
    ) -> TLSConversation {
        var conversation = TLSConversation()
        for chunk in chunks { conversation.feed(chunk.bytes, from: chunk.direction, at: chunk.time) }
        guard let serverHello = conversation.serverHello, serverHello.negotiatedVersion >= .tls13,
            conversation.helloRetryRequest == nil,
            let random = conversation.clientHello?.random, let serverHelloMessage = Self.serverHelloMessage(chunks)
        else { return conversation }
        var share: [UInt8]?
        for item in serverHello.extensions {
            if case .serverKeyShare(let entry) = item.value, entry.group.rawValue == key.group {
                share = entry.keyExchange
            }
        }
        guard let share, let shared = key.sharedSecret(with: share) else {
            return conversation
        }
        let clientHelloMessage = Array(clientHelloRecord.readableBytesView.dropFirst(5))
        let lines = TLS13HandshakeSecrets.keyLogLines(
            sharedSecret: shared,
            transcript: clientHelloMessage + serverHelloMessage,
            clientRandom: random,
            suite: serverHello.cipherSuite
        )
        var keyed = TLSConversation(keyLog: TLSKeyLog(text: lines.joined(separator: "\n")))
        for chunk in chunks { keyed.feed(chunk.bytes, from: chunk.direction, at: chunk.time) }
        return keyed
    }

    /// The ServerHello handshake message as sent (header included), for the TLS 1.3 transcript hash.
    static func serverHelloMessage(_ chunks: [(direction: TLSDirection, time: Double, bytes: ByteBuffer)]) -> [UInt8]? {
        var records = TLSRecordParser()
        var messages = HandshakeMessageParser()
        for chunk in chunks where chunk.direction == .serverToClient {
            records.append(chunk.bytes)
            while let record = try? records.next() {
                guard record.contentType == .handshake else { continue }
                messages.append(record.fragment)
                if let message = try? messages.next(), message.type == .serverHello {
                    let length = message.body.readableBytes
                    return [2, UInt8(length >> 16), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)]
                        + Array(message.body.readableBytesView)
                }
            }
        }
        return nil
    }
}

extension VersionProbe.Outcome: CustomStringConvertible {
    /// How reports and evidence lines say it.
    public var description: String {
        switch self {
        case .accepted(let suite): return "accepted, cipher suite \(suite)"
        case .otherVersion(let version): return "the server answered with \(version) instead"
        case .alert(let alert): return "refused: \(alert)"
        case .closed: return "refused: the server closed the connection"
        case .timedOut: return "no answer"
        case .notTLS(let why): return "not TLS: \(why)"
        }
    }
}
