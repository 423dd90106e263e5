import FerryDiagnosis
import FerryTestSupport
import Foundation
import Testing

/// `ferry explain`: every usual form of the codes partners paste.
@Suite("ferry explain")
struct ExplainTests {
    func codes(_ text: String) -> [String] {
        Explainer.explain(text).map { "\($0.kind):\($0.code)" }
    }

    @Test(
        "IBM System SSL return codes in every usual form",
        arguments: [
            "410", "RC = 410", "RC=410", "rc 410", "0000019A",
            "System SSL function gsk_secure_socket_init: RC = 410: Reason = SSL message format is incorrect",
        ]
    )
    func systemSSL(text: String) throws {
        let explanations = Explainer.explain(text)
        let rc = try #require(explanations.first { $0.kind == "system-ssl" }, "\(explanations)")
        #expect(rc.code == "410")
        #expect(rc.meaning == "SSL message format is incorrect")
        #expect(rc.title.contains("0000019A"))
        #expect(rc.causes.first?.contains("empty CA list") == true)
        #expect(rc.fixes.first?.contains("Disable SSLv3/TLS 1.0") == true)
        #expect(rc.confirm.contains("ferry diagnose"))
    }

    @Test("unconfirmed wording is labelled as such")
    func unconfirmed() throws {
        let rc = try #require(Explainer.explain("RC = 415").first)
        #expect(rc.unconfirmed)
        #expect(rc.text.contains("(unconfirmed wording)"))
        #expect(Explainer.explain("RC = 435").first?.unconfirmed == false)
    }

    @Test("alerts by number and by name, as each stack prints them")
    func alerts() {
        #expect(codes("47") == ["alert:47"])
        #expect(codes("illegal_parameter") == ["alert:47"])
        #expect(
            codes(
                "error:0A000410:SSL routines:ssl3_read_bytes:sslv3 alert handshake failure:ssl/record/rec_layer_s3.c:1602:SSL alert number 40"
            ) == ["alert:40"]
        )
        #expect(codes("tlsv1 alert unknown ca") == ["alert:48"])
        #expect(codes("error:10000418:SSL routines:OPENSSL_internal:TLSV1_ALERT_UNKNOWN_CA") == ["alert:48"])
        #expect(
            codes("javax.net.ssl.SSLHandshakeException: Received fatal alert: certificate_required") == ["alert:116"]
        )
        #expect(codes("ALERT( FATAL: ILLEGAL_PARAMETER )") == ["alert:47"])
    }

    @Test("error messages of OpenSSL, BoringSSL, GnuTLS and Java")
    func messages() {
        #expect(
            codes("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate")
                .contains("message:certificate_verify_failed")
        )
        #expect(codes("ssl3_get_record:wrong version number") == ["message:wrong version number"])
        #expect(codes("no shared cipher") == ["message:no shared cipher"])
        #expect(
            codes("sun.security.validator.ValidatorException: PKIX path building failed") == [
                "message:pkix path building failed"
            ]
        )
        #expect(
            codes("*** Fatal error: The TLS connection was non-properly terminated.") == [
                "message:non-properly terminated"
            ]
        )
        #expect(
            codes("error:10000095:SSL routines:OPENSSL_internal:KEY_USAGE_BIT_INCORRECT").contains(
                "message:key_usage_bit_incorrect"
            )
        )
        #expect(
            codes("javax.net.ssl.SSLProtocolException: Invalid certificate_authorities extension").contains(
                "message:invalid certificate_authorities extension"
            )
        )
        #expect(
            codes("*** Fatal error: Error decoding the received TLS packet.").contains(
                "message:error decoding the received tls packet"
            )
        )
        #expect(
            codes("error:1000007b:SSL routines:OPENSSL_internal:NO_COMMON_SIGNATURE_ALGORITHMS").contains(
                "message:no_common_signature_algorithms"
            )
        )
        #expect(
            codes("error:0A000076:SSL routines:tls_choose_sigalg:no suitable signature algorithm").contains(
                "message:no suitable signature algorithm"
            )
        )
    }

    @Test("a log line with several codes explains each; nothing known is an error")
    func severalAndNone() async throws {
        #expect(
            codes("gsk_secure_socket_init: RC = 410 after the partner sent alert 47") == ["system-ssl:410", "alert:47"]
        )
        #expect(codes("the weather is fine").isEmpty)
        let outcome = try await ExternalTool.run(try CLITests.ferry, ["explain", "the", "weather"])
        #expect(outcome.status == 1)
        #expect(outcome.stderr.contains("nothing in 'the weather' is a TLS alert"))
        let rc = try await ExternalTool.run(try CLITests.ferry, ["explain", "RC", "=", "410"])
        #expect(rc.status == 0)
        #expect(rc.stdout.contains("IBM System SSL return code 410 (hex 0000019A)"))
    }
}
