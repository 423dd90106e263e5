import FerryConfig
import FerryDaemon
import FerryQueue
import FerryTLS
import FerryTestSupport
import FerryText
import Foundation
import NIOSSL
import Testing

@Suite("Configuration")
struct ConfigTests {
    @Test("a full YAML file is read, with relative paths resolved against its folder")
    func fullFile() async throws {
        try await TemporaryDirectory.with { folder in
            let file = folder.path + "/ferry.yaml"
            try """
            listen: 0.0.0.0:9443
            root: data
            server:
              tls:
                certificate: pki/server.pem
                key: pki/server-key.pem
                ca: [pki/ca.pem, pki/old-ca.pem]
                min-version: "1.3"
                client-auth: optional
                send-ca-names: true
            client:
              tls:
                certificate: pki/me.pem
                key: pki/me-key.pem
                ca: pki/ca.pem
            partners:
              acme:
                url: https://acme.example:8443/inbound
                subject: CN=ACME Transfer,O=ACME
              bank:
                url: https://bank.example:9000
                san: dns:bank.example
                tls:
                  certificate: /etc/ferry/bank-client.pem
                  key: /etc/ferry/bank-client-key.pem
            access:
              shared:
                partners: [acme, bank]
                area: common/drop
                rights: [read, write]
              everyone:
                partners: "*"
                area: public
                mount: pub
            """.write(toFile: file, atomically: true, encoding: .utf8)
            let configuration = try await ConfigLoader.load(file: file, environment: [:])
            #expect(configuration.listen == "0.0.0.0:9443")
            #expect(configuration.root == folder.path + "/data")
            let server = try #require(configuration.serverTLS)
            #expect(server.certificate == folder.path + "/pki/server.pem")
            #expect(server.trustedCAs == [folder.path + "/pki/ca.pem", folder.path + "/pki/old-ca.pem"])
            #expect(server.minimumVersion == .tlsv13)
            #expect(server.clientAuthentication == .optional)
            #expect(configuration.clientTLS.trustedCAs == [folder.path + "/pki/ca.pem"])
            #expect(configuration.partners["acme"]?.url == "https://acme.example:8443/inbound")
            #expect(configuration.partners["acme"]?.subject == "CN=ACME Transfer,O=ACME")
            #expect(configuration.partners["bank"]?.alternativeName == "dns:bank.example")
            #expect(configuration.partners["bank"]?.tls?.certificate == "/etc/ferry/bank-client.pem")
            #expect(
                configuration.partners["bank"]?.tls?.trustedCAs == [folder.path + "/pki/ca.pem"],
                "a partner inherits what it does not override"
            )
            #expect(configuration.partners["acme"]?.tls == nil)
            let shared = try #require(configuration.accessRules.first { $0.name == "shared" })
            #expect(shared.mount == "drop")
            #expect(shared.rights == [.read, .write])
            let everyone = try #require(configuration.accessRules.first { $0.name == "everyone" })
            #expect(everyone.partners == ["*"])
            #expect(everyone.mount == "pub")
            #expect(everyone.rights == [.read])
        }
    }

    @Test("the server's trace settings: file keys, the flag override, defaults, and a bad value named")
    func traceSettings() async throws {
        try await TemporaryDirectory.with { folder in
            let file = folder.path + "/ferry.yaml"
            try "server:\n  trace:\n    handshakes: all\n    level: info\n    pcapng-dir: captures\n".write(
                toFile: file,
                atomically: true,
                encoding: .utf8
            )
            let configuration = try await ConfigLoader.load(file: file, environment: [:])
            #expect(configuration.serverTrace.handshakes == .all)
            #expect(configuration.serverTrace.level == "info")
            #expect(
                configuration.serverTrace.pcapngDirectory == folder.path + "/captures",
                "relative to the file's folder"
            )
            let flagged = try await ConfigLoader.load(
                file: file,
                overrides: ["server.trace.handshakes": "none"],
                environment: [:]
            )
            #expect(flagged.serverTrace.handshakes == .none)
            let defaults = try await ConfigLoader.load(file: nil, environment: [:])
            #expect(defaults.serverTrace == FerryConfiguration.ServerTrace())
            #expect(defaults.serverTrace.handshakes == .failed)
            do {
                _ = try await ConfigLoader.load(file: nil, overrides: ["server.trace.level": "loud"], environment: [:])
                Issue.record("a bad level must be refused")
            } catch let error as ConfigError {
                #expect(error.description.contains("server.trace.level: 'loud' is not one of"))
            }
        }
    }

    @Test("queue settings: defaults, a partner's own over them, the entry's over both; bad values named")
    func queueSettings() async throws {
        try await TemporaryDirectory.with { folder in
            let file = folder.path + "/ferry.yaml"
            try """
            root: data
            queue: {database: state/q.sqlite, control-socket: run/ferry.sock, max-active: 3, keep: 2d, retries: 4, retry-wait: 30s, retry-max-wait: 10m, deadline: 1d}
            partners:
              mainframe:
                url: https://mf.example:8443
                queue: {sessions: 1, retries: none, retry-config-errors: true}
              bank:
                url: https://bank.example:8443
            """.write(toFile: file, atomically: true, encoding: .utf8)
            let configuration = try await ConfigLoader.load(file: file, environment: [:])
            #expect(configuration.resolvedQueueDatabase == folder.path + "/state/q.sqlite")
            #expect(configuration.resolvedControlSocket == folder.path + "/run/ferry.sock")
            #expect(configuration.queue.maximumActive == 3 && configuration.queue.keep == 2 * 86_400)
            let bank = configuration.retryRule(partner: "bank", request: nil)
            #expect(bank == RetryRule(maximumRetries: 4, firstWait: 30, maximumWait: 600, deadline: 86_400))
            #expect(configuration.queueSettings(for: "bank").sessions == 2, "the built-in default")
            let mainframe = configuration.retryRule(partner: "mainframe", request: nil)
            #expect(mainframe.maximumRetries == nil && mainframe.retryPermanentFailures && mainframe.firstWait == 30)
            #expect(configuration.queueSettings(for: "MAINFRAME").sessions == 1, "partner names compare without case")
            let asked = configuration.retryRule(
                partner: "mainframe",
                request: RetryRequest(retries: 2, retryWait: 5, deadline: 0, retryConfigurationErrors: false)
            )
            #expect(asked == RetryRule(maximumRetries: 2, firstWait: 5, maximumWait: 600, deadline: nil))

            for (text, message) in [
                ("queue: {retries: -1}", "queue.retries: '-1' is not a number of retries"),
                ("queue: {max-active: 0}", "queue.max-active: '0' is not a positive whole number"),
                ("queue: {retry-wait: soon}", "queue.retry-wait: 'soon' is not a duration"),
                ("queue: {retry-wait: inf}", "queue.retry-wait: 'inf' is longer than 100 years"),
                ("queue: {deadline: 36501d}", "queue.deadline: '36501d' is longer than 100 years"),
                ("queue: {retry-config-errors: maybe}", "queue.retry-config-errors: 'maybe' is not true or false"),
                ("queue: {sesions: 2}", "sesions"),
                ("partners: {a: {url: https://a:1, queue: {sessions: x}}}", "partners.a.queue.sessions: 'x'"),
            ] {
                try text.write(toFile: file, atomically: true, encoding: .utf8)
                await #expect {
                    try await ConfigLoader.load(file: file, environment: [:])
                } throws: { error in
                    String(describing: error).contains(message)
                }
            }
        }
    }

    @Test("hot folders and actions: read with their defaults; each mistake named with what would do")
    func watchesAndActions() async throws {
        try await TemporaryDirectory.with { folder in
            let file = folder.path + "/ferry.yaml"
            let partners =
                "partners: {acme: {url: 'https://acme.example:8443'}, bank: {url: 'https://bank.example:8443'}}\n"
            try
                (partners + """
                    watch:
                      outbox: {folder: out, glob: "*.csv", partner: acme, remote: in/, complete: marker, marker: .ok, after: delete, stable-for: 3s, priority: 4}
                      plain: {folder: /data/plain, partner: bank}
                    actions:
                      hook: {on: [file.received, transfer.failed], partner: [acme], webhook: https://hooks.example/f, secret-file: hook.secret, timeout: 5s}
                      load: {on: [file.received], path: "acme/in/*.csv", run: [/usr/local/bin/load, --fast], retries: 3}
                      relay: {on: [file.received], direction: inbound, forward: bank:from-acme/}
                    """).write(toFile: file, atomically: true, encoding: .utf8)
            let configuration = try await ConfigLoader.load(file: file, environment: [:])
            let outbox = try #require(configuration.watches.first { $0.name == "outbox" })
            #expect(outbox.folder == folder.path + "/out" && outbox.glob == "*.csv" && outbox.completion == .marker)
            #expect(outbox.marker == ".ok" && outbox.after == .delete && outbox.stableFor == 3 && outbox.priority == 4)
            let plain = try #require(configuration.watches.first { $0.name == "plain" })
            #expect(plain.glob == "*" && plain.completion == .stable && plain.after == .move && plain.stableFor == 5)
            let hook = try #require(configuration.actions.first { $0.name == "hook" })
            #expect(hook.kind == .webhook(url: "https://hooks.example/f", secretFile: folder.path + "/hook.secret"))
            #expect(hook.partners == ["acme"] && hook.timeout == 5 && hook.retries == 10)
            let load = try #require(configuration.actions.first { $0.name == "load" })
            #expect(
                load.kind == .run(["/usr/local/bin/load", "--fast"]) && load.path == "acme/in/*.csv"
                    && load.retries == 3
            )
            #expect(
                configuration.actions.first { $0.name == "relay" }?.kind
                    == .forward(partner: "bank", path: "from-acme/")
            )

            for (text, message) in [
                ("watch: {w: {partner: acme}}", "watch.w: 'folder' is required"),
                ("watch: {w: {folder: a}}", "watch.w: 'partner' is required"),
                ("watch: {w: {folder: a, partner: nobody}}", "watch.w.partner: 'nobody' is not a partner with a url"),
                ("watch: {w: {folder: a, partner: acme, complete: soon}}", "is not one of stable, marker, rename"),
                ("watch: {w: {folder: a, partner: acme, glob: 'x/*.csv'}}", "must be a file name pattern"),
                ("watch: {w: {folder: a, partner: acme}, v: {folder: a, partner: bank}}", "watch the same folder"),
                ("actions: {a: {run: [/bin/true]}}", "'on' is required"),
                ("actions: {a: {on: [file.arrived], run: [/bin/true]}}", "'file.arrived' is not an event"),
                ("actions: {a: {on: [file.received], run: [rm, -rf]}}", "first item is an absolute path"),
                ("actions: {a: {on: [file.received], webhook: 'https://h.example'}}", "needs 'secret-file'"),
                ("actions: {a: {on: [file.received], forward: 'nobody:x/'}}", "a configured partner that has a url"),
                ("actions: {a: {on: [file.received], run: [/bin/true], move-to: done}}", "exactly one of run, webhook"),
                (
                    "actions: {a: {on: [file.received], move-to: done, direction: sideways}}",
                    "is not one of send, get, inbound"
                ),
            ] {
                try (partners + text).write(toFile: file, atomically: true, encoding: .utf8)
                await #expect {
                    try await ConfigLoader.load(file: file, environment: [:])
                } throws: { error in
                    String(describing: error).contains(message)
                }
            }
        }
    }

    @Test("text modes: a partner's profile and a hot folder's, with defaults; each mistake named with what would do")
    func textModes() async throws {
        try await TemporaryDirectory.with { folder in
            let file = folder.path + "/ferry.yaml"
            try """
            partners:
              mainframe:
                url: 'https://mf.example:8443'
                text: {codepage: ibm-1047, records: 'fb:80', unmappable: substitute, match: ["*.txt", "PAY.*"]}
              bank: {url: 'https://bank.example:8443', text: {codepage: IBM-1141, encoding: windows-1252, ebcdic-line-end: 25}}
            watch:
              out: {folder: out, partner: mainframe, text: {codepage: IBM-037, records: vb}}
            """.write(toFile: file, atomically: true, encoding: .utf8)
            let configuration = try await ConfigLoader.load(file: file, environment: [:])
            let mainframe = try #require(configuration.partners["mainframe"]?.text)
            #expect(mainframe.conversion.from == .singleByte(CodePage.named("IBM-1047")!))
            #expect(mainframe.conversion.to == .utf8 && mainframe.conversion.records == .fixed(length: 80))
            #expect(mainframe.conversion.unmappable == .substitute && mainframe.conversion.ebcdicLineEnd == .nl)
            #expect(mainframe.applies(toFileNamed: "a.txt") && mainframe.applies(toFileNamed: "PAY.D1206"))
            #expect(!mainframe.applies(toFileNamed: "a.zip"))
            let bank = try #require(configuration.partners["bank"]?.text)
            #expect(bank.conversion.to == .singleByte(CodePage.named("Windows-1252")!))
            #expect(bank.conversion.ebcdicLineEnd == .ebcdicLF && bank.applies(toFileNamed: "anything.bin"))
            #expect(configuration.watches.first?.text?.records == .variable(blockSize: nil))
            // Kept and read back as a queued transfer keeps it.
            #expect(try TextConversion.textMode(settings: mainframe.conversion.settings) == mainframe.conversion)

            let partner = "partners: {mf: {url: 'https://mf.example:8443', text: "
            for (text, message) in [
                ("{records: vb}}}", "partners.mf.text.codepage is required"),
                ("{codepage: IBM-999}}}", "partners.mf.text.codepage: 'IBM-999' is not a known code page"),
                ("{codepage: IBM-037, encoding: IBM-500}}}", "is not a text encoding"),
                ("{codepage: IBM-037, records: 'fb:0'}}}", "records: 'fb:0' is not lines, fb:LRECL"),
                ("{codepage: IBM-037, ebcdic-line-end: 0d}}}", "must be 15 (NL) or 25 (LF)"),
                ("{codepage: IBM-037, unmappable: drop}}}", "must be error or substitute"),
                ("{codepage: IBM-037, match: ['in/*.txt']}}}", "text.match: give file name patterns"),
                ("{codepage: IBM-037, lrecl: 80}}}", "lrecl"),
            ] {
                try (partner + text).write(toFile: file, atomically: true, encoding: .utf8)
                await #expect {
                    try await ConfigLoader.load(file: file, environment: [:])
                } throws: { error in
                    String(describing: error).contains(message)
                }
            }
        }
    }

    @Test("defaults apply without a file")
    func defaults() async throws {
        let configuration = try await ConfigLoader.load(file: nil, environment: [:])
        #expect(configuration.listen == "127.0.0.1:8443")
        #expect(configuration.serverTLS == nil)
        #expect(configuration.resolvedServerLedger.hasSuffix("ferry-data/.ferry/ledger.sqlite"))
    }

    @Test("flags override FERRY_ variables, which override the file")
    func precedence() async throws {
        try await TemporaryDirectory.with { folder in
            let file = folder.path + "/ferry.yaml"
            try "listen: 127.0.0.1:1000\nroot: from-file\n".write(toFile: file, atomically: true, encoding: .utf8)
            let environment = ["FERRY_LISTEN": "127.0.0.1:2000", "FERRY_ROOT": "/srv/from-env"]
            let fromEnvironment = try await ConfigLoader.load(file: file, environment: environment)
            #expect(fromEnvironment.listen == "127.0.0.1:2000")
            #expect(fromEnvironment.root == "/srv/from-env")
            let fromFlags = try await ConfigLoader.load(
                file: file,
                overrides: ["listen": "127.0.0.1:3000"],
                environment: environment
            )
            #expect(fromFlags.listen == "127.0.0.1:3000")
            let fileOnly = try await ConfigLoader.load(file: file, environment: [:])
            #expect(fileOnly.root == folder.path + "/from-file")
            let named = try await ConfigLoader.load(file: nil, environment: ["FERRY_CONFIG": file])
            #expect(named.listen == "127.0.0.1:1000")
        }
    }

    @Test("nested keys from FERRY_ variables: sections, hyphenated names and a partner's own settings, over the file's")
    func nestedEnvironment() async throws {
        try await TemporaryDirectory.with { folder in
            let file = folder.path + "/ferry.yaml"
            try """
            uploads:
              max-size: 5G
            server:
              limits:
                handshake-timeout: 20s
            partners:
              acme:
                url: https://acme.example:8443
                quota:
                  files: 3
            """.write(toFile: file, atomically: true, encoding: .utf8)
            let environment = [
                "FERRY_UPLOADS_MAX_SIZE": "1G",
                "FERRY_SERVER_LIMITS_HANDSHAKE_TIMEOUT": "5s",
                "FERRY_SERVER_LIMITS_IDLE_TIMEOUT": "2m",
                "FERRY_QUOTAS_BYTES": "10M",
                "FERRY_PARTNERS_ACME_QUOTA_FILES": "7",
                "FERRY_SERVER_TRACE_LEVEL": "debug",
            ]
            let configuration = try await ConfigLoader.load(file: file, environment: environment)
            #expect(configuration.uploadMaximumSize == 1 << 30)
            #expect(configuration.limits.handshakeTimeout == 5)
            #expect(configuration.limits.idleTimeout == 120)
            #expect(configuration.quota.bytes == 10 << 20)
            #expect(configuration.partners["acme"]?.quota?.files == 7)
            #expect(configuration.partners["acme"]?.url == "https://acme.example:8443")
            // A bad value from a variable is named by its key, as one from the file is.
            let error = await #expect(throws: ConfigError.self) {
                _ = try await ConfigLoader.load(
                    file: file,
                    environment: ["FERRY_SERVER_LIMITS_HANDSHAKE_TIMEOUT": "soon"]
                )
            }
            #expect(
                error.map {
                    String(describing: $0).contains("server.limits.handshake-timeout: 'soon' is not a duration")
                } == true,
                "\(String(describing: error))"
            )
        }
    }

    @Test(
        "mistakes are errors that name the key and the fix",
        arguments: [
            (
                "server:\n  tls:\n    certifcate: x.pem\n",
                "unknown key 'server.tls.certifcate'. Did you mean 'server.tls.certificate'?"
            ),
            ("listn: 1\n", "unknown key 'listn'"),
            ("partners:\n  acme:\n    ulr: https://x\n", "unknown key 'partners.acme.ulr'"),
            ("server:\n  tls:\n    certificate: a.pem\n", "needs both 'certificate' and 'key'"),
            (
                "server:\n  tls:\n    certificate: a.pem\n    key: b.pem\n    min-version: SSLv3\n",
                "SSLv3 is not supported"
            ),
            (
                "server:\n  tls:\n    certificate: a.pem\n    key: b.pem\n    min-version: \"1.4\"\n",
                "'1.4' is not a TLS version"
            ),
            (
                "server:\n  tls:\n    certificate: a.pem\n    key: b.pem\n    client-auth: maybe\n",
                "not one of required, optional, none"
            ),
            (
                "server:\n  tls:\n    certificate: a.pem\n    key: b.pem\n    send-ca-names: perhaps\n",
                "is not true or false"
            ),
            ("partners:\n  acme:\n    url: http://acme\n", "must start with https://"),
            ("access:\n  r:\n    partners: [acme]\n", "'area' is required"),
            (
                "access:\n  r:\n    area: x\n    partners: [acme]\n    rights: [fly]\n",
                "'fly' is not one of read, write, delete"
            ),
            ("- a\n- b\n", "must be a mapping"),
            ("quotas:\n  bytes: 10 parsecs\n", "quotas.bytes: '10 parsecs' is not a size"),
            ("quotas:\n  files: -3\n", "quotas.files: '-3' is not a positive whole number"),
            (
                "partners:\n  acme:\n    quota:\n      upload: 3\n",
                "unknown key 'partners.acme.quota.upload'. Did you mean 'partners.acme.quota.uploads'?"
            ),
            ("uploads:\n  max-size: 0\n", "uploads.max-size: '0' is not a size"),
            ("key: [unclosed\n", "is not valid YAML"),
            // Found by the config fuzz target: a name with a combining mark trapped in the configuration
            // library's FERRY_ variable encoder (a crash); the name is now refused before any of its keys is read.
            ("partners:\n AAAAAA+A=:AA@@@@@AaA\u{33E}AAAA=:A:\n    subject: =N=a\n", "cannot be a partner name"),
            ("partners:\n  a\u{301}b:\n    url: https://x\n", "cannot be a partner name"),
            ("access:\n  e\u{301}:\n    area: x\n    partners: [acme]\n", "cannot be an access rule's name"),
        ]
    )
    func mistakes(yaml: String, message: String) async throws {
        try await TemporaryDirectory.with { folder in
            let file = folder.path + "/ferry.yaml"
            try yaml.write(toFile: file, atomically: true, encoding: .utf8)
            do {
                _ = try await ConfigLoader.load(file: file, environment: [:])
                Issue.record("expected an error containing \(message)")
            } catch {
                #expect(String(describing: error).contains(message), "got: \(error)")
            }
        }
    }

    @Test("quotas: defaults for every partner, a partner's own on top (none lifts a limit), sizes with units")
    func quotas() async throws {
        try await TemporaryDirectory.with { folder in
            let file = folder.path + "/ferry.yaml"
            try """
            quotas:
              bytes: 10GiB
              files: 5000
            partners:
              acme:
                subject: CN=acme
                quota:
                  bytes: 512MiB
                  uploads: none
            uploads:
              max-size: 2TiB
            """.write(toFile: file, atomically: true, encoding: .utf8)
            let configuration = try await ConfigLoader.load(file: file, environment: [:])
            #expect(configuration.quota == .init(bytes: 10 << 30, files: 5000, uploads: 32))
            #expect(configuration.quota(for: "ACME") == .init(bytes: 512 << 20, files: 5000, uploads: .max))
            #expect(configuration.quota(for: "bank") == configuration.quota)
            #expect(configuration.uploadMaximumSize == 2 << 40)
            let plain = try await ConfigLoader.load(file: nil, environment: [:])
            #expect(plain.quota == .init(uploads: 32), "by default only open uploads are limited")
        }
    }

    @Test("a missing config file is a clear error")
    func missingFile() async throws {
        await #expect {
            try await ConfigLoader.load(file: "/nonexistent/ferry.yaml", environment: [:])
        } throws: { error in
            String(describing: error).contains("/nonexistent/ferry.yaml")
                && String(describing: error).contains("no such file")
        }
    }

    @Test("database.*: the URL from the file or FERRY_DATABASE_URL, a password file beside it; other keys need the URL")
    func databaseKeys() async throws {
        try await TemporaryDirectory.with("ferry-config") { folder in
            let file = folder.path + "/ferry.yaml"
            try """
            database:
              url: postgres://ferry@db.example.com/ferry?sslmode=verify-full
              password-file: secrets/db-password
              max-connections: 4
              node: east-1
            """.write(toFile: file, atomically: true, encoding: .utf8)
            let configuration = try await ConfigLoader.load(file: file, environment: [:])
            let database = try #require(configuration.database)
            #expect(database.url == "postgres://ferry@db.example.com/ferry?sslmode=verify-full")
            #expect(database.passwordFile == folder.path + "/secrets/db-password")
            #expect(database.maximumConnections == 4 && database.node == "east-1")
            let fromEnvironment = try await ConfigLoader.load(
                file: nil,
                environment: ["FERRY_DATABASE_URL": "postgres://ferry@10.0.0.5/ferry"]
            )
            #expect(fromEnvironment.database?.url == "postgres://ferry@10.0.0.5/ferry")
            #expect(try await ConfigLoader.load(file: nil, environment: [:]).database == nil, "SQLite by default")
            try "database:\n  node: east-1\n".write(toFile: file, atomically: true, encoding: .utf8)
            await #expect(throws: ConfigError.self) { try await ConfigLoader.load(file: file, environment: [:]) }
            try "database:\n  uri: postgres://x@y/z\n".write(toFile: file, atomically: true, encoding: .utf8)
            await #expect(throws: ConfigError.self, "a misspelt key") {
                try await ConfigLoader.load(file: file, environment: [:])
            }
        }
    }
}
