import FerryDiagnosis
import FerryTLS
import FerryTrace
import FerryWire
import Foundation
import NIOSSL

/// Turns a failed handshake into a message that says which side objected and what to do.
///
/// The full diagnoser (`ferry diagnose`) goes further; this covers what a transfer can tell from its own
/// connection: the alerts the tap saw and the TLS library's error.
enum HandshakeExplanation {
    static func explain(
        error: any Error,
        snapshot: TLSConnectionRecord.Snapshot,
        target: RemoteTarget,
        findings: [Finding] = []
    ) -> String {
        let raw = String(describing: error)
        var lines = ["TLS handshake with \(target.authority) failed."]
        if let wire = snapshot.wireError {
            lines.append("The server did not answer with TLS: \(wire). Is \(target.authority) a plaintext (HTTP) port?")
            return lines.joined(separator: "\n")
        }
        if let version = snapshot.version, let suite = snapshot.cipherSuite {
            lines.append("Negotiated so far: \(version), \(suite).")
        }
        if let refusal = snapshot.policyRefusal {
            lines.append(
                "This client refused the server: \(refusal). Fix: raise verify-depth or cipher-suites in this side's profile if the partner is right, or ask the partner to change."
            )
            return lines.joined(separator: "\n")
        }
        // The first fatal alert is the cause; what a stack sends after it (GnuTLS: access_denied, then
        // bad_certificate) follows from it.
        let received = snapshot.alertsReceived.first(where: \.isFatal) ?? snapshot.alertsReceived.first
        let alertName = received?.alertDescription.name ?? Self.alertName(in: raw)
        if let received {
            lines.append(
                "The server sent alert \(received.alertDescription.rawValue) \(received.alertDescription) (\(received.isFatal ? "fatal" : "warning"))."
            )
        } else if let sent = snapshot.alertsSent.first(where: \.isFatal) ?? snapshot.alertsSent.first {
            lines.append("This client sent alert \(sent.alertDescription.rawValue) \(sent.alertDescription).")
        }
        switch alertName {
        case "CERTIFICATE_REQUIRED":
            lines.append(
                "Cause: the server requires a client certificate and none was sent. Fix: pass --cert and --key (or set client.tls in the config)."
            )
        case "UNKNOWN_CA":
            lines.append(
                "Cause: the server does not trust the CA that issued this client certificate. Fix: use a certificate from a CA in the server's server.tls.ca, or have the partner add your CA."
            )
        case "BAD_CERTIFICATE", "UNSUPPORTED_CERTIFICATE":
            lines.append(
                "Cause: the server rejected this client certificate (wrong key usage, malformed, or not for client authentication). Fix: use a certificate with EKU clientAuth."
            )
        case "CERTIFICATE_EXPIRED":
            lines.append("Cause: the server says a certificate has expired. Fix: renew this client's certificate.")
        case "PROTOCOL_VERSION":
            lines.append(
                "Cause: no protocol version in common. Fix: align client.tls min/max-version with the partner's (Ferry offers TLS 1.2 and 1.3 by default)."
            )
        case "HANDSHAKE_FAILURE":
            lines.append(
                "Cause: no cipher suite or signature algorithm in common, or the server refused the client certificate. Fix: compare both sides' TLS settings."
            )
        default:
            if raw.contains("CERTIFICATE_VERIFY_FAILED") || raw.contains("certificate verify failed")
                || raw.contains("unableToValidateCertificate")
            {
                lines.append(
                    "Cause: this client does not trust the server's certificate (unknown issuer, wrong host name, or expired). Fix: pass the partner's CA with --ca, and connect with a host name listed in its certificate."
                )
            } else if raw.contains("hostname") || raw.contains("Hostname") {
                lines.append(
                    "Cause: the server's certificate does not name '\(target.serverName ?? target.host)'. Fix: connect with a host name from its certificate, or pass --sni NAME with one."
                )
            }
        }
        if !findings.isEmpty {
            lines.append(
                "Findings from this connection's handshake trace (ferry diagnose \(target.authority) looks further):"
            )
            lines += findings.prefix(4).map(\.brief)
        }
        lines.append("TLS library said: \(TLSErrorText.plain(error))")
        return lines.joined(separator: "\n")
    }

    /// Finds an alert name in a BoringSSL error string such as `SSLV3_ALERT_CERTIFICATE_REQUIRED`.
    static func alertName(in text: String) -> String? {
        for marker in ["TLSV1_ALERT_", "SSLV3_ALERT_", "TLSV13_ALERT_"] {
            if let range = text.range(of: marker) {
                let tail = text[range.upperBound...].prefix { $0.isUppercase || $0 == "_" }
                return String(tail)
            }
        }
        return nil
    }
}
