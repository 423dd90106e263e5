public import NIOCore

/// Which message an extension was found in: the same code point means different things in each.
public enum TLSExtensionContext: Sendable {
    case clientHello
    case serverHello
    case helloRetryRequest
    case encryptedExtensions
    case certificateRequest
    case certificate
    case newSessionTicket
}

/// One extension: its type, its length on the wire, and its decoded value.
public struct TLSExtension: Sendable, Equatable {
    public let type: TLSExtensionType
    public let length: Int
    public let value: Value

    /// A decoded extension body. Values Ferry does not decode keep their length (`opaque`).
    public enum Value: Sendable, Equatable {
        case empty
        case serverNames([String])
        case protocols([String])
        case versions([TLSProtocolVersion])
        case selectedVersion(TLSProtocolVersion)
        case groups([TLSNamedGroup])
        case clientKeyShares([KeyShareEntry])
        case serverKeyShare(KeyShareEntry)
        case selectedGroup(TLSNamedGroup)
        case signatureSchemes([TLSSignatureScheme])
        case authorities([TLSDistinguishedName])
        case statusRequest(type: UInt8)
        case renegotiationInfo(length: Int)
        case sessionTicket(length: Int)
        case pskModes([UInt8])
        case offeredPSKs(identities: Int, binders: Int)
        case selectedIdentity(UInt16)
        case maxEarlyData(UInt32)
        case cookie(length: Int)
        case recordSizeLimit(UInt16)
        case padding(length: Int)
        case pointFormats([UInt8])
        case opaque(length: Int)
    }

    /// A key share: group and key length (the key itself is not shown).
    public struct KeyShareEntry: Sendable, Equatable {
        public let group: TLSNamedGroup
        public let keyLength: Int
        /// The public key (kept so a probe that made its own ClientHello can derive the shared secret).
        public let keyExchange: [UInt8]

        public init(group: TLSNamedGroup, keyLength: Int, keyExchange: [UInt8] = []) {
            self.group = group
            self.keyLength = keyLength
            self.keyExchange = keyExchange
        }

        public static func == (lhs: Self, rhs: Self) -> Bool {
            lhs.group == rhs.group && lhs.keyLength == rhs.keyLength
        }
    }

    public init(type: TLSExtensionType, length: Int, value: Value) {
        self.type = type
        self.length = length
        self.value = value
    }

    /// Decodes an extensions block (`Extension extensions<0..2^16-1>`) of a message.
    public static func decodeList(
        _ block: ByteBuffer,
        in context: TLSExtensionContext
    ) throws(TLSWireError) -> [TLSExtension] {
        var reader = WireReader(block, "extensions")
        var list: [TLSExtension] = []
        while !reader.isEmpty {
            let type = TLSExtensionType(rawValue: try reader.u16("type"))
            let data = try reader.vector16("extension \(type)")
            list.append(try decode(type, data, in: context))
        }
        return list
    }

    static func decode(
        _ type: TLSExtensionType,
        _ data: ByteBuffer,
        in context: TLSExtensionContext
    ) throws(TLSWireError) -> TLSExtension {
        var reader = WireReader(data, type.name ?? "extension \(type.rawValue)")
        let length = data.readableBytes
        func done(_ value: Value) throws(TLSWireError) -> TLSExtension {
            try reader.expectEnd()
            return TLSExtension(type: type, length: length, value: value)
        }
        if type.isGREASE { return TLSExtension(type: type, length: length, value: .opaque(length: length)) }
        switch type {
        case .serverName:
            if length == 0 { return try done(.empty) }
            var list = WireReader(try reader.vector16("server_name_list"), "server_name_list")
            var names: [String] = []
            while !list.isEmpty {
                let nameType = try list.u8("name_type")
                let name = try list.vector16("host_name")
                names.append(nameType == 0 ? String(buffer: name) : "type \(nameType): \(name.readableBytes) bytes")
            }
            return try done(.serverNames(names))
        case .alpn:
            var list = WireReader(try reader.vector16("protocol_name_list"), "protocol_name_list")
            var names: [String] = []
            while !list.isEmpty { names.append(String(buffer: try list.vector8("protocol_name"))) }
            return try done(.protocols(names))
        case .supportedVersions:
            if context == .clientHello {
                let list = try WireReader.list16(try reader.vector8("versions"), "supported_versions")
                return try done(.versions(list.map(TLSProtocolVersion.init(rawValue:))))
            }
            return try done(.selectedVersion(TLSProtocolVersion(rawValue: try reader.u16("selected_version"))))
        case .supportedGroups:
            let list = try WireReader.list16(try reader.vector16("named_group_list"), "supported_groups")
            return try done(.groups(list.map(TLSNamedGroup.init(rawValue:))))
        case .keyShare:
            switch context {
            case .clientHello:
                var list = WireReader(try reader.vector16("client_shares"), "client_shares")
                var entries: [KeyShareEntry] = []
                while !list.isEmpty {
                    let group = TLSNamedGroup(rawValue: try list.u16("group"))
                    entries.append(
                        KeyShareEntry(group: group, keyLength: try list.vector16("key_exchange").readableBytes)
                    )
                }
                return try done(.clientKeyShares(entries))
            case .helloRetryRequest:
                return try done(.selectedGroup(TLSNamedGroup(rawValue: try reader.u16("selected_group"))))
            default:
                let group = TLSNamedGroup(rawValue: try reader.u16("group"))
                var key = try reader.vector16("key_exchange")
                return try done(
                    .serverKeyShare(
                        KeyShareEntry(
                            group: group,
                            keyLength: key.readableBytes,
                            keyExchange: key.readBytes(length: key.readableBytes)!
                        )
                    )
                )
            }
        case .signatureAlgorithms, .signatureAlgorithmsCert:
            let list = try WireReader.list16(try reader.vector16("supported_signature_algorithms"), type.name ?? "")
            return try done(.signatureSchemes(list.map(TLSSignatureScheme.init(rawValue:))))
        case .certificateAuthorities:
            return try done(
                .authorities(
                    try TLSDistinguishedName.decodeList(try reader.vector16("authorities"), "certificate_authorities")
                )
            )
        case .statusRequest:
            if length == 0 { return try done(.empty) }
            if context == .certificate {
                // CertificateStatus (TLS 1.3 OCSP response in a CertificateEntry).
                let statusType = try reader.u8("status_type")
                _ = try reader.vector24("response")
                return try done(.statusRequest(type: statusType))
            }
            let statusType = try reader.u8("status_type")
            _ = try reader.vector16("responder_id_list")
            _ = try reader.vector16("request_extensions")
            return try done(.statusRequest(type: statusType))
        case .extendedMasterSecret, .encryptThenMAC, .postHandshakeAuth:
            return try done(.empty)
        case .renegotiationInfo:
            return try done(.renegotiationInfo(length: try reader.vector8("renegotiated_connection").readableBytes))
        case .sessionTicket:
            return TLSExtension(type: type, length: length, value: .sessionTicket(length: length))
        case .pskKeyExchangeModes:
            var modes = try reader.vector8("ke_modes")
            return try done(.pskModes(modes.readBytes(length: modes.readableBytes) ?? []))
        case .preSharedKey:
            if context == .clientHello {
                var identities = WireReader(try reader.vector16("identities"), "identities")
                var count = 0
                while !identities.isEmpty {
                    _ = try identities.vector16("identity")
                    _ = try identities.u32("obfuscated_ticket_age")
                    count += 1
                }
                var binders = WireReader(try reader.vector16("binders"), "binders")
                var binderCount = 0
                while !binders.isEmpty {
                    _ = try binders.vector8("binder")
                    binderCount += 1
                }
                return try done(.offeredPSKs(identities: count, binders: binderCount))
            }
            return try done(.selectedIdentity(try reader.u16("selected_identity")))
        case .earlyData:
            if context == .newSessionTicket { return try done(.maxEarlyData(try reader.u32("max_early_data_size"))) }
            return try done(.empty)
        case .cookie:
            return try done(.cookie(length: try reader.vector16("cookie").readableBytes))
        case .recordSizeLimit:
            return try done(.recordSizeLimit(try reader.u16("record_size_limit")))
        case .padding:
            return TLSExtension(type: type, length: length, value: .padding(length: length))
        case .ecPointFormats:
            var formats = try reader.vector8("ec_point_format_list")
            return try done(.pointFormats(formats.readBytes(length: formats.readableBytes) ?? []))
        default:
            return TLSExtension(type: type, length: length, value: .opaque(length: length))
        }
    }
}

extension TLSExtension: TLSFieldDescribing {
    public var fields: [TLSField] {
        [TLSField("Extension: \(type.name ?? "unknown")", "type \(type.rawValue), length \(length)", valueFields)]
    }

    var valueFields: [TLSField] {
        switch value {
        case .empty: return []
        case .serverNames(let names): return names.map { TLSField("Server Name", $0) }
        case .protocols(let names): return [TLSField("ALPN Protocols (\(names.count))", names.joined(separator: " "))]
        case .versions(let versions): return [TLSField("Supported Versions (\(versions.count))", versions.listed())]
        case .selectedVersion(let version): return [TLSField("Supported Version", version.description)]
        case .groups(let groups): return [TLSField("Supported Groups (\(groups.count))", groups.listed())]
        case .clientKeyShares(let entries):
            return entries.map { TLSField("Key Share Entry", "\($0.group), key_exchange length \($0.keyLength)") }
        case .serverKeyShare(let entry):
            return [TLSField("Key Share Entry", "\(entry.group), key_exchange length \(entry.keyLength)")]
        case .selectedGroup(let group): return [TLSField("Selected Group", group.description)]
        case .signatureSchemes(let schemes):
            return [TLSField("Signature Algorithms (\(schemes.count))", schemes.listed())]
        case .authorities(let names):
            return [TLSField("Distinguished Names (\(names.count))", "", names.map(\.field))]
        case .statusRequest(let statusType):
            return [TLSField("Certificate Status Type", statusType == 1 ? "ocsp(1)" : "\(statusType)")]
        case .renegotiationInfo(let length): return [TLSField("Renegotiation Info length", "\(length)")]
        case .sessionTicket(let length): return [TLSField("Session Ticket length", "\(length)")]
        case .pskModes(let modes):
            return [
                TLSField(
                    "PSK Key Exchange Modes",
                    modes.map { $0 == 0 ? "psk_ke(0)" : $0 == 1 ? "psk_dhe_ke(1)" : "\($0)" }.joined(separator: " ")
                )
            ]
        case .offeredPSKs(let identities, let binders):
            return [TLSField("Identities", "\(identities)"), TLSField("Binders", "\(binders)")]
        case .selectedIdentity(let index): return [TLSField("Selected Identity", "\(index)")]
        case .maxEarlyData(let size): return [TLSField("Maximum Early Data Size", "\(size)")]
        case .cookie(let length): return [TLSField("Cookie length", "\(length)")]
        case .recordSizeLimit(let limit): return [TLSField("Record Size Limit", "\(limit)")]
        case .padding(let length): return [TLSField("Padding Data length", "\(length)")]
        case .pointFormats(let formats):
            return [
                TLSField(
                    "EC point formats",
                    formats.map { $0 == 0 ? "uncompressed(0)" : "\($0)" }.joined(separator: " ")
                )
            ]
        case .opaque(let length): return length > 0 ? [TLSField("Data length", "\(length)")] : []
        }
    }
}
