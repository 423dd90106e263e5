import FerryConfig
import FerryLedger
import FerryProtocol
import FerryTLS
import FerryTestSupport
import Foundation
import NIOCore
import SwiftASN1
import Testing
import X509

@testable import FerryServer

#if canImport(Glibc)
import Glibc
#endif

/// Unauthenticated noise and crafted names: what a stranger or a careless partner can make the server write.
@Suite("Unauthenticated noise and crafted names", .serialized)
struct NoiseTests {
    @Test("200 plaintext connections from one address make at most a handful of ledger rows; the rest are counted")
    func plaintextFlood() async throws {
        try await TestServerHarness.with { server in
            let started = ContinuousClock.now
            for _ in 0..<200 {
                let fd = try await ConnectionLimitTests.rawConnection(from: "127.0.0.7", port: server.port)
                let request = Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
                _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
                _ = try await ConnectionLimitTests.closedByServer(fd, within: 2)
                close(fd)
            }
            // Rows are written off the event loop: wait until the expected ones are there, then a moment more for any
            // that should not be.
            var rows = try await server.ledger.recent(limit: 1000).filter { $0.operation == .tls }
            for _ in 0..<100 where rows.count < FailureThrottle().perSource {
                try await Task.sleep(for: .milliseconds(100))
                rows = try await server.ledger.recent(limit: 1000).filter { $0.operation == .tls }
            }
            try await Task.sleep(for: .seconds(1))
            rows = try await server.ledger.recent(limit: 1000).filter { $0.operation == .tls }
            // One window (a minute) on an idle machine; a loaded one may spread the flood over more, each allowing its
            // own few rows and a summary row for the window before.
            let windows = Int((ContinuousClock.now - started) / .seconds(60)) + 1
            let perSource = FailureThrottle().perSource
            #expect(
                rows.count >= perSource && rows.count <= windows * (perSource + 1),
                "\(rows.count) rows for 200 failed handshakes from one address over \(windows) window(s)"
            )
            #expect(rows.allSatisfy { $0.partner == "-" && $0.error?.contains("127.0.0.7") == true })
        }
    }

    @Test("the throttle reports what it only counted, once per source, when the window turns")
    func throttleSummaries() {
        let throttle = FailureThrottle(window: .seconds(60), perSource: 2, total: 3)
        let start = NIODeadline.now()
        #expect(throttle.admit(source: "a", now: start).detailed)
        #expect(throttle.admit(source: "a", now: start).detailed)
        #expect(!throttle.admit(source: "a", now: start).detailed)
        #expect(throttle.admit(source: "b", now: start).detailed)
        #expect(!throttle.admit(source: "c", now: start).detailed, "the total budget of 3 is spent")
        let next = throttle.admit(source: "a", now: start + .seconds(61))
        #expect(next.detailed)
        #expect(next.summaries.map(\.source) == ["a", "c"] && next.summaries.map(\.count) == [1, 1])
        // A window opens at the first failure, not when the server started: a flood that begins late in a quiet
        // minute is not split in two.
        let quiet = FailureThrottle(window: .seconds(60), perSource: 2, total: 10)
        let late = NIODeadline.now() + .seconds(90)
        #expect(quiet.admit(source: "a", now: late).detailed)
        #expect(quiet.admit(source: "a", now: late + .seconds(40)).detailed)
        let third = quiet.admit(source: "a", now: late + .seconds(59))
        #expect(!third.detailed && third.summaries.isEmpty)
        let after = quiet.admit(source: "a", now: late + .seconds(60))
        #expect(after.detailed && after.summaries.map(\.count) == [1])
    }

    @Test(
        "an unverified certificate's subject with escape codes and a newline is stored escaped, never as the partner, and printed safely"
    )
    func craftedSubject() async throws {
        let curl = try ExternalTool.require("curl", installHint: "apt-get install curl")
        try await TestServerHarness.with { server in
            let crafted = "evil\u{1B}[2J\nforged 2026-01-01 in PUT ok acme"
            try server.pki.issue(crafted, by: server.pki.otherCA, file: "crafted")
            let outcome = try await ExternalTool.run(curl, server.curlIdentity("crafted") + [server.url("")])
            #expect(outcome.status != 0)
            var rows: [LedgerEntry] = []
            for _ in 0..<100 where rows.isEmpty {
                try await Task.sleep(for: .milliseconds(50))
                rows = try await server.ledger.recent(limit: 10).filter { $0.operation == .tls }
            }
            let row = try #require(rows.first)
            #expect(row.partner == "-")
            let subject = try #require(row.peerSubject)
            #expect(subject.hasPrefix("unverified: "), "\(subject)")
            #expect(!subject.unicodeScalars.contains { $0.value < 0x20 }, "\(subject.debugDescription)")
            #expect(subject.contains("\\u{1B}") && subject.contains("\\u{A}"), "\(subject)")
            // One serial format in every row: lowercase hexadecimal without separators, as a verified partner's.
            let pem = try String(contentsOfFile: server.pki.certificate("crafted"), encoding: .utf8)
            let certificate = try X509.Certificate(pemEncoded: pem)
            #expect(row.peerSerial == PeerIdentity(certificate: certificate).serial)
            #expect(row.peerSerial?.contains(":") == false)
            let history = try await ExternalTool.run(
                try CLITests.ferry,
                ["history", "--server", "--root", server.root]
            )
            #expect(history.status == 0, "\(history.output)")
            #expect(
                !history.stdout.contains("\u{1B}") && !history.stdout.contains("\nforged"),
                "\(history.stdout.debugDescription)"
            )
        }
    }

    @Test(
        "names with C1 controls, DEL or bidirectional overrides are refused with 400 and stored nowhere",
        arguments: ["a%C2%85b", "a%7Fb", "invoice%E2%80%AEfdp.exe", "x%E2%81%A6y", "%1B%5B2J"]
    )
    func craftedNames(name: String) async throws {
        let curl = try ExternalTool.require("curl", installHint: "apt-get install curl")
        try await TestServerHarness.with { server in
            let file = server.folder.path + "/f.txt"
            try "x".write(toFile: file, atomically: true, encoding: .utf8)
            let outcome = try await ExternalTool.run(
                curl,
                server.curlIdentity("acme") + ["--path-as-is", "-T", file, "-w", "\n%{http_code}", server.url(name)]
            )
            #expect(outcome.stdout.hasSuffix("\n400"), "\(name): \(outcome.stdout)")
            #expect(
                !outcome.stdout.contains("\u{1B}") && !outcome.stdout.contains("\u{202E}"),
                "the problem echoes the raw name: \(outcome.stdout.debugDescription)"
            )
            let stored = (try? FileManager.default.contentsOfDirectory(atPath: server.root + "/acme")) ?? []
            #expect(stored.isEmpty, "\(stored)")
        }
    }

    @Test("the server's sweep removes ledger rows older than server.ledger-retain and keeps the rest")
    func ledgerRetention() async throws {
        try await TestServerHarness.with(configure: { configuration, _ in
            configuration.ledgerRetention = 7 * 86_400
            configuration.uploadSweepInterval = 0.2
        }) { server in
            let old = Date().addingTimeInterval(-8 * 86_400)
            try await server.ledger.record(
                LedgerEntry(
                    direction: .inbound,
                    partner: "acme",
                    operation: .put,
                    path: "acme/old",
                    bytes: 1,
                    sha256: nil,
                    started: old,
                    ended: old,
                    result: .ok
                )
            )
            try await server.ledger.record(
                LedgerEntry(
                    direction: .inbound,
                    partner: "acme",
                    operation: .put,
                    path: "acme/new",
                    bytes: 1,
                    sha256: nil,
                    started: Date(),
                    result: .ok
                )
            )
            var paths: [String] = []
            for _ in 0..<50 {
                try await Task.sleep(for: .milliseconds(100))
                paths = try await server.ledger.recent(limit: 10).map(\.path)
                if !paths.contains("acme/old") { break }
            }
            #expect(paths == ["acme/new"], "\(paths)")
        }
    }

    @Test("terminal text: controls and bidi overrides escaped, backslashes doubled, ordinary text untouched")
    func terminalText() {
        #expect(TerminalText.escaped("plain ünïcödé – ok") == "plain ünïcödé – ok")
        #expect(TerminalText.escaped("a\u{1B}[31mb") == "a\\u{1B}[31mb")
        #expect(TerminalText.escaped("x\u{202E}y\u{85}z\u{7F}") == "x\\u{202E}y\\u{85}z\\u{7F}")
        #expect(
            TerminalText.escaped("a\\u{1B}b") == "a\\\\u{1B}b",
            "a literal escape sequence cannot pass for an escaped control"
        )
        #expect(TerminalText.escaped("one\ntwo\r", keepingNewlines: true) == "one\ntwo\\u{D}")
    }
}
