import FerryTrace
public import FerryWire
import Foundation

/// Findings from a handshake trace: what the records say, judged by the RFCs and the known behaviour of
/// real stacks.
public enum TraceRules {
    /// - Parameters:
    ///   - local: which side we were (`.clientToServer` for a client); nil for a capture read from outside.
    ///   - clientCertificate: the certificate our side presents (client side), to check against the request.
    ///   - clientChain: the CA certificates sent after it (leaf first is also accepted); the trace's own client
    ///     Certificate message is used as well when it was seen.
    ///   - serverCertificate: on a server, its own certificate, to check against what the client offers.
    public static func findings(
        _ conversation: TLSConversation,
        local: TLSDirection?,
        clientCertificate: TLSCertificateSummary? = nil,
        clientChain: [TLSCertificateSummary] = [],
        serverCertificate: TLSCertificateSummary? = nil
    ) -> [Finding] {
        var findings: [Finding] = []
        // This server's certificate cannot sign with anything the client offers: the handshake ends at the ClientHello.
        if local == .serverToClient, conversation.serverHello == nil, let certificate = serverCertificate,
            let hello = conversation.clientHello,
            let mismatch = serverKeyMismatch(certificate, hello: hello)
        {
            findings.append(
                Finding(
                    .serverSignatureNotOffered,
                    title: "The client offers no signature scheme this server's certificate can sign with",
                    evidence: mismatch,
                    fixes: [
                        "The partner's client offers a scheme for this key type (OpenSSL -sigalgs / SignatureAlgorithms; Java jdk.tls.client.SignatureSchemes).",
                        "Or serve a certificate with a key type the client offers (the evidence lists its schemes): RSA (rsaEncryption) fits clients that offer only RSA schemes.",
                    ]
                )
            )
        }
        // The summary trace's wording; a ClientHello also says which versions it offered.
        // Records protected under TLS 1.3 carry the legacy record version 1.2; findings name the version in use.
        let tls13 = (conversation.version ?? .ssl3) >= .tls13
        let summary = { (record: TLSTraceRecord) -> String in
            var text = TLSTraceRenderer.summary(of: record)
            if tls13, record.protection != .plaintext, text.hasPrefix(record.version.description + ": ") {
                text =
                    TLSProtocolVersion.tls13.description + ": " + text.dropFirst(record.version.description.count + 2)
            }
            if case .handshake(let messages) = record.content {
                for message in messages {
                    if case .clientHello(let hello) = message.content {
                        text += " offering \(hello.offeredVersions.map(\.description).joined(separator: ", "))"
                    }
                }
            }
            return text
        }
        // Bytes that are not TLS.
        for record in conversation.records {
            guard case .malformed(let why) = record.content, why.hasPrefix("not a TLS record") else { continue }
            let fromServer = record.direction == .serverToClient
            if fromServer {
                findings.append(
                    Finding(
                        .plaintextOnTLSPort,
                        evidence: [
                            "the server answered: \(why.replacingOccurrences(of: "not a TLS record (starts with ", with: "").dropLast())"
                        ]
                    )
                )
            } else {
                findings.append(
                    Finding(
                        .plaintextOnTLSPort,
                        title: "The client spoke plaintext to this TLS port",
                        evidence: ["the client sent: \(why)"],
                        side: .peer,
                        fixes: ["The client must use TLS (https://) on this port."]
                    )
                )
            }
            break
        }
        // The CertificateRequest.
        if let request = conversation.certificateRequest, let version = conversation.version {
            let requestLine = conversation.records.first { record in
                if case .handshake(let messages) = record.content {
                    return messages.contains { $0.type == .certificateRequest }
                }
                return false
            }.map(summary)
            var evidence = requestLine.map { [$0] } ?? []
            if version < .tls13, request.distinguishedNames.isEmpty {
                evidence.append(
                    "CertificateRequest: Certificate Types (\(request.certificateTypes.count)): \(request.certificateTypes.map(\.description).joined(separator: " ")); Distinguished Names Length = \(request.distinguishedNamesLength ?? 0) (an empty certificate_authorities list)"
                )
                evidence.append("negotiated version: \(version)")
                if let alert = conversation.alerts.first(where: { $0.alert.alertDescription == .illegalParameter }) {
                    evidence.append(
                        "the \(alert.direction == .clientToServer ? "client" : "server") answered with \(alert.alert)"
                    )
                }
                findings.append(Finding(version <= .tls10 ? .caNamesEmptyIllegal : .caNamesEmpty, evidence: evidence))
            }
            if version >= .tls13, request.hasAuthoritiesExtension, request.distinguishedNames.isEmpty {
                findings.append(
                    Finding(
                        .tls13EmptyCAExtension,
                        evidence: evidence + ["certificate_authorities extension present with no names"]
                    )
                )
            }
            if let certificate = clientCertificate {
                // Any CA on the way up may be the one named (RFC 5246 §7.4.4: a root or a subordinate CA; RFC 8446
                // §4.2.4): the leaf's issuer, and each CA certificate sent with it and that CA's own issuer.
                if let mismatch = keyTypeMismatch(certificate, request: request, version: version) {
                    findings.append(Finding(.clientKeyTypeNotAccepted, evidence: mismatch))
                }
                let sent = clientChain + (conversation.clientCertificates?.entries.compactMap(\.summary) ?? [])
                let path = issuerPath(of: certificate, through: sent)
                if !request.distinguishedNames.isEmpty,
                    !request.distinguishedNames.contains(where: { name in path.contains { $0 == name.rfc4514 } })
                {
                    // A large trust store sends hundreds of names: the first few, and how many more (--verbose has all).
                    let all = request.distinguishedNames.map { $0.rfc4514 ?? "?" }
                    let names =
                        all.prefix(8).joined(separator: "; ")
                        + (all.count > 8 ? "; … and \(all.count - 8) more (ferry diagnose --verbose lists them)" : "")
                    let evidence =
                        path.count > 1
                        ? [
                            "your certificate's issuers, up its chain: \(path.joined(separator: " → "))",
                            "the server names: \(names)",
                        ]
                        : ["your certificate's issuer: \(certificate.issuer)", "the server names: \(names)"]
                    findings.append(Finding(.clientIssuerNotInCANames, evidence: evidence))
                }
            }
        } else if conversation.serverHello != nil, local == .clientToServer, clientCertificate != nil,
            conversation.handshakeCompleted
        {
            findings.append(
                Finding(.clientCertNotRequested, evidence: ["no CertificateRequest in the server's flight"])
            )
        }
        // Versions.
        if let version = conversation.version {
            let offered = conversation.clientHello?.highestVersion
            let although = offered.map { $0 > version ? " although the client offered up to \($0)" : "" } ?? ""
            let evidence =
                [
                    "ServerHello: version \(version)\(conversation.serverHello.map { ", cipher suite \($0.cipherSuite)" } ?? "")"
                ]
                + (offered.map { ["ClientHello: highest version offered \($0)"] } ?? [])
            switch version {
            case .ssl3:
                findings.append(
                    Finding(.ssl3Negotiated, title: "The server negotiated SSLv3" + although, evidence: evidence)
                )
            case .tls10:
                findings.append(
                    Finding(.tls10Negotiated, title: "The server negotiated TLS 1.0" + although, evidence: evidence)
                )
            case .tls11:
                findings.append(
                    Finding(.tls11Negotiated, title: "The server negotiated TLS 1.1" + although, evidence: evidence)
                )
            default: break
            }
        }
        if let certificate = clientCertificate, !certificate.extendedKeyUsage.isEmpty,
            !certificate.extendedKeyUsage.contains("clientAuth")
        {
            findings.append(
                Finding(
                    .clientCertMissingClientAuth,
                    evidence: [
                        "your certificate \(certificate.subject) has EKU: \(certificate.extendedKeyUsage.joined(separator: ", "))"
                    ]
                )
            )
        }
        // Alerts: who sent which, and what the other side had sent just before.
        for (index, record) in conversation.records.enumerated() {
            guard case .alert(let alerts) = record.content, let alert = alerts.first(where: \.isFatal) else { continue }
            let sender = record.direction == .clientToServer ? "client" : "server"
            let before = conversation.records[..<index].last { $0.direction != record.direction }.map(summary)
            var info = AlertInfo.lookup(alert.alertDescription.rawValue)
            // illegal_parameter is the incident only where the incident can happen: SSLv3/TLS 1.0 with an empty CA
            // list in the CertificateRequest. Elsewhere it is about the message just before.
            if alert.alertDescription == .illegalParameter, let known = info,
                !((conversation.version ?? .tls12) <= .tls10
                    && conversation.certificateRequest?.distinguishedNames.isEmpty == true)
            {
                info = AlertInfo(
                    code: known.code,
                    name: known.name,
                    meaning: known.meaning,
                    causes: [
                        "a value in the message just before that the \(sender) cannot accept: a certificate whose key usage does not fit the key exchange (BoringSSL: KEY_USAGE_BIT_INCORRECT), a key share or extension out of range"
                    ],
                    fixes: [
                        "Check the message named just before and the other findings; ferry explain decodes the TLS library's reason."
                    ]
                )
            }
            var evidence = ["the \(sender) sent \(summary(record))"]
            if let before {
                evidence.append("just before, the \(sender == "client" ? "server" : "client") had sent \(before)")
            }
            if [40, 42, 43, 45, 46, 48, 116].contains(alert.alertDescription.rawValue) {
                // The certificate the alert is about: the other side's.
                let judged =
                    record.direction == .serverToClient
                    ? conversation.clientCertificates : conversation.serverCertificates
                if let leaf = judged?.entries.first?.summary {
                    evidence.append(
                        "the \(sender == "client" ? "server" : "client")'s certificate: \(leaf.subject), issued by \(leaf.issuer), valid until \(TLSCertificateSummary.formatDate(leaf.notAfter))"
                    )
                } else if record.direction == .serverToClient, let judged, judged.entries.isEmpty {
                    evidence.append("the client sent no certificate")
                }
            }
            if let info {
                evidence.append("\(info.name): \(info.meaning); usual causes: \(info.causes.joined(separator: "; "))")
            }
            let name = info?.name ?? "alert \(alert.alertDescription.rawValue)"
            let byPeer = local.map { $0 != record.direction } ?? true
            findings.append(
                Finding(
                    .peerAlert,
                    title: byPeer
                        ? "The \(sender) aborted the handshake with \(name) (\(alert.alertDescription.rawValue))"
                        : "This side (the \(sender)) aborted the handshake with \(name) (\(alert.alertDescription.rawValue))",
                    evidence: evidence,
                    side: byPeer ? .peer : .local,
                    fixes: (info?.fixes ?? []) + [AlertInfo.confirm]
                )
            )
            break
        }
        return findings.ordered
    }

    /// Whether the request's certificate types (TLS 1.2 and earlier) and signature schemes leave out the key of
    /// `certificate`; the evidence when they do.
    static func keyTypeMismatch(
        _ certificate: TLSCertificateSummary,
        request: CertificateRequest,
        version: TLSProtocolVersion
    ) -> [String]? {
        let key = certificate.publicKey
        guard let usable = signatureSchemes(forKey: key, version: version) else { return nil }
        // certificate_types: rsa_sign (1), dss_sign (2), ecdsa_sign (64, also EdDSA: RFC 8422 §5.5).
        let type: UInt8 = key.hasPrefix("RSA") ? 1 : key == "DSA" ? 2 : 64
        var evidence: [String] = []
        if version < .tls13, !request.certificateTypes.isEmpty,
            !request.certificateTypes.contains(where: { $0.rawValue == type })
        {
            evidence.append(
                "the server accepts certificate types: \(request.certificateTypes.map(\.description).joined(separator: ", "))"
            )
        }
        if !request.signatureAlgorithms.isEmpty,
            !request.signatureAlgorithms.contains(where: { usable.contains($0.rawValue) })
        {
            evidence.append(
                "the server accepts signature schemes: \(request.signatureAlgorithms.map(\.description).joined(separator: ", "))"
            )
        }
        guard !evidence.isEmpty else { return nil }
        return ["your certificate \(certificate.subject) has \(article(key)) \(key) key"] + evidence
    }

    /// Whether a ClientHello's signature_algorithms leave out every scheme the server's certificate can sign
    /// with; the evidence when they do.
    static func serverKeyMismatch(_ certificate: TLSCertificateSummary, hello: ClientHello) -> [String]? {
        let version = hello.highestVersion
        guard let offered = hello.signatureSchemes,
            let usable = signatureSchemes(forKey: certificate.publicKey, version: version),
            !offered.contains(where: { usable.contains($0.rawValue) })
        else { return nil }
        return [
            "this server's certificate \(certificate.subject) has \(article(certificate.publicKey)) \(certificate.publicKey) key; under \(version) it signs with \(usable.sorted().map { TLSSignatureScheme(rawValue: $0).description }.joined(separator: " or "))",
            "the client offers signature schemes: \(offered.map(\.description).joined(separator: ", "))",
        ]
    }

    /// The signature schemes a key of this type (as `TLSCertificateSummary.publicKey` names it) can sign
    /// handshake messages with under `version`: TLS 1.3 binds ECDSA schemes to their curve (RFC 8446 §4.2.3);
    /// nil for a key type not known here.
    static func signatureSchemes(forKey key: String, version: TLSProtocolVersion) -> Set<UInt16>? {
        let anyECDSA: Set<UInt16> = [0x0403, 0x0503, 0x0603, 0x0203]
        let tls13 = version >= .tls13
        switch key {
        case "RSA": return [0x0401, 0x0501, 0x0601, 0x0804, 0x0805, 0x0806, 0x0201]
        case "RSA-PSS": return [0x0809, 0x080A, 0x080B]
        case "ECDSA P-256": return tls13 ? [0x0403] : anyECDSA
        case "ECDSA P-384": return tls13 ? [0x0503] : anyECDSA
        case "ECDSA P-521": return tls13 ? [0x0603] : anyECDSA
        case "ECDSA brainpoolP256r1": return tls13 ? [0x081A] : anyECDSA
        case "ECDSA brainpoolP384r1": return tls13 ? [0x081B] : anyECDSA
        case "ECDSA brainpoolP512r1": return tls13 ? [0x081C] : anyECDSA
        case "Ed25519": return [0x0807]
        case "Ed448": return [0x0808]
        case "DSA": return tls13 ? [] : [0x0202, 0x0402, 0x0502, 0x0602]
        default: return nil
        }
    }

    static func article(_ word: String) -> String { word.hasPrefix("E") || word.hasPrefix("RSA") ? "an" : "a" }

    /// The names of the CAs above a certificate: its issuer, then, following the certificates sent with it by
    /// subject, each one's issuer, up to a self-signed one.
    static func issuerPath(of leaf: TLSCertificateSummary, through chain: [TLSCertificateSummary]) -> [String] {
        var path = [leaf.issuer]
        var current = leaf
        while let next = chain.first(where: { $0.subject == current.issuer && $0.der != current.der }),
            next.issuer != next.subject, !path.contains(next.issuer)
        {
            path.append(next.issuer)
            current = next
        }
        return path
    }
}
