import FerryConfig
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The process's open-file limit: raised from the soft to the hard limit at startup, with a warning when even
/// that is too low for the connection caps (each connection may hold a socket and a file, plus the server's own).
enum FileDescriptorLimit {
    /// Descriptors the caps may need: two per connection and a reserve for the ledger, logs and listeners.
    static func needed(for limits: FerryConfiguration.ConnectionLimits) -> Int { 2 * limits.maximumConnections + 64 }

    /// Raises the soft limit to the hard one; returns the limit in force.
    @discardableResult
    static func raise(toServe limits: FerryConfiguration.ConnectionLimits, logger: Logger) -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return -1 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        let inForce = limit.rlim_cur > rlim_t(Int.max) ? Int.max : Int(limit.rlim_cur)
        if inForce < needed(for: limits) {
            logger.warning(
                "the open-file limit is lower than the connection caps need: raise it (ulimit -n, LimitNOFILE=) or lower server.limits.max-connections",
                metadata: [
                    "limit": "\(inForce)", "needed": "\(needed(for: limits))",
                    "max_connections": "\(limits.maximumConnections)",
                ]
            )
        }
        return inForce
    }
}
