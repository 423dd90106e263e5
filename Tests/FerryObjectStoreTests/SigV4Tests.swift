import FerryObjectStore
import Foundation
import Testing

/// The signer against AWS's published vectors: the Signature Version 4 test suite (example.amazonaws.com, service
/// `service`) and the worked examples of the S3 API reference (examplebucket). Each checks the whole
/// `Authorization` header; the first ones check the canonical request and the string to sign too, so a failure
/// says which step is wrong.
@Suite("SigV4 signing")
struct SigV4Tests {
    static let suiteKey = ObjectStoreCredentials(
        accessKeyID: "AKIDEXAMPLE",
        secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    )
    static let suiteDate = Date(timeIntervalSince1970: 1_440_938_160)  // 2015-08-30T12:36:00Z
    static let emptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    static func suite(
        _ method: String = "GET",
        path: String = "/",
        query: [(String, String)] = [],
        headers: [(String, String)] = [],
        payloadHash: String = emptyHash,
        credentials: ObjectStoreCredentials = suiteKey
    ) -> SigV4Signer.Signed {
        SigV4Signer(credentials: credentials, region: "us-east-1", service: "service").sign(
            method: method,
            host: "example.amazonaws.com",
            path: path,
            query: query,
            headers: headers,
            payloadHash: payloadHash,
            date: suiteDate
        )
    }

    static func header(_ signedHeaders: String, _ signature: String) -> String {
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=\(signedHeaders), Signature=\(signature)"
    }

    @Test("get-vanilla: the canonical request, the string to sign and the header")
    func vanilla() {
        let signed = Self.suite()
        #expect(
            signed.canonicalRequest
                == "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\(Self.emptyHash)"
        )
        #expect(
            signed.stringToSign
                == "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
        )
        #expect(
            signed.authorization
                == Self.header("host;x-amz-date", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
        )
    }

    @Test("the suite's query, path, header and body vectors")
    func vectors() {
        let cases: [(String, SigV4Signer.Signed, String, String)] = [
            (
                "get-vanilla-query-order-key-case", Self.suite(query: [("Param2", "value2"), ("Param1", "value1")]),
                "host;x-amz-date", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
            ),
            (
                "get-vanilla-query-order-value", Self.suite(query: [("Param1", "value2"), ("Param1", "value1")]),
                "host;x-amz-date", "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694"
            ),
            (
                "get-vanilla-utf8-query", Self.suite(query: [("\u{1234}", "bar")]),
                "host;x-amz-date", "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"
            ),
            (
                "get-unreserved",
                Self.suite(path: "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"),
                "host;x-amz-date", "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"
            ),
            (
                "get-header-value-order",
                Self.suite(headers: ["value4", "value1", "value3", "value2"].map { ("My-Header1", $0) }),
                "host;my-header1;x-amz-date", "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01"
            ),
            (
                "get-header-key-duplicate",
                Self.suite(headers: ["value2", "value2", "value1"].map { ("My-Header1", $0) }),
                "host;my-header1;x-amz-date", "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"
            ),
            (
                "get-header-value-trim",
                Self.suite(headers: [("My-Header1", " value1"), ("My-Header2", "\"a   b   c\"")]),
                "host;my-header1;my-header2;x-amz-date",
                "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"
            ),
            (
                "post-x-www-form-urlencoded",
                Self.suite(
                    "POST",
                    headers: [("Content-Type", "application/x-www-form-urlencoded")],
                    payloadHash: "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"
                ),
                "content-type;host;x-amz-date", "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"
            ),
            (
                "get-vanilla-with-session-token",
                Self.suite(
                    credentials: ObjectStoreCredentials(
                        accessKeyID: "AKIDEXAMPLE",
                        secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                        sessionToken: "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"
                    )
                ),
                "host;x-amz-date;x-amz-security-token",
                "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8"
            ),
        ]
        for (name, signed, signedHeaders, signature) in cases {
            #expect(signed.authorization == Self.header(signedHeaders, signature), "\(name)")
        }
        let canonical = Self.suite(query: [("Param2", "value2"), ("Param1", "value1")]).canonicalRequest
        #expect(canonical.split(separator: "\n", omittingEmptySubsequences: false)[2] == "Param1=value1&Param2=value2")
    }

    @Test("the S3 API reference's signed GET with a range, and its PUT of a key with a $")
    func s3Examples() {
        let signer = SigV4Signer(
            credentials: ObjectStoreCredentials(
                accessKeyID: "AKIAIOSFODNN7EXAMPLE",
                secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
            ),
            region: "us-east-1"
        )
        let date = Date(timeIntervalSince1970: 1_369_353_600)  // 2013-05-24T00:00:00Z
        let get = signer.sign(
            method: "GET",
            host: "examplebucket.s3.amazonaws.com",
            path: "/test.txt",
            query: [],
            headers: [("Range", "bytes=0-9"), ("x-amz-content-sha256", Self.emptyHash)],
            payloadHash: Self.emptyHash,
            date: date
        )
        #expect(
            get.authorization
                == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        )
        let bodyHash = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"  // "Welcome to Amazon S3."
        let put = signer.sign(
            method: "PUT",
            host: "examplebucket.s3.amazonaws.com",
            path: "/" + SigV4Signer.encode("test$file.text", keepSlash: true),
            query: [],
            headers: [
                ("Date", "Fri, 24 May 2013 00:00:00 GMT"), ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
                ("x-amz-content-sha256", bodyHash),
            ],
            payloadHash: bodyHash,
            date: date
        )
        #expect(put.canonicalRequest.hasPrefix("PUT\n/test%24file.text\n\n"))
        #expect(
            put.authorization
                == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
        )
    }

    @Test("keys and query values are encoded once, byte by byte, slashes kept only in a key's path")
    func encoding() {
        #expect(SigV4Signer.encode("in/a b+c%é~", keepSlash: true) == "in/a%20b%2Bc%25%C3%A9~")
        #expect(SigV4Signer.encode("a/b=c&d") == "a%2Fb%3Dc%26d")
    }

    @Test("credentials from the environment or a shared credentials file; half a key is an error")
    func credentials() throws {
        #expect(try ObjectStoreCredentials.fromEnvironment([:]) == nil)
        let both = try #require(
            try ObjectStoreCredentials.fromEnvironment(["AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": "secret"])
        )
        #expect(both.accessKeyID == "id" && both.secretAccessKey == "secret" && both.sessionToken == nil)
        #expect("\(both)".contains("secret") == false, "the description never shows the secret")
        #expect(throws: ObjectStoreError.self) {
            try ObjectStoreCredentials.fromEnvironment(["AWS_ACCESS_KEY_ID": "id"])
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-credentials-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        try
            "[other]\naws_access_key_id = no\naws_secret_access_key = no\n\n[ferry]\n# a comment\naws_access_key_id = AK\naws_secret_access_key= S/K\n"
            .write(toFile: file, atomically: true, encoding: .utf8)
        let fromFile = try ObjectStoreCredentials.fromFile(file, profile: "ferry")
        #expect(fromFile.accessKeyID == "AK" && fromFile.secretAccessKey == "S/K")
        #expect(throws: ObjectStoreError.self) { try ObjectStoreCredentials.fromFile(file, profile: "missing") }
    }
}
