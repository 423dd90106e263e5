import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A loopback TCP port that is free right now (for a server that must come back on the same port, or a peer
/// program given a port). Picked below Linux's ephemeral range (32768-60999), so the many outgoing
/// connections of parallel tests cannot take it between this check and the peer's bind. A port is handed out once
/// per test process: two servers started at the same moment by tests side by side could otherwise both be given
/// the port neither had bound yet (a full run saw PostgreSQL fail with "Address already in use").
public func freeLoopbackPort() -> Int {
    for _ in 0..<200 {
        let candidate = UInt16.random(in: 20000..<32000)
        guard handedOut.withLock({ $0.insert(candidate).inserted }) else { continue }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = candidate.bigEndian
        let length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        if bound == 0 { return Int(candidate) }
    }
    fatalError("no free loopback port between 20000 and 32000")
}

private let handedOut = Mutex<Set<UInt16>>([])
