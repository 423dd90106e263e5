public import FerryWire
import Foundation
public import NIOSSL

/// `ferry diagnose HOST:PORT`: connects, finds which versions the server accepts (with ClientHellos Ferry
/// builds, SSLv3 included), reads each plaintext server flight and the TLS 1.3 flight with keys of its
/// own, runs a real handshake with the user's client certificate, and judges everything it saw.
public struct Diagnoser: Sendable {
    public var host: String
    public var port: Int
    /// The name sent in SNI and checked against the server certificate (default: the host, unless an IP).
    public var serverName: String?
    /// The client side for the real handshake (certificate, key, trusted CAs).
    public var tls: TLSConfiguration
    /// The client certificate, decoded, to check against what the server asks for.
    public var clientCertificate: TLSCertificateSummary?
    /// The CA certificates sent with it (from the certificate file, after the leaf).
    public var clientChain: [TLSCertificateSummary] = []
    /// The trusted CAs (DER), for the server chain checks; empty: trust is not judged.
    public var trustedCAs: [TLSCertificateSummary]
    public var probeTimeout: Duration = .seconds(4)

    public init(
        host: String,
        port: Int,
        serverName: String?,
        tls: TLSConfiguration,
        clientCertificate: TLSCertificateSummary?,
        trustedCAs: [TLSCertificateSummary]
    ) {
        self.host = host
        self.port = port
        self.serverName = serverName
        self.tls = tls
        self.clientCertificate = clientCertificate
        self.trustedCAs = trustedCAs
    }

    public static let versions: [TLSProtocolVersion] = [.ssl3, .tls10, .tls11, .tls12, .tls13]

    public func run() async -> Diagnosis {
        var probes: [VersionProbe] = []
        var findings: [Finding] = []
        for version in Self.versions {
            do {
                probes.append(
                    try await VersionProbe.run(
                        version,
                        host: host,
                        port: port,
                        serverName: serverName,
                        timeout: probeTimeout
                    )
                )
            } catch {
                let reason = HandshakeAttempt.describe(error)
                findings.append(
                    Finding(
                        .connectFailed,
                        title: "Cannot connect to \(host):\(port): \(reason)",
                        evidence: ["TCP connect to \(host):\(port): \(reason)"]
                    )
                )
                return Diagnosis(
                    host: host,
                    port: port,
                    probes: probes,
                    handshake: nil,
                    handshakeError: nil,
                    findings: findings
                )
            }
            if case .notTLS = probes.last?.outcome { break }
        }
        func add(_ new: [Finding]) {
            for finding in new where !findings.contains(where: { $0.id == finding.id }) { findings.append(finding) }
        }
        // This side's own certificate first: a server that answers certificate_expired is right.
        if let certificate = clientCertificate {
            let now = Date()
            if certificate.notAfter < now {
                add([
                    Finding(
                        .clientCertExpired,
                        evidence: [
                            "your certificate \(certificate.subject) (issuer \(certificate.issuer)) expired \(TLSCertificateSummary.formatDate(certificate.notAfter))"
                        ]
                    )
                ])
            } else if certificate.notBefore > now {
                add([
                    Finding(
                        .clientCertExpired,
                        title: "Your client certificate is not valid yet",
                        evidence: [
                            "your certificate \(certificate.subject) (issuer \(certificate.issuer)) is valid from \(TLSCertificateSummary.formatDate(certificate.notBefore))",
                            "this machine's clock: \(TLSCertificateSummary.formatDate(now))",
                        ],
                        fixes: ["Check this machine's clock; otherwise use a certificate whose validity has begun."]
                    )
                ])
            }
        }
        if let plaintext = probes.first(where: { if case .notTLS = $0.outcome { return true } else { return false } }) {
            let answer = plaintext.serverPreview ?? ""
            let evidence = ["Ferry sent a \(plaintext.offered) ClientHello; the server answered: \"\(answer)\""]
            // An HTTP answer to the ClientHello: the port expects plaintext HTTP. Anything else (a banner
            // such as SSH's): a plaintext protocol that speaks first.
            let http =
                answer.hasPrefix("HTTP/") || answer.lowercased().contains("<html")
                || answer.lowercased().contains("<!doctype")
            add([Finding(http ? .tlsOnPlaintextPort : .plaintextOnTLSPort, evidence: evidence)])
            return Diagnosis(
                host: host,
                port: port,
                probes: probes,
                handshake: nil,
                handshakeError: nil,
                findings: findings.ordered
            )
        }
        if probes.allSatisfy({ $0.outcome == .closed || $0.outcome == .timedOut })
            && probes.contains(where: { $0.outcome == .timedOut })
        {
            add([Finding(.noResponse, evidence: probes.map { "\($0.offered): \($0.outcome)" })])
        }
        // What the server picks when offered up to TLS 1.2 (the incident: SSLv3), and each plaintext flight.
        for probe in probes.reversed() where probe.offered <= .tls12 {
            if case .otherVersion = probe.outcome {
                add(
                    TraceRules.findings(
                        probe.conversation,
                        local: .clientToServer,
                        clientCertificate: clientCertificate,
                        clientChain: clientChain
                    )
                )
            }
        }
        for probe in probes.reversed() where probe.accepted {
            // A legacy version accepted when offered alone is legacy-version-accepted; "negotiated" is for a server
            // that chose it over a higher offer.
            let alone: Set<String> = ["peer-alert", "ssl3-negotiated", "tls10-negotiated", "tls11-negotiated"]
            add(
                TraceRules.findings(
                    probe.conversation,
                    local: .clientToServer,
                    clientCertificate: clientCertificate,
                    clientChain: clientChain
                ).filter { !alone.contains($0.id) }
            )
        }
        let accepted = probes.filter(\.accepted)
        let blackHole = findings.contains(where: { $0.id == "no-response" })
        let legacy = accepted.filter { $0.offered < .tls12 }.map(\.offered)
        if !legacy.isEmpty {
            add([
                Finding(
                    .legacyVersionAccepted,
                    title: "The server still accepts \(legacy.map(\.description).joined(separator: ", "))",
                    evidence: legacy.map { "a ClientHello offering only \($0) was answered with a \($0) ServerHello" }
                )
            ])
        }
        // The TLS 1.3 flight, read with the probe's own keys.
        if let tls13 = accepted.first(where: { $0.offered == .tls13 }) {
            let conversation = tls13.conversation
            // Only a whole flight (up to the server's Finished) shows that no CertificateRequest is in it.
            let whole = conversation.records.contains { record in
                guard record.direction == .serverToClient, record.protection == .decrypted,
                    case .handshake(let messages) = record.content
                else { return false }
                return messages.contains { $0.type == .finished }
            }
            if whole, conversation.certificateRequest == nil, clientCertificate != nil {
                add([
                    Finding(
                        .clientCertNotRequested,
                        evidence: [
                            "TLS1.3: the server's encrypted flight (EncryptedExtensions .. Finished) holds no CertificateRequest"
                        ]
                    )
                ])
            }
        } else if let best = accepted.last, best.conversation.certificateRequest == nil, clientCertificate != nil,
            best.conversation.records.contains(where: { record in
                if case .handshake(let messages) = record.content {
                    return messages.contains { $0.type == .serverHelloDone }
                }
                return false
            })
        {
            add([
                Finding(
                    .clientCertNotRequested,
                    evidence: [
                        "\(best.offered): the server's flight ends with ServerHelloDone and holds no CertificateRequest"
                    ]
                )
            ])
        }
        // The server's certificate, from the best version seen.
        if let best = accepted.reversed().first(where: { $0.conversation.serverCertificates != nil }),
            let chain = best.conversation.serverCertificates
        {
            var signed: (Bool, String)?
            if case .accepted(let suite) = best.outcome {
                let name = suite.description
                signed = (
                    best.offered >= .tls13 || name.contains("_ECDHE_") || name.contains("_DHE_"),
                    "\(name) (\(best.offered))"
                )
            }
            add(
                await CertificateRules.serverChain(
                    chain,
                    host: serverName ?? host,
                    trusted: trustedCAs,
                    signedKeyExchange: signed
                )
            )
        }
        // A real handshake with the client certificate.
        // Always, unless the server never answers: the probes' verdict alone has been wrong (a close at once, SNI).
        var handshake: HandshakeAttempt.Outcome?
        if !blackHole {
            let attempt = await HandshakeAttempt.run(host: host, port: port, serverName: serverName, configuration: tls)
            handshake = attempt
            let offered = attempt.conversation.clientHello?.cipherSuites.filter { !$0.isSignalling } ?? []
            let picked = accepted.compactMap { probe -> String? in
                if case .accepted(let suite) = probe.outcome { return "\(probe.offered): \(suite)" }
                return nil
            }
            if attempt.conversation.serverHello == nil,
                attempt.conversation.alerts.contains(where: {
                    $0.direction == .serverToClient && $0.alert.alertDescription == .handshakeFailure
                }),
                accepted.allSatisfy({ probe in
                    if case .accepted(let suite) = probe.outcome { return !offered.contains(suite) }
                    return true
                })
            {
                add([
                    Finding(
                        .noCommonCipher,
                        evidence: [
                            "the server picks, from Ferry's broad probe list: \(picked.joined(separator: "; "))",
                            "your TLS client offered \(offered.count) suites, none of them: \(offered.map(\.description).joined(separator: " "))",
                            "the server answered your ClientHello with FATAL: HANDSHAKE_FAILURE",
                        ]
                    )
                ])
            }
            if let refusal = attempt.conversation.alerts.first(where: {
                $0.direction == .serverToClient && $0.alert.alertDescription == .protocolVersion
            }),
                attempt.conversation.serverHello == nil,
                let offeredByClient = attempt.conversation.clientHello?.offeredVersions, !accepted.isEmpty,
                accepted.allSatisfy({ !offeredByClient.contains($0.offered) })
            {
                let evidence = [
                    "the server accepts: \(accepted.map(\.offered.description).joined(separator: ", "))",
                    "your client offers: \(offeredByClient.map(\.description).joined(separator: ", "))",
                    "the server answered your ClientHello with \(refusal.alert)",
                ]
                // Whose side: a modern version the server accepts and this side's own settings leave out is local;
                // a server that accepts only legacy versions is the partner's to fix.
                let modern = accepted.map(\.offered).filter { $0 >= .tls12 }
                if let best = modern.max() {
                    add([
                        Finding(
                            .noCommonVersion,
                            title: "Your client's version settings leave out \(best), which the server accepts",
                            evidence: evidence + [
                                "your settings: min-version \(Self.name(tls.minimumTLSVersion)), max-version \(tls.maximumTLSVersion.map(Self.name) ?? "TLS1.3")"
                            ],
                            side: .local,
                            fixes: [
                                "Allow \(best) on this side: set max-version (or min-version) in client.tls, or in partners.NAME.tls for this partner, so that the range includes \(best)."
                            ]
                        )
                    ])
                } else {
                    add([
                        Finding(
                            .noCommonVersion,
                            title: "Your TLS client and the server share no protocol version",
                            evidence: evidence
                        )
                    ])
                }
            }
            // Refused at the ClientHello although a probe with the same versions and suites was accepted: the probes also
            // offer every signature scheme. Which one the server needs (its certificate's key) is found by offering each
            // scheme your client left out alone.
            if !findings.contains(where: { $0.id == FindingKind.noCommonCipher.id }),
                let schemes = await missingSignatureSchemes(attempt, accepted: accepted)
            {
                add([Finding(.serverSignatureNotOffered, evidence: schemes)])
            }
            // No probe accepted: say why from what the server did, not always "no common version".
            if accepted.isEmpty, !attempt.completed {
                let evidence = probes.map { "offered only \($0.offered): \($0.detail)" }
                let alerts =
                    probes.compactMap { probe -> TLSAlert? in
                        if case .alert(let alert) = probe.outcome { return alert } else { return nil }
                    }
                    + attempt.conversation.alerts.filter { $0.direction == .serverToClient }.map(\.alert)
                if alerts.contains(where: { $0.alertDescription.rawValue == 112 }) {
                    add([
                        Finding(
                            .unrecognizedName,
                            evidence: [
                                "the name sent in SNI: \(serverName ?? "none (an IP address was given; pass --sni NAME)")"
                            ] + evidence
                        )
                    ])
                } else if alerts.isEmpty, probes.allSatisfy({ $0.outcome == .closed }) {
                    add([
                        Finding(
                            .handshakeIncomplete,
                            title: "The server closes the connection at once, without an alert, whatever is offered",
                            evidence: evidence + Self.progress(of: attempt),
                            fixes: [
                                "Ask the partner whether its server accepts connections from your address (an access list, a firewall that resets) and whether this port is its TLS port.",
                                "If it sits behind a proxy or load balancer, check that the proxy reaches the TLS server behind it.",
                            ]
                        )
                    ])
                } else {
                    add([Finding(.noCommonVersion, evidence: evidence)])
                }
            }
            add(
                TraceRules.findings(
                    attempt.conversation,
                    local: .clientToServer,
                    clientCertificate: clientCertificate,
                    clientChain: clientChain
                )
            )
            // A handshake that did not complete is never "no problems": when no finding explains it, say what was seen.
            if !attempt.completed, !findings.contains(where: { $0.severity == .error }) {
                if let reason = attempt.error, reason.hasPrefix("BoringSSL: ") {
                    // Ferry's own TLS library refused what the server sent, without an alert the trace could show.
                    add([
                        Finding(
                            .handshakeIncomplete,
                            title:
                                "Your TLS client refused the server's answer (\(reason.dropFirst("BoringSSL: ".count)))",
                            evidence: Self.progress(of: attempt),
                            side: .local,
                            fixes: [
                                "ferry explain '\(reason.dropFirst("BoringSSL: ".count))' says what the reason means; run ferry diagnose --verbose for the server's messages it refers to."
                            ]
                        )
                    ])
                } else {
                    add([Finding(.handshakeIncomplete, evidence: Self.progress(of: attempt))])
                }
            }
        }
        return Diagnosis(
            host: host,
            port: port,
            probes: probes,
            handshake: handshake?.conversation,
            handshakeError: handshake?.error,
            findings: findings.ordered
        )
    }
}

extension Diagnoser {
    /// When the server refused the real handshake at its ClientHello (handshake_failure, no ServerHello) but
    /// accepted a probe of a version the client offers: the schemes the client left out that the server accepts
    /// when offered alone, and the certificate it then sent, as evidence; nil when none of them explains it.
    func missingSignatureSchemes(_ attempt: HandshakeAttempt.Outcome, accepted: [VersionProbe]) async -> [String]? {
        guard attempt.conversation.serverHello == nil,
            attempt.conversation.alerts.contains(where: {
                $0.direction == .serverToClient && $0.alert.alertDescription == .handshakeFailure
            }),
            let hello = attempt.conversation.clientHello, let offered = hello.signatureSchemes,
            let version = accepted.map(\.offered).filter({ hello.offeredVersions.contains($0) && $0 >= .tls12 }).max()
        else { return nil }
        let left = ClientHelloBuilder.broadSchemes.filter { scheme in !offered.contains { $0.rawValue == scheme } }
        var needed: [TLSSignatureScheme] = []
        var certificate: TLSCertificateSummary?
        for scheme in left {
            guard
                let probe = try? await VersionProbe.run(
                    version,
                    host: host,
                    port: port,
                    serverName: serverName,
                    timeout: probeTimeout,
                    signatureSchemes: [scheme]
                ), probe.accepted
            else { continue }
            needed.append(TLSSignatureScheme(rawValue: scheme))
            certificate = certificate ?? probe.conversation.serverCertificates?.entries.first?.summary
        }
        guard !needed.isEmpty else { return nil }
        return
            (certificate.map {
                ["the server's certificate: \($0.subject), \(TraceRules.article($0.publicKey)) \($0.publicKey) key"]
            } ?? [])
            + [
                "offered alone at \(version), the server accepts: \(needed.map(\.description).joined(separator: ", "))",
                "your TLS client offers: \(offered.map(\.description).joined(separator: ", "))",
                "the server answered your ClientHello with FATAL: HANDSHAKE_FAILURE",
            ]
    }

    /// A TLS library version as Ferry's settings spell it.
    static func name(_ version: TLSVersion) -> String {
        switch version {
        case .tlsv1: return "TLS1.0"
        case .tlsv11: return "TLS1.1"
        case .tlsv12: return "TLS1.2"
        case .tlsv13: return "TLS1.3"
        }
    }

    /// How far a handshake that did not complete got: what each side sent, and how it ended.
    static func progress(of attempt: HandshakeAttempt.Outcome) -> [String] {
        func messages(_ direction: TLSDirection) -> [String] {
            attempt.conversation.records.filter { $0.direction == direction }.flatMap { record -> [String] in
                switch record.content {
                case .handshake(let messages): return messages.map { $0.type.description }
                case .alert(let alerts): return alerts.map { "alert \($0)" }
                case .changeCipherSpec: return ["ChangeCipherSpec"]
                case .applicationData, .opaque: return ["encrypted record"]
                case .malformed(let reason): return ["malformed record (\(reason))"]
                }
            }
        }
        let sent = messages(.clientToServer)
        let received = messages(.serverToClient)
        return [
            "your TLS client: \(attempt.error ?? "did not complete")",
            "sent by your client: \(sent.isEmpty ? "nothing" : sent.joined(separator: ", "))",
            "received from the server: \(received.isEmpty ? "no complete record" : received.joined(separator: ", ") + ", then nothing more")",
        ]
    }
}

/// What `ferry diagnose` found.
public struct Diagnosis: Sendable {
    public let host: String
    public let port: Int
    public let probes: [VersionProbe]
    /// The real handshake's trace, when one was attempted.
    public let handshake: TLSConversation?
    public let handshakeError: String?
    public let findings: [Finding]
    /// Whether the real handshake was attempted and completed.
    public var handshakeCompleted: Bool { handshake != nil && handshakeError == nil }

    public var exitCode: Int32 { findings.exitCode }
}
