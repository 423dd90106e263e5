/// One decoded field for display: a name as in the RFCs (and Wireshark's labels where they exist), its value,
/// and the fields inside it. Renderers print these; the typed message structs produce them.
public struct TLSField: Sendable, Equatable, Codable {
    public var name: String
    public var value: String
    public var children: [TLSField]

    public init(_ name: String, _ value: String = "", _ children: [TLSField] = []) {
        self.name = name
        self.value = value
        self.children = children
    }
}

/// Something that can list its fields for the verbose trace.
public protocol TLSFieldDescribing {
    var fields: [TLSField] { get }
}

extension Array where Element: CustomStringConvertible {
    /// `name (count): a b c`, the way verbose traces list code points.
    func listed() -> String {
        map(\.description).joined(separator: " ")
    }
}

func hex(_ bytes: some Sequence<UInt8>) -> String {
    var text = ""
    for byte in bytes {
        text += String(byte >> 4, radix: 16) + String(byte & 0x0F, radix: 16)
    }
    return text
}

func hex4(_ value: UInt16) -> String {
    "0x" + String(value, radix: 16).leftPadded(4)
}
