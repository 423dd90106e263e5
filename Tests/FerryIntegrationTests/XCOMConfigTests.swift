import FerryConfig
import FerryTLS
import FerryTestSupport
import Foundation
import NIOCore
import NIOSSL
import Testing
import X509

/// XCOM's configssl.cnf read with OpenSSL's CONF rules and mapped onto Ferry's two profiles, and the TLS keys
/// of Ferry's own YAML; every file is written by the test.
@Suite("TLS profiles from configssl.cnf and YAML")
struct XCOMConfigTests {
    /// Encrypts a PEM key with a pass phrase, as an operator would with OpenSSL.
    static func encrypt(_ key: String, to output: String, passphrase: String) async throws -> Bool {
        let openssl = try ExternalTool.require("openssl", installHint: "apt-get install openssl")
        let outcome = try await ExternalTool.run(
            openssl,
            ["pkey", "-in", key, "-out", output, "-aes256", "-passout", "pass:" + passphrase]
        )
        #expect(outcome.status == 0, "\(outcome.output)")
        return true
    }

    @Test("a full configssl.cnf: comments, quotes, a continued line, a variable, an escaped $ and every section")
    func fullFile() throws {
        let text = #"""
            # XCOM TLS settings
            base = /opt/xcom/ssl
            [SSL_METHOD]
            INITIATE_SIDE = TLSv1.2
            RECEIVE_SIDE = TLS   # both 1.2 and 1.3
            [VERIFY_CERTIFICATE]
            INITIATE_SIDE = YES
            RECEIVE_SIDE = NO
            [VERIFY_DEPTH]
            INITIATE_SIDE = 4
            RECEIVE_SIDE = 2
            [CA]
            INITIATE_SIDE = $base/certs/cassl.pem
            RECEIVE_SIDE = ${base}/certs/cassl.pem
            [CA_DIRECTORY]
            RECEIVE_SIDE = certs
            [CERTIFICATE]
            INITIATE_SIDE = "ssl/certs/client cert.pem"
            RECEIVE_SIDE = ssl/certs/servercert.pem
            [PRIVATEKEY]
            INITIATE_SIDE = ssl/private/clientkey.pem
            RECEIVE_SIDE = ssl/private/\
            serverkey.pem
            [PASSWORD]
            INITIATE_SIDE = pa\$\$word#1
            RECEIVE_SIDE = 'single $quoted'
            [CIPHER_LIST]
            INITIATE_SIDE = ECDHE+AESGCM
            """#
        let conf = try OpenSSLConf.parse(text, file: "/etc/xcom/configssl.cnf")
        let xcom = try XCOMSSLConfig.map(conf, file: "/etc/xcom/configssl.cnf")
        #expect(xcom.initiate.password == "pa$$word", "an escaped $ is a literal; an unquoted # starts a comment")
        #expect(xcom.receive.password == "single $quoted", "single quotes keep $ literal")
        #expect(xcom.initiate.ca == "/opt/xcom/ssl/certs/cassl.pem")
        #expect(xcom.receive.ca == "/opt/xcom/ssl/certs/cassl.pem")
        #expect(
            xcom.receive.privateKey == "/etc/xcom/ssl/private/serverkey.pem",
            "a trailing backslash joins lines; relative paths are relative to the file"
        )
        #expect(xcom.initiate.certificate == "/etc/xcom/ssl/certs/client cert.pem")
        #expect(xcom.notes.isEmpty)

        let receive = try xcom.receiveProfile()
        #expect(receive.minimumVersion == .tlsv12 && receive.maximumVersion == .tlsv13)
        #expect(
            receive.clientAuthentication == .none,
            "VERIFY_CERTIFICATE RECEIVE_SIDE = NO requests no client certificate"
        )
        #expect(receive.verifyDepth == 2)
        #expect(receive.caDirectory == "/etc/xcom/certs")
        #expect(receive.passphrase == .literal("single $quoted"))
        let initiate = try xcom.initiateProfile()
        #expect(initiate.minimumVersion == .tlsv12 && initiate.maximumVersion == .tlsv12)
        #expect(initiate.verifyServer)
        #expect(initiate.ciphers == "ECDHE+AESGCM")
        #expect(initiate.verifyDepth == 4)
    }

    @Test(
        "ALL, z/OS sections and unknown sections become notes; SSLv3 and bad values are errors",
        arguments: [
            ("[SSL_METHOD]\nRECEIVE_SIDE = SSLv3\n", "which Ferry does not speak"),
            ("[SSL_METHOD]\nRECEIVE_SIDE = TLSv9\n", "not a method Ferry knows"),
            ("[VERIFY_CERTIFICATE]\nRECEIVE_SIDE = MAYBE\n", "not YES or NO"),
            ("[VERIFY_DEPTH]\nRECEIVE_SIDE = deep\n", "not a number"),
        ]
    )
    func badValues(text: String, expected: String) throws {
        do {
            let xcom = try XCOMSSLConfig.map(try OpenSSLConf.parse(text, file: "x.cnf"), file: "x.cnf")
            _ = try xcom.receiveProfile()
            Issue.record("'\(text)' must be refused")
        } catch {
            #expect(String(describing: error).contains(expected), "\(error)")
            #expect(String(describing: error).contains("Fix:"), "\(error)")
        }
    }

    @Test(
        "malformed files are refused with the line and the fix",
        arguments: [
            ("[CA\nRECEIVE_SIDE = a\n", 1, "opens a section"),
            ("[CA]\njust words\n", 2, "neither a [section] nor"),
            ("[PASSWORD]\nRECEIVE_SIDE = pa$$word\n", 2, "write a literal $ as \\$"),
            ("[PASSWORD]\nRECEIVE_SIDE = ab$cd\n", 2, "not defined"),
            ("[CA]\nRECEIVE_SIDE = ${base\n", 2, "not closed"),
            ("[CA]\nRECEIVE_SIDE = \"open\n", 2, "without closing it"),
            (".include other.cnf\n", 1, "not supported"),
            ("[C A]\n", 1, "not a valid section name"),
        ]
    )
    func malformed(text: String, line: Int, expected: String) {
        do {
            _ = try OpenSSLConf.parse(text, file: "bad.cnf")
            Issue.record("'\(text)' must be refused")
        } catch let error as OpenSSLConf.ParseError {
            #expect(error.line == line)
            #expect(error.description.contains(expected), "\(error)")
            #expect(error.description.hasPrefix("bad.cnf:\(line):"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test(
        "SSL_METHOD ALL is TLS 1.0 to 1.3 with a note; KEYRING and LABLCERT are explained; an unknown section is named"
    )
    func notes() throws {
        let text =
            "[SSL_METHOD]\nRECEIVE_SIDE = ALL\n[KEYRING]\nRECEIVE_SIDE = XCOMRING\n[LABLCERT]\nRECEIVE_SIDE = XCOMCERT\n[CERTIFICATES]\nRECEIVE_SIDE = x.pem\n"
        let xcom = try XCOMSSLConfig.map(try OpenSSLConf.parse(text, file: "/x/a.cnf"), file: "/x/a.cnf")
        let receive = try xcom.receiveProfile()
        #expect(receive.minimumVersion == .tlsv1 && receive.maximumVersion == .tlsv13)
        #expect(xcom.notes.map(\.kind) == [.zosOnly, .zosOnly, .unknown, .sslMethodAll])
        #expect(xcom.notes[0].message.contains("only z/OS System SSL"))
        #expect(xcom.notes[2].message.contains("[CERTIFICATES] is not a section XCOM reads"))
        #expect(xcom.notes[3].message.contains("SSLv3 is not among Ferry's versions"))
    }

    @Test(
        "an encrypted key whose pass phrase holds '$': written \\$ in the cnf it loads; wrong or missing pass phrases are named"
    )
    func encryptedKeyWithDollar() async throws {
        try await TemporaryDirectory.with { folder in
            let pki = try TestPKI(directory: folder.path + "/pki")
            guard try await Self.encrypt(pki.serverKey, to: folder.path + "/server-key.enc.pem", passphrase: "pa$$word")
            else { return }
            let cnf = folder.path + "/configssl.cnf"
            try """
            [CERTIFICATE]
            RECEIVE_SIDE = pki/server.pem
            [PRIVATEKEY]
            RECEIVE_SIDE = server-key.enc.pem
            [PASSWORD]
            RECEIVE_SIDE = pa\\$\\$word
            [CA]
            RECEIVE_SIDE = pki/ca.pem
            """.write(toFile: cnf, atomically: true, encoding: .utf8)
            let profile = try XCOMSSLConfig.load(cnf).receiveProfile()
            let loaded = try profile.makeConfiguration()
            #expect(loaded.identity.leaf.subject.description.contains("localhost"))

            var wrong = profile
            wrong.passphrase = .literal("pa")
            let wrongError = try #require(throws: TLSSetupError.self) { try wrong.makeConfiguration() }
            #expect(
                wrongError.code == .wrongPassphrase && wrongError.description.contains("does not decrypt"),
                "\(wrongError)"
            )

            var fromEnvironment = profile
            fromEnvironment.passphrase = .environment("FERRY_TEST_PASSPHRASE")
            #expect(
                try fromEnvironment.makeConfiguration(environment: ["FERRY_TEST_PASSPHRASE": "pa$$word"]).identity
                    .keyPath.hasSuffix("server-key.enc.pem")
            )
            let unset = try #require(throws: TLSSetupError.self) {
                try fromEnvironment.makeConfiguration(environment: [:])
            }
            #expect(unset.description.contains("is not set"), "\(unset)")

            try "pa$$word\n".write(toFile: folder.path + "/pass.txt", atomically: true, encoding: .utf8)
            var fromFile = profile
            fromFile.passphrase = .file(folder.path + "/pass.txt")
            #expect(
                try fromFile.makeConfiguration().files.contains(folder.path + "/pass.txt"),
                "a pass phrase file is watched like the key"
            )

            var none = profile
            none.passphrase = nil
            let missing = try #require(throws: TLSSetupError.self) { try none.makeConfiguration() }
            #expect(missing.description.contains("encrypted and no pass phrase is configured"), "\(missing)")
        }
    }

    @Test("YAML: the new TLS keys, an XCOM file as a side's base with YAML on top, and partner overrides")
    func yamlKeys() async throws {
        try await TemporaryDirectory.with { folder in
            let pki = try TestPKI(directory: folder.path + "/pki")
            _ = pki
            try
                "[CERTIFICATE]\nRECEIVE_SIDE = pki/server.pem\nINITIATE_SIDE = pki/acme.pem\n[PRIVATEKEY]\nRECEIVE_SIDE = pki/server-key.pem\nINITIATE_SIDE = pki/acme-key.pem\n[CA]\nRECEIVE_SIDE = pki/ca.pem\nINITIATE_SIDE = pki/ca.pem\n[SSL_METHOD]\nRECEIVE_SIDE = ALL\n[VERIFY_DEPTH]\nRECEIVE_SIDE = 4\n"
                .write(toFile: folder.path + "/configssl.cnf", atomically: true, encoding: .utf8)
            let file = folder.path + "/ferry.yaml"
            try """
            server:
              tls:
                xcom-config: configssl.cnf
                min-version: "1.1"
                send-ca-names: false
                ciphers: ECDHE+AESGCM:ECDHE+AES
                cipher-suites: [TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256]
                expiry-warning: 14d
            client:
              tls:
                certificate: pki/bank.pem
                key: pki/bank-key.pem
                key-passphrase-env: BANK_PASS
                ca-dir: pki
                verify-depth: 3
            partners:
              legacy:
                url: https://legacy.example:8443
                tls:
                  xcom-config: configssl.cnf
                  verify: false
              modern:
                url: https://modern.example:8443
                tls:
                  min-version: "1.3"
            """.write(toFile: file, atomically: true, encoding: .utf8)
            let configuration = try await ConfigLoader.load(file: file, environment: [:])
            let server = try #require(configuration.serverTLS)
            #expect(server.certificate == folder.path + "/pki/server.pem", "from the XCOM file")
            #expect(server.verifyDepth == 4, "from the XCOM file")
            #expect(server.minimumVersion == .tlsv11, "YAML overrides the XCOM file's ALL")
            #expect(!server.sendCANames)
            #expect(server.ciphers == "ECDHE+AESGCM:ECDHE+AES")
            #expect(server.tls13Suites == ["TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"])
            #expect(configuration.expiryWarning == 14 * 86_400)
            #expect(
                configuration.xcomNotes.map(\.kind) == [.sslMethodAll, .sslMethodAll],
                "read for the server and for the partner"
            )
            let loaded = try server.makeConfiguration()
            #expect(loaded.peerPolicy.tls13Suites == [0x1302, 0x1303])
            #expect(loaded.warnings.contains { $0.contains("min-version is TLS1.1") })
            #expect(loaded.warnings.contains { $0.contains("send-ca-names is off") })
            #expect(loaded.warnings.contains { $0.contains("enables CBC suites (ECDHE-ECDSA-AES128-SHA") })

            #expect(configuration.clientTLS.passphrase == .environment("BANK_PASS"))
            #expect(configuration.clientTLS.caDirectory == folder.path + "/pki")
            #expect(configuration.clientTLS.verifyDepth == 3)
            let legacy = try #require(configuration.partners["legacy"]?.tls)
            #expect(
                legacy.certificate == folder.path + "/pki/acme.pem",
                "the partner's XCOM file replaces the client profile"
            )
            #expect(!legacy.verifyServer)
            #expect(try legacy.makeConfiguration().warnings.contains { $0.contains("verify is off") })
            let modern = try #require(configuration.partners["modern"]?.tls)
            #expect(
                modern.certificate == folder.path + "/pki/bank.pem" && modern.minimumVersion == .tlsv13,
                "inherits, then overrides"
            )
        }
    }

    @Test("expiry-warning alone sets the window without making a server profile")
    func expiryWarningAlone() async throws {
        let configuration = try await ConfigLoader.load(
            file: nil,
            overrides: ["server.tls.expiry-warning": "7d"],
            environment: [:]
        )
        #expect(configuration.serverTLS == nil)
        #expect(configuration.expiryWarning == 7 * 86_400)
    }

    @Test(
        "bad cipher settings are refused with the setting named",
        arguments: [
            (["ciphers": "NOT-A-CIPHER"], "server.tls.ciphers"),
            (["ciphers": "ECDHE-RSA-AES128-GCM-SHA265"], "did you mean ECDHE-RSA-AES128-GCM-SHA256"),
            (["ciphers": "DEFAULT@SECLEVEL=0"], "BoringSSL does not have"),
            (["ciphers": "!ALL"], "selects no TLS 1.2 cipher suite"),
            (["ciphers": "ECDHE+AESGCM", "min-version": "1.0"], "need TLS 1.2"),
            (["cipher-suites": "TLS_AES_512_GCM"], "is not a TLS 1.3 cipher suite"),
            (["min-version": "1.3", "max-version": "1.2"], "above the maximum"),
            (["verify-depth": "-1"], "verify-depth"),
        ]
    )
    func badCipherSettings(settings: [String: String], expected: String) async throws {
        try await TemporaryDirectory.with { folder in
            let pki = try TestPKI(directory: folder.path + "/pki")
            var overrides = [
                "server.tls.certificate": pki.serverCertificate, "server.tls.key": pki.serverKey,
                "server.tls.ca": pki.caFile,
            ]
            for (key, value) in settings { overrides["server.tls." + key] = value }
            do {
                let configuration = try await ConfigLoader.load(file: nil, overrides: overrides, environment: [:])
                _ = try configuration.serverTLS?.makeConfiguration()
                Issue.record("\(settings) must be refused")
            } catch {
                #expect(String(describing: error).contains(expected), "\(error)")
            }
        }
    }

    @Test(
        "config import prints YAML that Ferry loads into the same profiles, with the pass phrase left to the environment"
    )
    func importRoundTrip() async throws {
        try await TemporaryDirectory.with { folder in
            let pki = try TestPKI(directory: folder.path + "/pki")
            _ = pki
            let cnf = folder.path + "/configssl.cnf"
            try
                "[SSL_METHOD]\nRECEIVE_SIDE = TLSv1.2\nINITIATE_SIDE = ALL\n[VERIFY_CERTIFICATE]\nRECEIVE_SIDE = NO\nINITIATE_SIDE = YES\n[VERIFY_DEPTH]\nRECEIVE_SIDE = 4\n[CA]\nRECEIVE_SIDE = pki/ca.pem\nINITIATE_SIDE = pki/ca.pem\n[CERTIFICATE]\nRECEIVE_SIDE = pki/server.pem\nINITIATE_SIDE = pki/acme.pem\n[PRIVATEKEY]\nRECEIVE_SIDE = pki/server-key.pem\nINITIATE_SIDE = pki/acme-key.pem\n[PASSWORD]\nINITIATE_SIDE = s3cret\n[CIPHER_LIST]\nINITIATE_SIDE = ECDHE+AESGCM:ECDHE+AES\n[KEYRING]\nRECEIVE_SIDE = RING\n"
                .write(toFile: cnf, atomically: true, encoding: .utf8)
            let xcom = try XCOMSSLConfig.load(cnf)
            let yaml = try xcom.ferryYAML()
            #expect(yaml.contains("# [CERTIFICATE] RECEIVE_SIDE"))
            #expect(yaml.contains("# NOTE (line"))
            #expect(yaml.contains("client-auth: none"))
            #expect(!yaml.contains("s3cret"), "the pass phrase is not copied")
            #expect(yaml.contains("key-passphrase-env: FERRY_INITIATE_KEY_PASSPHRASE"))
            let file = folder.path + "/ferry.yaml"
            try yaml.write(toFile: file, atomically: true, encoding: .utf8)
            let configuration = try await ConfigLoader.load(file: file, environment: [:])
            let server = try #require(configuration.serverTLS)
            #expect(server.core == (try xcom.receiveProfile()).core)
            #expect(server.clientAuthentication == .none)
            var expected = try xcom.initiateProfile().core
            expected.passphrase = .environment("FERRY_INITIATE_KEY_PASSPHRASE")
            #expect(configuration.clientTLS.core == expected)
        }
    }
}
