import FerryTestSupport
import FerryTrace
import FerryWire
import Foundation
import NIOCore

/// The same facts read two ways from one capture: by tshark (Wireshark's dissector, decrypting with the key
/// log) and by Ferry's decoder. Tests compare the two.
struct HandshakeFacts: Equatable, CustomStringConvertible {
    /// Per direction: "version/type" of each record (type after decryption).
    var clientRecords: [String] = []
    var serverRecords: [String] = []
    /// Per direction: handshake message types in order.
    var clientMessages: [UInt8] = []
    var serverMessages: [UInt8] = []
    var cipherSuite: UInt16?
    var certificateTypes: [UInt8] = []
    /// The Distinguished Names Length fields (TLS <= 1.2 list, or the TLS 1.3 extension's list).
    var distinguishedNamesLengths: [Int] = []
    var distinguishedNames: [String] = []
    /// "level/description" of every alert.
    var alerts: [String] = []

    var description: String {
        """
        client records \(clientRecords)
        server records \(serverRecords)
        client messages \(clientMessages)
        server messages \(serverMessages)
        suite \(cipherSuite.map { String($0, radix: 16) } ?? "-") cert types \(certificateTypes) dnames_len \(distinguishedNamesLengths) DNs \(distinguishedNames) alerts \(alerts)
        """
    }

    /// What tshark decodes, with the key log when given.
    static func tshark(_ file: String, keylog: String?, serverPort: Int) async throws -> HandshakeFacts {
        let tshark = try ExternalTool.require("tshark", installHint: "apt-get install tshark")
        // Decode the server's port as TLS: a random test port may be registered to another protocol in
        // Wireshark, whose dissector would otherwise win over TLS's heuristics.
        var options: [String] = ["-r", file, "-d", "tcp.port==\(serverPort),tls", "-Y", "tls"]
        if let keylog { options += ["-o", "tls.keylog_file:\(keylog)"] }
        let fields = [
            "tcp.srcport", "tls.record.version", "tls.record.content_type", "tls.handshake.type",
            "tls.handshake.ciphersuite",
            "tls.handshake.cert_type", "tls.handshake.dnames_len", "tls.alert_message.level", "tls.alert_message.desc",
        ]
        let outcome = try await ExternalTool.run(
            tshark,
            options + ["-T", "fields", "-E", "separator=;", "-E", "aggregator=,"] + fields.flatMap { ["-e", $0] }
        )
        guard outcome.status == 0 else { throw ToolFailure(output: outcome.output) }
        var facts = HandshakeFacts()
        for line in outcome.stdout.split(separator: "\n") {
            let columns = line.split(separator: ";", omittingEmptySubsequences: false).map {
                $0.split(separator: ",").map(String.init)
            }
            guard columns.count == fields.count, let port = columns[0].first.flatMap({ Int($0) }) else { continue }
            let fromServer = port == serverPort
            let records = zip(columns[1], columns[2]).map { "\(number($0) ?? 0)/\(number($1) ?? 0)" }
            let messages = columns[3].compactMap { number($0) }.map { UInt8($0) }
            if fromServer {
                facts.serverRecords += records
                facts.serverMessages += messages
                if messages.contains(2), let suite = columns[4].first.flatMap(number) {
                    facts.cipherSuite = UInt16(suite)
                }
            } else {
                facts.clientRecords += records
                facts.clientMessages += messages
            }
            facts.certificateTypes += columns[5].compactMap(number).map { UInt8($0) }
            facts.distinguishedNamesLengths += columns[6].compactMap(number)
            facts.alerts += zip(columns[7], columns[8]).map { "\($0)/\($1)" }
        }
        // Distinguished names are printed in the detail view only.
        let detail = try await ExternalTool.run(tshark, options + ["-O", "tls"])
        for line in detail.stdout.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard trimmed.hasPrefix("Distinguished Name: ("), trimmed.hasSuffix(")") else { continue }
            let inner = trimmed.dropFirst("Distinguished Name: (".count).dropLast()
            facts.distinguishedNames.append(
                inner.replacingOccurrences(of: "id-at-organizationName=", with: "O=").replacingOccurrences(
                    of: "id-at-commonName=",
                    with: "CN="
                )
            )
        }
        return facts
    }

    /// What Ferry decodes from the same file.
    static func ferry(_ file: String, keylog: String?) throws -> HandshakeFacts {
        let capture = try CaptureFile(bytes: .init(bytes: try Data(contentsOf: URL(fileURLWithPath: file))))
        var keys = TLSKeyLog()
        if let keylog { keys = TLSKeyLog(text: try String(contentsOfFile: keylog, encoding: .utf8)) }
        let tls = CaptureTrace(file: capture, extraKeys: keys).connections.compactMap(\.conversation)
        guard tls.count == 1, let conversation = tls.first else {
            throw ToolFailure(output: "expected one TLS connection in \(file), found \(tls.count)")
        }
        var facts = HandshakeFacts()
        for record in conversation.records {
            let text = "\(record.version.rawValue)/\(record.contentType.rawValue)"
            var messages: [UInt8] = []
            if case .handshake(let list) = record.content { messages = list.map(\.type.rawValue) }
            if case .alert(let list) = record.content {
                facts.alerts += list.map { "\($0.level)/\($0.alertDescription.rawValue)" }
            }
            if record.direction == .clientToServer {
                facts.clientRecords.append(text)
                facts.clientMessages += messages
            } else {
                facts.serverRecords.append(text)
                facts.serverMessages += messages
            }
        }
        facts.cipherSuite = conversation.cipherSuite?.rawValue
        if let request = conversation.certificateRequest {
            facts.certificateTypes = request.certificateTypes.map(\.rawValue)
            if let length = request.distinguishedNamesLength {
                facts.distinguishedNamesLengths = [length]
            } else if request.hasAuthoritiesExtension {
                facts.distinguishedNamesLengths = [request.distinguishedNames.reduce(0) { $0 + 2 + $1.der.count }]
            }
            facts.distinguishedNames = request.distinguishedNames.map { $0.rfc4514 ?? "?" }
        }
        return facts
    }

    struct ToolFailure: Error, CustomStringConvertible {
        let output: String
        var description: String { output }
    }
}

private func number(_ text: String) -> Int? {
    text.hasPrefix("0x") ? Int(text.dropFirst(2), radix: 16) : Int(text)
}

private func number(_ text: Substring) -> Int? { number(String(text)) }
