import FerryClient
import FerryConfig
import FerryLedger
import FerryProtocol
import FerryTLS
import FerryTestSupport
import Foundation
import SwiftASN1
import Testing
import X509

@Suite("Transfers between the Ferry client and a real Ferry server", .serialized)
struct TransferIntegrationTests {
    @Test(
        "a 64 MiB file goes up (resumable, by default above 8 MiB) and comes back with matching digests, recorded in both ledgers"
    )
    func roundTrip() async throws {
        try await TestServerHarness.with { server in
            let source = server.folder.path + "/big.bin"
            let digest = try TestFiles.write(source, size: 64 << 20)
            let clientLedger = try await SQLiteLedger.open(path: server.folder.path + "/client.sqlite")
            defer { Task { try? await clientLedger.close() } }
            let client = try server.client("acme", ledger: clientLedger)

            let sent = try await client.send(files: [source], to: try server.target("inbound/"))
            #expect(sent.count == 1)
            #expect(sent[0].sha256 == digest)
            #expect(sent[0].bytes == 64 << 20)
            #expect(sent[0].status == 204)
            #expect(sent[0].method == "tus")
            #expect(sent[0].attempts == 1)
            #expect(sent[0].sentThisRun == 64 << 20)
            #expect(sent[0].tlsVersion == "TLS1.3")
            #expect(sent[0].serverSubject?.contains("CN=localhost") == true)
            #expect(try TestFiles.sha256(server.root + "/acme/inbound/big.bin") == digest)

            let fetched = server.folder.path + "/fetched.bin"
            let got = try await client.get(try server.target("inbound/big.bin"), to: fetched)
            #expect(got.sha256 == digest)
            #expect(try TestFiles.sha256(fetched) == digest)
            #expect(!FileManager.default.fileExists(atPath: fetched + ".part"))

            let rows = try await server.ledger.recent(limit: 10)
            let put = try #require(rows.first { $0.operation == .tus })
            #expect(put.partner == "acme")
            #expect(put.path == "acme/inbound/big.bin")
            #expect(put.bytes == 64 << 20)
            #expect(put.sha256 == digest)
            #expect(put.result == .ok)
            #expect(put.tlsVersion == "TLS1.3")
            #expect(put.cipherSuite?.hasPrefix("TLS_") == true)
            #expect(put.peerSubject?.contains("CN=acme") == true)
            #expect(put.peerIssuer?.contains("CN=Ferry Test CA") == true)
            let acme = try X509.Certificate(
                pemEncoded: try String(contentsOfFile: server.pki.certificate("acme"), encoding: .utf8)
            )
            #expect(put.peerSerial == PeerIdentity(certificate: acme).serial)
            let get = try #require(rows.first { $0.operation == .get })
            #expect(get.bytes == 64 << 20)
            #expect(get.result == .ok)

            let clientRows = try await clientLedger.recent(limit: 10)
            #expect(Set(clientRows.map(\.operation)) == [.tus, .get])
            #expect(
                clientRows.allSatisfy { $0.tlsVersion == "TLS1.3" && $0.peerSubject?.contains("CN=localhost") == true }
            )
        }
    }

    @Test("several files go into a folder under their own names; ls lists them with digests; rm deletes")
    func severalFilesListAndDelete() async throws {
        try await TestServerHarness.with { server in
            let a = server.folder.path + "/a.csv"
            let b = server.folder.path + "/b b.csv"
            let digestA = try TestFiles.write(a, size: 1000, seed: 1)
            try TestFiles.write(b, size: 0, seed: 2)
            let client = try server.client("acme")
            let results = try await client.send(files: [a, b], to: try server.target("drop/"))
            #expect(results.map(\.remote) == [server.url("drop/a.csv"), server.url("drop/b%20b.csv")])
            let listing = try await client.list(try server.target("drop/"))
            #expect(listing.entries.map(\.name) == ["a.csv", "b b.csv"])
            #expect(listing.entries.first?.sha256 == digestA)
            #expect(listing.entries.first?.size == 1000)
            let top = try await client.list(try server.target(""))
            #expect(top.entries.map(\.name) == ["drop"])
            try await client.remove(try server.target("drop/a.csv"))
            #expect(!FileManager.default.fileExists(atPath: server.root + "/acme/drop/a.csv"))
            await #expect {
                try await client.remove(try server.target("drop/a.csv"))
            } throws: { error in
                (error as? TransferError)?.code == .rejected && (error as? TransferError)?.problem?.status == 404
            }
        }
    }

    @Test("a partner cannot read or write another partner's area")
    func partnersAreConfined() async throws {
        try await TestServerHarness.with { server in
            let file = server.folder.path + "/secret.txt"
            try TestFiles.write(file, size: 100)
            let acme = try server.client("acme")
            let bank = try server.client("bank")
            _ = try await acme.send(files: [file], to: try server.target("private/secret.txt"))
            // The same path from bank names bank's own area, where nothing is.
            await #expect {
                try await bank.get(try server.target("private/secret.txt"), to: server.folder.path + "/stolen.txt")
            } throws: { error in
                (error as? TransferError)?.problem?.status == 404
            }
            // No path leads out of bank's area.
            let curl = try ExternalTool.require("curl", installHint: "apt-get install curl")
            for attack in [
                "..%2Facme%2Fprivate%2Fsecret.txt", "%2e%2e/acme/private/secret.txt", "../acme/private/secret.txt",
            ] {
                let outcome = try await ExternalTool.run(
                    curl,
                    server.curlIdentity("bank") + [
                        "--path-as-is", "-o", "/dev/null", "-w", "%{http_code}", server.url(attack),
                    ]
                )
                #expect(outcome.stdout == "400", "\(attack) gave \(outcome.output)")
            }
            let write = try await ExternalTool.run(
                curl,
                server.curlIdentity("bank") + [
                    "--path-as-is", "-T", file, "-o", "/dev/null", "-w", "%{http_code}",
                    server.url("../acme/private/planted.txt"),
                ]
            )
            #expect(write.stdout == "400")
            #expect(!FileManager.default.fileExists(atPath: server.root + "/acme/private/planted.txt"))
            #expect(!FileManager.default.fileExists(atPath: server.root + "/bank/private/secret.txt"))
        }
    }

    @Test("access rules grant another area with exactly the rights they name")
    func accessRules() async throws {
        try await TestServerHarness.with(configure: { configuration, pki in
            // An area inside bank's home: bank is configured, so no certificate can take its name by CN.
            var bank = FerryConfiguration.Partner(name: "bank")
            bank.certificateAuthorities = [pki.caFile]
            configuration.partners = ["bank": bank]
            configuration.accessRules = [
                .init(
                    name: "bank-outbound",
                    partners: ["acme"],
                    area: "bank/outbound",
                    mount: "from-bank",
                    rights: [.read]
                )
            ]
        }) { server in
            let report = server.folder.path + "/report.csv"
            let digest = try TestFiles.write(report, size: 5000)
            let bank = try server.client("bank")
            let acme = try server.client("acme")
            _ = try await bank.send(files: [report], to: try server.target("outbound/"))
            let got = try await acme.get(
                try server.target("from-bank/report.csv"),
                to: server.folder.path + "/copy.csv"
            )
            #expect(got.sha256 == digest)
            let top = try await acme.list(try server.target(""))
            #expect(top.entries.contains { $0.name == "from-bank" && $0.type == "directory" })
            // Large enough that the refusal arrives while the body is still being sent.
            let large = server.folder.path + "/large.bin"
            try TestFiles.write(large, size: 32 << 20)
            await #expect {
                try await acme.send(files: [large], to: try server.target("from-bank/planted.csv"))
            } throws: { error in
                (error as? TransferError)?.problem?.slug == "access-denied"
                    && (error as? TransferError)?.code == .rejected
            }
            await #expect {
                try await acme.remove(try server.target("from-bank/report.csv"))
            } throws: { error in
                (error as? TransferError)?.problem?.status == 403
            }
            #expect(FileManager.default.fileExists(atPath: server.root + "/bank/outbound/report.csv"))
            #expect(!FileManager.default.fileExists(atPath: server.root + "/bank/outbound/planted.csv"))
        }
    }

    @Test("a symbolic link that leaves the area is refused for reads and writes")
    func symlinkEscape() async throws {
        try await TestServerHarness.with { server in
            let outside = server.folder.path + "/outside"
            try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
            try "secret".write(toFile: outside + "/secret.txt", atomically: true, encoding: .utf8)
            try FileManager.default.createDirectory(atPath: server.root + "/acme", withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(
                atPath: server.root + "/acme/escape",
                withDestinationPath: outside
            )
            try FileManager.default.createSymbolicLink(
                atPath: server.root + "/acme/passwd",
                withDestinationPath: "/etc/passwd"
            )
            let acme = try server.client("acme")
            for path in ["escape/secret.txt", "passwd"] {
                await #expect {
                    try await acme.get(try server.target(path), to: server.folder.path + "/leak")
                } throws: { error in
                    (error as? TransferError)?.problem?.slug == "path-outside-area"
                }
            }
            let file = server.folder.path + "/x.txt"
            try TestFiles.write(file, size: 10)
            await #expect {
                try await acme.send(files: [file], to: try server.target("escape/planted.txt"))
            } throws: { error in
                (error as? TransferError)?.problem?.slug == "path-outside-area"
            }
            #expect(!FileManager.default.fileExists(atPath: outside + "/planted.txt"))
        }
    }

    @Test("a client without a certificate, or with one from another CA, is refused at the handshake")
    func handshakeRefusals() async throws {
        try await TestServerHarness.with { server in
            let file = server.folder.path + "/x.bin"
            try TestFiles.write(file, size: 10)
            await #expect {
                try await server.client(nil).send(files: [file], to: try server.target("x.bin"))
            } throws: { error in
                guard let error = error as? TransferError else { return false }
                // The server's alert (certificate_required) names the cause; when the request crosses the alert
                // and the connection is reset, the client explains from the closed TLS 1.3 connection instead.
                return error.code == .tlsHandshake
                    && (error.message.contains("CERTIFICATE_REQUIRED")
                        || error.message.contains("no client certificate was sent"))
            }
            await #expect {
                try await server.client("intruder").send(files: [file], to: try server.target("x.bin"))
            } throws: { error in
                guard let error = error as? TransferError else { return false }
                return error.code == .tlsHandshake
                    && (error.message.contains("UNKNOWN_CA")
                        || error.message.contains("rejected this client certificate"))
            }
            #expect(
                try FileManager.default.contentsOfDirectory(atPath: server.root).filter { !$0.hasPrefix(".") }.isEmpty
            )
        }
    }
}
