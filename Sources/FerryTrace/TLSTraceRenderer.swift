public import FerryWire
import Foundation

/// Renders a decoded conversation as the summary (one line per record or coalesced flight), the verbose
/// form (every field), or JSON Lines. See docs/trace.md.
public struct TLSTraceRenderer: Sendable {
    public enum Format: String, Sendable, CaseIterable {
        case summary
        case verbose
        case json
    }

    /// Which side is "local" (its records are `->`). For captures: the client.
    public var localSide: TLSDirection

    public init(localSide: TLSDirection = .clientToServer) {
        self.localSide = localSide
    }

    public func render(_ conversation: TLSConversation, format: Format) -> String {
        switch format {
        case .summary: return text(conversation, verbose: false)
        case .verbose: return text(conversation, verbose: true)
        case .json: return jsonLines(conversation)
        }
    }

    // MARK: Summary and verbose

    /// Records grouped into lines: consecutive records of one flight with the same version, type and protection.
    struct Line {
        var records: [TLSTraceRecord]
        var first: TLSTraceRecord { records[0] }
        var bytes: Int { records.reduce(0) { $0 + $1.wireLength } }
    }

    static func lines(_ records: [TLSTraceRecord]) -> [Line] {
        var lines: [Line] = []
        for record in records {
            if var last = lines.last, let previous = last.records.last, previous.segment == record.segment,
                previous.direction == record.direction, previous.version == record.version,
                previous.contentType == record.contentType, previous.protection == record.protection,
                record.contentType == .handshake || record.contentType == .applicationData
                    || record.protection != .plaintext
            {
                last.records.append(record)
                lines[lines.count - 1] = last
            } else {
                lines.append(Line(records: [record]))
            }
        }
        return lines
    }

    func text(_ conversation: TLSConversation, verbose: Bool) -> String {
        var out = ""
        var previousTime: Double?
        for line in Self.lines(conversation.records) {
            let record = line.first
            let arrow = record.direction == localSide ? " -> " : "<-  "
            let delta = previousTime.map { record.time - $0 } ?? 0
            previousTime = record.time
            let time =
                delta < 0.001 && previousTime != nil && out.isEmpty == false ? "<0.001" : String(format: "%.3f", delta)
            out += arrow + pad(time, 6) + "  " + pad(String(line.bytes), 5) + "  " + Self.describe(line) + "\n"
            if verbose {
                for item in line.records {
                    if case .encrypted(let why) = item.protection {
                        out += "      (encrypted: \(why))\n"
                    }
                    switch item.content {
                    case .handshake(let messages):
                        for message in messages {
                            out += "    \(message.displayName) (length \(message.length))\n"
                            out += Self.fieldText(message.fields, indent: 6)
                        }
                    case .alert(let alerts):
                        for alert in alerts {
                            out +=
                                "    Alert: level \(alert.level == 2 ? "fatal(2)" : alert.level == 1 ? "warning(1)" : "\(alert.level)"), description \(alert.alertDescription.name?.lowercased() ?? "unknown")(\(alert.alertDescription.rawValue))\n"
                        }
                    case .malformed(let why):
                        out += "    Malformed: \(why)\n"
                    default:
                        break
                    }
                }
            }
        }
        out += outcome(conversation)
        return out
    }

    /// One record as the summary prints it (`SSL3: ALERT( FATAL: ILLEGAL_PARAMETER )`), for evidence lines.
    public static func summary(of record: TLSTraceRecord) -> String {
        describe(Line(records: [record]))
    }

    static func describe(_ line: Line) -> String {
        let record = line.first
        let version =
            record.outerType == .sslv2ClientHello
            ? "SSLv2" : record.version.rawValue == 0 ? "-" : record.version.description
        var marker = ""
        switch record.protection {
        case .plaintext: break
        case .decrypted: marker = "[decrypted] "
        case .encrypted: marker = "[encrypted] "
        }
        let body: String
        switch record.content {
        case .handshake:
            let names = line.records.flatMap { record -> [String] in
                if case .handshake(let messages) = record.content { return messages.map(\.summaryName) }
                return []
            }
            body = "HSHK( " + (names.isEmpty ? "(partial message)" : names.joined(separator: " ")) + " )"
        case .alert(let alerts):
            body = "ALERT( " + alerts.map(\.description).joined(separator: ", ") + " )"
        case .changeCipherSpec:
            body = "CCS"
        case .applicationData:
            let total = line.records.reduce(0) { sum, record in
                if case .applicationData(let length) = record.content { return sum + length }
                return sum
            }
            body = "APPL( \(total) )"
        case .opaque(let type, _):
            let total = line.records.reduce(0) { sum, record in
                if case .opaque(_, let length) = record.content { return sum + length }
                return sum
            }
            let count = line.records.count > 1 ? "\(line.records.count) records, " : ""
            body = (record.protection == .plaintext ? type.description : "ENCRYPTED") + "( \(count)\(total) bytes )"
        case .malformed(let why):
            body = "MALFORMED( \(why) )"
        }
        return version + ": " + marker + body
    }

    static func fieldText(_ fields: [TLSField], indent: Int) -> String {
        var out = ""
        for field in fields {
            out +=
                String(repeating: " ", count: indent) + field.name + (field.value.isEmpty ? "" : ": " + field.value)
                + "\n"
            out += fieldText(field.children, indent: indent + 2)
        }
        return out
    }

    func outcome(_ conversation: TLSConversation) -> String {
        var out = ""
        if let version = conversation.version, let suite = conversation.cipherSuite {
            out += "   negotiated \(version) \(suite)"
            if let offered = conversation.clientHello?.highestVersion, offered > version {
                out += " (the client offered up to \(offered))"
            }
            if let fatal = conversation.alerts.first(where: { $0.alert.isFatal }) {
                let sender = fatal.direction == .clientToServer ? "the client" : "the server"
                out += ", handshake failed: \(sender) sent \(fatal.alert)\n"
            } else if conversation.handshakeCompleted {
                out += ", handshake completed\n"
            } else if conversation.records.contains(where: {
                if case .encrypted = $0.protection { return true } else { return false }
            }) {
                out += ", the rest of the handshake is encrypted (no keys)\n"
            } else {
                out += ", handshake not completed\n"
            }
        } else if conversation.clientHello != nil {
            out += "   no ServerHello: nothing was negotiated"
            if let fatal = conversation.alerts.first(where: { $0.alert.isFatal }) {
                out += " (\(fatal.direction == .clientToServer ? "the client" : "the server") sent \(fatal.alert))"
            }
            out += "\n"
        }
        for note in conversation.notes {
            out += "   note: \(note)\n"
        }
        return out
    }

    private func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
    }

    // MARK: JSON Lines

    struct JSONRecord: Encodable {
        let event = "record"
        let time: Double
        let direction: String
        let local: Bool
        let segment: Int
        let bytes: Int
        let recordVersion: String
        let recordVersionCode: UInt16
        let contentType: String
        let contentTypeCode: UInt8
        let protection: String
        let encryptedReason: String?
        let messages: [JSONMessage]?
        let alerts: [JSONAlert]?
        let length: Int?
        let error: String?
    }

    struct JSONMessage: Encodable {
        let type: String
        let typeCode: UInt8
        let length: Int
        let fields: [TLSField]
        let error: String?
    }

    struct JSONAlert: Encodable {
        let level: UInt8
        let levelName: String
        let description: String
        let code: UInt8
    }

    struct JSONOutcome: Encodable {
        let event = "outcome"
        let version: String?
        let cipherSuite: String?
        let handshakeCompleted: Bool
        let offeredVersions: [String]?
        let notes: [String]
    }

    /// One JSON Lines line (snake_case keys, sorted), newline included.
    static func jsonLine(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) + "\n" } ?? ""
    }

    func jsonLines(_ conversation: TLSConversation) -> String {
        var out = ""
        let start = conversation.records.first?.time ?? 0
        for record in conversation.records {
            var messages: [JSONMessage]?
            var alerts: [JSONAlert]?
            var length: Int?
            var error: String?
            switch record.content {
            case .handshake(let list):
                messages = list.map {
                    JSONMessage(
                        type: $0.summaryName.lowercased(),
                        typeCode: $0.type.rawValue,
                        length: $0.length,
                        fields: $0.fields,
                        error: $0.error
                    )
                }
            case .alert(let list):
                alerts = list.map {
                    JSONAlert(
                        level: $0.level,
                        levelName: $0.level == 2 ? "fatal" : $0.level == 1 ? "warning" : "unknown",
                        description: $0.alertDescription.name?.lowercased() ?? "unknown",
                        code: $0.alertDescription.rawValue
                    )
                }
            case .applicationData(let bytes), .opaque(_, let bytes):
                length = bytes
            case .changeCipherSpec:
                break
            case .malformed(let why):
                error = why
            }
            var reason: String?
            let protection: String
            switch record.protection {
            case .plaintext: protection = "plaintext"
            case .decrypted: protection = "decrypted"
            case .encrypted(let why):
                protection = "encrypted"
                reason = why
            }
            let item = JSONRecord(
                time: ((record.time - start) * 1_000_000).rounded() / 1_000_000,
                direction: record.direction.rawValue,
                local: record.direction == localSide,
                segment: record.segment,
                bytes: record.wireLength,
                recordVersion: record.outerType == .sslv2ClientHello ? "SSLv2" : record.version.description,
                recordVersionCode: record.version.rawValue,
                contentType: Self.typeName(record.contentType),
                contentTypeCode: record.contentType.rawValue,
                protection: protection,
                encryptedReason: reason,
                messages: messages,
                alerts: alerts,
                length: length,
                error: error
            )
            out += Self.jsonLine(item)
        }
        let outcome = JSONOutcome(
            version: conversation.version?.description,
            cipherSuite: conversation.cipherSuite?.description,
            handshakeCompleted: conversation.handshakeCompleted,
            offeredVersions: conversation.clientHello?.offeredVersions.map(\.description),
            notes: conversation.notes
        )
        out += Self.jsonLine(outcome)
        return out
    }

    static func typeName(_ type: TLSContentType) -> String {
        switch type {
        case .changeCipherSpec: return "change_cipher_spec"
        case .alert: return "alert"
        case .handshake: return "handshake"
        case .applicationData: return "application_data"
        case .heartbeat: return "heartbeat"
        case .sslv2ClientHello: return "sslv2_client_hello"
        default: return "unknown"
        }
    }
}
