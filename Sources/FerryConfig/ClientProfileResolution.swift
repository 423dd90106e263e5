public import FerryTLS

/// What a command line sets over the configuration's client TLS profile (`--cert`, `--key`, `--ca`).
public struct ClientProfileOverrides: Sendable, Equatable {
    public var certificate: String?
    public var privateKey: String?
    public var trustedCA: String?

    public init(certificate: String? = nil, privateKey: String? = nil, trustedCA: String? = nil) {
        self.certificate = certificate
        self.privateKey = privateKey
        self.trustedCA = trustedCA
    }
}

extension FerryConfiguration {
    /// The client TLS profile for talking to a partner (or to an address that names none), by precedence:
    /// the command line's certificate, key and CA; then the partner's own `partners.NAME.tls`; then `client.tls`;
    /// then, for what is still unset, the dev PKI (its `client` certificate, else its first, and its CA) when
    /// `devPKI` exists, so a client run next to `ferry demo`'s or `ferry serve`'s dev server just works.
    public func clientProfile(
        partner: String?,
        overrides: ClientProfileOverrides = .init(),
        devPKI: DevPKI? = DevPKI(directory: DevPKI.defaultDirectory)
    ) -> ClientTLSProfile {
        var profile = partner.flatMap { partners[$0]?.tls } ?? clientTLS
        if let certificate = overrides.certificate, let key = overrides.privateKey {
            profile.certificate = certificate
            profile.privateKey = key
        }
        if let ca = overrides.trustedCA { profile.trustedCAs = [ca] }
        guard let pki = devPKI, pki.exists else { return profile }
        if profile.certificate == nil,
            let client = pki.clientNames.contains(DevPKI.defaultClient) ? DevPKI.defaultClient : pki.clientNames.first
        {
            profile.certificate = pki.clientCertificate(client)
            profile.privateKey = pki.clientKey(client)
        }
        if profile.trustedCAs.isEmpty {
            profile.trustedCAs = [pki.caCertificate]
        }
        return profile
    }
}
