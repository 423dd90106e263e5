public import FerryProtocol
import Foundation
import HTTPTypes
public import Hummingbird

/// A problem thrown by a route and rendered as `application/problem+json`.
struct ProblemError: Error, HTTPResponseError {
    private(set) var problem: Problem
    var additionalHeaders: HTTPFields = [:]

    /// Which quota refused the request (see `QuotaBook`).
    var quota: Problem.QuotaState? {
        get { problem.quota }
        set { problem.quota = newValue }
    }

    init(_ slug: String, _ status: HTTPResponse.Status, _ title: String, detail: String? = nil) {
        self.problem = Problem(slug, status: status.code, title: title, detail: detail)
    }

    var status: HTTPResponse.Status { .init(code: problem.status) }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = additionalHeaders
        headers[.contentType] = Problem.mediaType
        // A HEAD answer carries no body (a body there breaks HTTP/2 framing).
        guard request.method != .head else {
            return Response(status: status, headers: headers, body: .init())
        }
        let body = (try? JSONEncoder().encode(problem)) ?? Data()
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    static func from(_ error: PathError) -> ProblemError {
        ProblemError("bad-path", .badRequest, "Path refused", detail: error.description)
    }

    /// Any error as a problem (storage errors keep their reason).
    static func wrap(_ error: any Error) -> ProblemError {
        if let problem = error as? ProblemError { return problem }
        return ProblemError("storage-error", .internalServerError, "Cannot store", detail: String(describing: error))
    }
}
