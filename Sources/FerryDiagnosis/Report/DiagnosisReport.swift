import FerryTrace
import FerryWire
import Foundation

/// How `ferry diagnose` prints a diagnosis.
public enum DiagnosisReport {
    public static func text(_ diagnosis: Diagnosis, verbose: Bool) -> String {
        var out =
            "Ferry diagnosis of \(diagnosis.host):\(diagnosis.port)\n\nProtocol versions (a ClientHello offering only that version):\n"
        for probe in diagnosis.probes {
            out += "  \(probe.offered.description.padding(toLength: 7, withPad: " ", startingAt: 0)) \(probe.detail)\n"
        }
        if let error = diagnosis.handshakeError {
            out += "\nHandshake with your client settings failed: \(error)\n"
        } else if diagnosis.handshakeCompleted {
            out += "\nHandshake with your client settings: completed\n"
        }
        out += "\n"
        if diagnosis.findings.isEmpty {
            out += "No problems found.\n"
        }
        for finding in diagnosis.findings {
            out += finding.text + "\n"
        }
        if verbose {
            for probe in diagnosis.probes where !probe.conversation.records.isEmpty {
                out +=
                    "Trace of the \(probe.offered) probe (-> sent by Ferry):\n"
                    + TLSTraceRenderer().render(probe.conversation, format: .summary) + "\n"
            }
            if let handshake = diagnosis.handshake {
                out +=
                    "Trace of the handshake with your client settings:\n"
                    + TLSTraceRenderer().render(handshake, format: .summary)
            }
        }
        return out
    }

    struct JSONReport: Encodable {
        struct Version: Encodable {
            let offered: String
            let result: String
            let cipherSuite: String?
            let detail: String
        }
        let host: String
        let port: Int
        let versions: [Version]
        let handshakeError: String?
        let findings: [Finding]
        let exitCode: Int32
    }

    public static func json(_ diagnosis: Diagnosis) -> String {
        let versions = diagnosis.probes.map { probe -> JSONReport.Version in
            switch probe.outcome {
            case .accepted(let suite):
                return .init(
                    offered: probe.offered.description,
                    result: "accepted",
                    cipherSuite: suite.description,
                    detail: probe.detail
                )
            case .otherVersion:
                return .init(
                    offered: probe.offered.description,
                    result: "other-version",
                    cipherSuite: nil,
                    detail: probe.detail
                )
            case .alert:
                return .init(
                    offered: probe.offered.description,
                    result: "alert",
                    cipherSuite: nil,
                    detail: probe.detail
                )
            case .closed:
                return .init(
                    offered: probe.offered.description,
                    result: "closed",
                    cipherSuite: nil,
                    detail: probe.detail
                )
            case .timedOut:
                return .init(
                    offered: probe.offered.description,
                    result: "timeout",
                    cipherSuite: nil,
                    detail: probe.detail
                )
            case .notTLS:
                return .init(
                    offered: probe.offered.description,
                    result: "not-tls",
                    cipherSuite: nil,
                    detail: probe.detail
                )
            }
        }
        let report = JSONReport(
            host: diagnosis.host,
            port: diagnosis.port,
            versions: versions,
            handshakeError: diagnosis.handshakeError,
            findings: diagnosis.findings,
            exitCode: diagnosis.exitCode
        )
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return (try? encoder.encode(report)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}
