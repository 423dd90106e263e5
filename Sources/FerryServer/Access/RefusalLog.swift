import FerryProtocol
import FerryTLS
import FerryTrace
import Hummingbird
import Logging

/// Logs every request the routes refuse (a problem with a 4xx status other than 404), once, with the client
/// certificate, the problem and its reason: an operator sees who tried what, a partner only its problem+json.
/// The partner-name refusal is logged where it is decided, with more detail, and is not repeated here. A 5xx
/// problem is logged as a failure with its cause (what the storage answered), which the partner never sees.
struct RefusalLog: RouterMiddleware {
    typealias Context = FerryRequestContext

    let logger: Logger

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as ProblemError {
            let status = error.problem.status
            if (400..<500).contains(status), status != 404, error.problem.slug != "unknown-partner" {
                let identity = context.connection?.snapshot.peerCertificateDER.flatMap(PeerIdentity.cached(derEncoded:))
                logger.notice(
                    "request refused",
                    metadata: [
                        "status": "\(status)", "problem": "\(error.problem.slug)",
                        "detail": "\(error.problem.detail ?? "")",
                        "method": "\(request.method)", "path": "\(request.uri.path)",
                        "subject": "\(identity?.subject ?? "none")",
                    ]
                )
            }
            if status >= 500 {
                logger.warning(
                    "request failed",
                    metadata: [
                        "status": "\(status)", "problem": "\(error.problem.slug)",
                        "cause": "\(error.cause ?? error.problem.detail ?? "")",
                        "method": "\(request.method)", "path": "\(request.uri.path)",
                    ]
                )
            }
            throw error
        }
    }
}
