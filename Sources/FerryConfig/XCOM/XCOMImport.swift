import FerryTLS
import Foundation
import NIOSSL

extension XCOMSSLConfig {
    /// The equivalent Ferry YAML, with a comment per setting naming the XCOM section it came from.
    ///
    /// Pass phrases are not copied: the YAML names an environment variable to hold each one instead.
    public func ferryYAML() throws -> String {
        var lines = [
            "# Ferry configuration imported from \(file) by `ferry config import`.",
            "# RECEIVE_SIDE (XCOM as the TLS server) became server.tls; INITIATE_SIDE (XCOM as the TLS client) client.tls.",
            "# Check it with `ferry config check FILE`; see docs/configuration.md for every key.",
        ]
        for note in notes {
            lines.append("# NOTE (line \(note.line)): \(note.message)")
        }
        let receive = try receiveProfile()
        let initiate = try initiateProfile()
        if receive.certificate != nil || receive.privateKey != nil || !receive.trustedCAs.isEmpty {
            lines += ["server:", "  tls:"]
            lines += side(self.receive, core: receive.core, side: .receive, indent: "    ")
            if self.receive.verifyCertificate == false {
                lines += [
                    "    # [VERIFY_CERTIFICATE] RECEIVE_SIDE = NO: no client certificate is requested, so partners are not authenticated.",
                    "    client-auth: none",
                ]
            } else {
                lines += [
                    "    # [VERIFY_CERTIFICATE] RECEIVE_SIDE = \(self.receive.verifyCertificate == true ? "YES" : "(unset)"): client certificates are required.",
                    "    client-auth: required",
                ]
            }
            lines += [
                "    # Not an XCOM setting: the CA names of server.tls.ca are sent in the CertificateRequest (strict clients such as IBM System SSL need them).",
                "    send-ca-names: true",
            ]
        }
        if initiate.core != TLSProfileCore() || !initiate.verifyServer {
            lines += ["client:", "  tls:"]
            lines += side(self.initiate, core: initiate.core, side: .initiate, indent: "    ")
            if self.initiate.verifyCertificate == false {
                lines += [
                    "    # [VERIFY_CERTIFICATE] INITIATE_SIDE = NO: the server's certificate is not checked.",
                    "    verify: false",
                ]
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private func side(_ settings: SideSettings, core: TLSProfileCore, side: Side, indent: String) -> [String] {
        var lines: [String] = []
        func add(_ section: String, _ key: String, _ value: String) {
            lines.append("\(indent)# [\(section)] \(side.rawValue)")
            lines.append("\(indent)\(key): \(Self.quoted(value))")
        }
        if let certificate = settings.certificate { add("CERTIFICATE", "certificate", certificate) }
        if let key = settings.privateKey { add("PRIVATEKEY", "key", key) }
        if let password = settings.password, !password.isEmpty {
            let variable = "FERRY_\(side == .receive ? "RECEIVE" : "INITIATE")_KEY_PASSPHRASE"
            lines.append(
                "\(indent)# [PASSWORD] \(side.rawValue) is set in the XCOM file; it is not copied here. Export it before starting ferry:"
            )
            lines.append("\(indent)#   export \(variable)='...'")
            lines.append("\(indent)key-passphrase-env: \(variable)")
        }
        if let ca = settings.ca { add("CA", "ca", ca) }
        if let directory = settings.caDirectory { add("CA_DIRECTORY", "ca-dir", directory) }
        if let method = settings.sslMethod {
            lines.append("\(indent)# [SSL_METHOD] \(side.rawValue) = \(method)")
            lines.append("\(indent)min-version: \"\(TLSVersionSetting.number(core.minimumVersion))\"")
            lines.append("\(indent)max-version: \"\(TLSVersionSetting.number(core.maximumVersion))\"")
        }
        if let depth = settings.verifyDepth { add("VERIFY_DEPTH", "verify-depth", String(depth)) }
        if let ciphers = settings.cipherList, !ciphers.isEmpty { add("CIPHER_LIST", "ciphers", ciphers) }
        return lines
    }

    /// A YAML scalar, quoted when plain style would change its meaning.
    static func quoted(_ value: String) -> String {
        let plain =
            value.allSatisfy { $0.isLetter || $0.isNumber || "/._-+".contains($0) } && !value.isEmpty
            && Int(value) == nil
        if plain { return value }
        return "\"" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            + "\""
    }
}
