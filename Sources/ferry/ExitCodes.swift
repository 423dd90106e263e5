import FerryClient

/// Exit codes of `ferry send`, `get`, `ls` and `rm` (docs/protocol.md), for schedulers and scripts.
enum FerryExitCode: Int32 {
    case success = 0
    case usage = 1
    case tlsHandshake = 2
    case rejected = 3
    case integrity = 4
    case network = 5
    case localIO = 6

    /// The exit code of a client failure.
    init(_ code: TransferError.Code) {
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
