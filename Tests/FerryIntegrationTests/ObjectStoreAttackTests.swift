import FerryConfig
import FerryObjectStore
import FerryProtocol
import FerryTestSupport
import Foundation
import NIOCore
import Testing

/// A partner with a valid certificate against a server whose files are objects: the key space is flat, so every
/// way a partner's path could name a key outside its area's prefix is tried (a neighbour whose prefix starts
/// like its own included), and names S3 signs and lists awkwardly must round-trip byte for byte.
@Suite("Object storage against a probing partner")
struct ObjectStoreAttackTests {
    @Test(
        "on S3 storage a partner reaches no key outside its area's prefix (traversal in every spelling, a neighbour whose prefix extends its own, an over-long key), and awkward names round-trip",
        arguments: [S3TestServer.Kind.seaweedfs, .moto]
    )
    func probingPartner(kind: S3TestServer.Kind) async throws {
        let curl = try ExternalTool.require("curl", installHint: "apt-get install curl")
        let s3 = try await S3TestServer.shared(kind)
        let bucket = try await s3.freshBucket()
        try await TemporaryDirectory.with("ferry-s3-attack") { scratch in
            let credentials = scratch.path + "/credentials"
            try """
            [default]
            aws_access_key_id = \(S3TestServer.credentials.accessKeyID)
            aws_secret_access_key = \(S3TestServer.credentials.secretAccessKey)
            """.write(toFile: credentials, atomically: true, encoding: .utf8)
            try await TestServerHarness.with(configure: { configuration, _ in
                var storage = FerryConfiguration.ObjectStorage(endpoint: s3.endpoint, bucket: bucket.settings.bucket)
                storage.prefix = "served/"
                storage.credentialsFile = credentials
                configuration.objectStorage = storage
            }) { server in
                // What acme must never see: bank's file, an object of a neighbour "acme-x" whose prefix starts
                // with acme's, and one beside the served prefix.
                let secret = "not for acme"
                for key in ["served/bank/secret.txt", "served/acme-x/secret.txt", "served-x/secret.txt", "secret.txt"] {
                    try await bucket.put(key, body: ByteBuffer(string: secret))
                }
                func fetch(
                    _ who: String,
                    _ encoded: String,
                    _ extra: [String] = []
                ) async throws -> (
                    status: String, body: String
                ) {
                    let outcome = try await ExternalTool.run(
                        curl,
                        server.curlIdentity(who) + ["--path-as-is", "-w", "\n%{http_code}"] + extra
                            + [server.url(encoded)]
                    )
                    let lines = outcome.stdout.split(separator: "\n", omittingEmptySubsequences: false)
                    return (String(lines.last ?? ""), lines.dropLast().joined(separator: "\n"))
                }
                // The control: bank reads its own object through the server, so the refusals below are acme's.
                let own = try await fetch("bank", "secret.txt")
                #expect(own.status == "200" && own.body == secret, "\(kind) bank's own file: \(own.status) \(own.body)")
                let probes = [
                    "../bank/secret.txt", "..%2Fbank%2Fsecret.txt", "%2E%2E/bank/secret.txt", "x/../../bank/secret.txt",
                    "..%5Cbank%5Csecret.txt", "%2Fserved%2Fbank%2Fsecret.txt", "/bank/secret.txt",
                    "./../bank/secret.txt", "../acme-x/secret.txt", "..%2F..%2Fsecret.txt", "-x/secret.txt",
                    "%00/../bank/secret.txt", ".ferry/../../bank/secret.txt", "bank%2Fsecret.txt",
                ]
                for probe in probes {
                    let got = try await fetch("acme", probe)
                    #expect(
                        !got.body.contains(secret),
                        "\(kind) \(probe) reached another key: \(got.status) \(got.body)"
                    )
                    #expect(got.status.hasPrefix("4"), "\(kind) \(probe): \(got.status) \(got.body)")
                }
                // The listing of acme's top level and of a folder named like the neighbour's suffix.
                for folder in ["", "-x/", "x/"] {
                    let listing = try await fetch("acme", folder)
                    #expect(!listing.body.contains("secret"), "\(kind) listing '\(folder)': \(listing.body)")
                }
                // A path longer than a key may be (1,024 bytes with area and prefix): refused, not a store error.
                let long = (0..<8).map { _ in String(repeating: "n", count: 200) }.joined(separator: "/")
                let tooLong = try await fetch("acme", long, ["-T", "-"])
                #expect(tooLong.status.hasPrefix("4"), "\(kind) over-long key: \(tooLong.status) \(tooLong.body)")
                // Names SigV4 encodes and S3 lists awkwardly: each stored, listed and read back as sent.
                let names = [
                    "a+b c.txt", "tilde~star*bang!.txt", "quote'paren(1).txt", "100%.txt", "ques?amp&eq=hash#.txt",
                    "ünïcödé €.txt", "semi;colon,comma@at.txt", "dollar$caret^back`tick.txt", "brace{1}[2].txt",
                ]
                for (index, name) in names.enumerated() {
                    let encoded = PercentEncoding.encodeSegment(name)
                    let body = "file \(index) \(name)"
                    let put = try await ExternalTool.run(
                        curl,
                        server.curlIdentity("acme") + ["-w", "%{http_code}", "-o", "/dev/null", "-T", "-"]
                            + ["odd/" + encoded].map(server.url),
                        input: body
                    )
                    #expect(put.stdout == "201", "\(kind) PUT \(name): \(put.output)")
                    let got = try await fetch("acme", "odd/" + encoded)
                    #expect(got.status == "200" && got.body == body, "\(kind) GET \(name): \(got.status) \(got.body)")
                }
                let listing = try await fetch("acme", "odd/")
                let page = try JSONDecoder().decode(Listing.self, from: Data(listing.body.utf8))
                #expect(page.entries.map(\.name) == names.sorted(by: Listing.precedes), "\(kind): \(listing.body)")
                // Nothing acme did landed outside its prefix.
                var keys: [String] = []
                var continuation: String?
                repeat {
                    let page = try await bucket.list(prefix: "", continuation: continuation)
                    keys += page.objects.map(\.key)
                    continuation = page.next
                } while continuation != nil
                let strays = keys.filter {
                    !$0.hasPrefix("served/acme/")
                        && !["served/bank/secret.txt", "served/acme-x/secret.txt", "served-x/secret.txt", "secret.txt"]
                            .contains($0)
                }
                #expect(strays.isEmpty, "\(kind): keys outside acme's prefix: \(strays)")
            }
        }
    }
}
