/// Exit codes of `ferry send`, `get`, `ls` and `rm` (PROTOCOL.md).
public enum FerryExitCode: Int32, Sendable {
    case success = 0
    case usage = 1
    case tlsHandshake = 2
    case rejected = 3
    case integrity = 4
    case network = 5
    case localIO = 6
}
