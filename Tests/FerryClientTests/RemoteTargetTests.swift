import FerryClient
import FerryConfig
import FerryProtocol
import Testing

@Suite("Command-line targets")
struct RemoteTargetTests {
    let configuration: FerryConfiguration = {
        var configuration = FerryConfiguration()
        var acme = FerryConfiguration.Partner(name: "acme")
        acme.url = "https://transfer.acme.example:9443/inbound"
        configuration.partners["acme"] = acme
        configuration.partners["nourl"] = FerryConfiguration.Partner(name: "nourl")
        return configuration
    }()

    @Test(
        "URLs name host, port and a path in the partner's view, with or without the /v1/files prefix",
        arguments: [
            ("https://localhost:8443/in/", "localhost", 8443, "in/", true),
            ("https://localhost:8443/v1/files/in/a.csv", "localhost", 8443, "in/a.csv", false),
            ("https://files.example/a%20b.csv", "files.example", 443, "a b.csv", false),
            ("https://[::1]:9000/", "::1", 9000, "/", true),
            ("https://127.0.0.1:1", "127.0.0.1", 1, "/", true),
        ]
    )
    func urls(text: String, host: String, port: Int, path: String, isFolder: Bool) throws {
        let target = try RemoteTarget.parse(text, configuration: configuration)
        #expect(target.host == host)
        #expect(target.port == port)
        #expect(target.path.description == path)
        #expect(target.path.isDirectory == isFolder)
        #expect(target.partner == nil)
    }

    @Test("PARTNER:path joins the partner's URL path")
    func partner() throws {
        let target = try RemoteTarget.parse("acme:2026/report.csv", configuration: configuration)
        #expect(target.host == "transfer.acme.example")
        #expect(target.port == 9443)
        #expect(target.path.relative == "inbound/2026/report.csv")
        #expect(target.partner == "acme")
        #expect(target.requestPath == "/v1/files/inbound/2026/report.csv")
    }

    @Test(
        "bad targets are usage errors that say what to write",
        arguments: [
            ("http://localhost:8443/", "HTTPS"),
            ("nowhere", "https://HOST:PORT/PATH or PARTNER:PATH"),
            ("bank:x", "no partner 'bank'"),
            ("nourl:x", "has no url"),
            ("https://localhost:port/", "bad port"),
            ("https://localhost:8443/../etc", "'..' segment"),
            ("acme:../x", "'..' segment"),
        ]
    )
    func errors(text: String, message: String) {
        #expect {
            try RemoteTarget.parse(text, configuration: configuration)
        } throws: { error in
            guard let error = error as? TransferError else { return false }
            return error.code == .usage && error.message.contains(message)
        }
    }
}
