import FerryProtocol
import Foundation

/// How often and how patiently a transfer retries after a dropped connection, a 5xx or a timeout:
/// exponential backoff with jitter.
public struct RetryPolicy: Sendable {
    /// Retries after the first attempt.
    public var retries: Int
    /// The first wait, in seconds; each retry doubles it, up to `maximumWait`.
    public var baseWait: Double
    public var maximumWait: Double

    public init(retries: Int = 5, baseWait: Double = 1, maximumWait: Double = 30) {
        self.retries = retries
        self.baseWait = baseWait
        self.maximumWait = maximumWait
    }

    /// The wait before retry number `attempt` (1-based): base * 2^(attempt-1), capped, plus up to 50% jitter.
    func wait(before attempt: Int) -> Duration {
        let exponential = min(maximumWait, baseWait * pow(2, Double(attempt - 1)))
        let jittered = exponential * Double.random(in: 1.0...1.5)
        return .milliseconds(Int(jittered * 1000))
    }

    /// Whether an error is worth another attempt (the network or the server, not us or the file).
    static func isRetryable(_ error: any Error) -> Bool {
        guard let error = error as? TransferError else { return true }
        return error.code == .network
    }
}

extension TransferClient {
    /// Runs `body` (given the attempt number, from 1) until it succeeds, retrying errors worth retrying
    /// (see ``RetryPolicy``) after the policy's waits, and telling the user about each retry.
    func withRetries<Result>(_ what: String, _ body: (Int) async throws -> Result) async throws -> Result {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await body(attempt)
            } catch let error where RetryPolicy.isRetryable(error) && attempt <= retry.retries {
                try await pause(what, because: "\(error)", retry: attempt, for: retry.wait(before: attempt))
            }
        }
    }

    /// Tells the user that `what` was interrupted and when retry number `retry` comes, then waits until then.
    func pause(_ what: String, because reason: String, retry: Int, for wait: Duration) async throws {
        notify("\(what) interrupted (\(reason)); retry \(retry) of \(self.retry.retries) in \(wait)")
        try await Task.sleep(for: wait)
    }

    /// A connection to `remote` with this client's TLS, stall timeout and trace.
    func connect(to remote: RemoteTarget) async throws -> ClientConnection {
        try await ClientConnection.connect(to: remote, tls: tls, stallTimeout: stallTimeout, trace: trace)
    }
}
