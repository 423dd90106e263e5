/// Exit codes of `ferry send`, `get`, `ls` and `rm` (docs/protocol.md), for schedulers and scripts; a queued
/// transfer records the one it would have had on the command line.
public enum FerryExitCode: Int32, Sendable {
    case success = 0
    case usage = 1
    case tlsHandshake = 2
    case rejected = 3
    case integrity = 4
    case network = 5
    case localIO = 6
    /// `ferry queue add --wait`: an operator cancelled the entry.
    case cancelled = 7

    /// The exit code of a client failure.
    public init(_ code: TransferError.Code) {
        switch code {
        case .tlsHandshake: self = .tlsHandshake
        case .rejected: self = .rejected
        case .integrity: self = .integrity
        case .network: self = .network
        case .localIO: self = .localIO
        default: self = .usage
        }
    }
}
