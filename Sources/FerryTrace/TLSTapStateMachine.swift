public import FerryWire
public import NIOCore

/// The tap's pure logic: per-direction record parsing until the handshake is over.
public struct TLSTapStateMachine: Sendable {
    /// What the tap learned from a chunk of bytes.
    public enum Event: Sendable, Equatable {
        case negotiated(TLSProtocolVersion, TLSCipherSuite)
        case alertSent(TLSAlert)
        case alertReceived(TLSAlert)
        case notTLS(String)
    }

    private struct Direction: Sendable {
        var records = TLSRecordParser()
        var handshake = HandshakeMessageParser()
        /// After ChangeCipherSpec (TLS <= 1.2) or the ServerHello (TLS 1.3) this direction is encrypted.
        var encrypted = false
        var failed = false
    }

    private let role: TLSTapHandler.Role
    private var inbound = Direction()
    private var outbound = Direction()
    private var negotiated: TLSProtocolVersion?
    public private(set) var isParsing = true

    public init(role: TLSTapHandler.Role) {
        self.role = role
    }

    /// Stops all parsing (the handshake is complete).
    public mutating func stop() {
        isParsing = false
        inbound = Direction()
        outbound = Direction()
    }

    /// Bytes received from the peer.
    public mutating func received(_ bytes: ByteBuffer) -> [Event] {
        consume(bytes, inbound: true)
    }

    /// Bytes this side sends.
    public mutating func sent(_ bytes: ByteBuffer) -> [Event] {
        consume(bytes, inbound: false)
    }

    private mutating func consume(_ bytes: ByteBuffer, inbound isInbound: Bool) -> [Event] {
        var direction = isInbound ? inbound : outbound
        defer {
            if isInbound { inbound = direction } else { outbound = direction }
        }
        guard !direction.failed else { return [] }
        direction.records.append(bytes)
        // The ServerHello travels from server to client.
        let carriesServerHello = (role == .client) == isInbound
        var events: [Event] = []
        do {
            while let record = try direction.records.next() {
                switch record.contentType {
                case .changeCipherSpec:
                    if negotiated.map({ $0 < .tls13 }) ?? true { direction.encrypted = true }
                case .alert where !direction.encrypted || record.fragment.readableBytes == 2:
                    var fragment = record.fragment
                    while let (level, code) = fragment.readMultipleIntegers(as: (UInt8, UInt8).self) {
                        let alert = TLSAlert(level: level, description: TLSAlertDescription(rawValue: code))
                        events.append(isInbound ? .alertReceived(alert) : .alertSent(alert))
                    }
                case .handshake where !direction.encrypted && carriesServerHello:
                    direction.handshake.append(record.fragment)
                    while let message = try direction.handshake.next() {
                        guard message.type == .serverHello else { continue }
                        let hello = try ServerHello(body: message.body)
                        guard !hello.isHelloRetryRequest else { continue }
                        negotiated = hello.negotiatedVersion
                        events.append(.negotiated(hello.negotiatedVersion, hello.cipherSuite))
                        if hello.negotiatedVersion >= .tls13 { direction.encrypted = true }
                    }
                default:
                    break
                }
            }
        } catch {
            direction.failed = true
            events.append(.notTLS(error.description))
        }
        return events
    }
}
