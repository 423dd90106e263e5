public import FerryProtocol
import Foundation
import HTTPTypes
public import Hummingbird

/// A problem thrown by a route and rendered as `application/problem+json`.
struct ProblemError: Error, HTTPResponseError {
    private(set) var problem: Problem
    var additionalHeaders: HTTPFields = [:]
    /// What the storage itself answered (an object store's status and code, a timeout, an errno): for the
    /// operator's log and ledger row only, never sent to the partner.
    private(set) var cause: String?

    /// Which quota refused the request (see `QuotaBook`).
    var quota: Problem.QuotaState? {
        get { problem.quota }
        set { problem.quota = newValue }
    }

    /// A problem of a catalogued kind; `status` overrides the kind's (a quota answers by what ran out).
    init(_ kind: ProblemKind, status: HTTPResponse.Status? = nil, detail: String? = nil) {
        self.problem = kind.problem(detail: detail, status: status?.code)
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
        ProblemError(.badPath, detail: error.description)
    }

    /// What a storage error means to a partner.
    init(_ error: StorageError) {
        if error.isNoSpace {
            self.init(.storageFull, detail: "the server has no space left for this upload")
        } else if error.isExists {
            self.init(.exists, detail: "If-None-Match: * was sent and the file already exists")
        } else if error.isAFolderInTheWay {
            self.init(.isADirectory, detail: "a folder exists at this path; upload to a file name inside it")
        } else if error.isParentNotFolder {
            self.init(.parentNotFolder, detail: "a file is in the way of a folder on this path")
        } else if error.isLinkOnPath {
            self.init(
                .pathOutsideArea,
                detail: "a symbolic link is on this path; links inside an area are never followed"
            )
        } else if error.isChangedWhileRead {
            self.init(.fileChanged, detail: "the file became shorter while it was read")
        } else if error.isFolderNotEmpty {
            self.init(.folderNotEmpty, detail: "delete the files inside the folder first")
        } else if error.isAreaTop {
            self.init(.cannotDeleteArea, detail: "the top of an area cannot be deleted")
        } else if error.isNameTooLong {
            self.init(.badPath, detail: "\(error.description); use a shorter path")
        } else if error.isUnavailable {
            self.init(.storageUnavailable, detail: "the server cannot reach its storage; retry later")
            cause = error.description
        } else if error.isAreaOutsideRoot {
            self.init(
                .pathOutsideArea,
                detail:
                    "Area outside the served tree: this area leads outside the server's root; the operator must fix it"
            )
        } else {
            self.init(.storageError, detail: error.description)
        }
    }

    /// How a failed request's error reads in its ledger row: a problem (a storage error as the problem it becomes),
    /// else the error itself (a dropped connection, a cancelled task).
    static func ledgerText(_ error: any Error) -> String {
        guard error is ProblemError || error is StorageError else { return String(describing: error) }
        let problem = wrap(error)
        return problem.problem.description + (problem.cause.map { " (\($0))" } ?? "")
    }

    /// Any error as a problem: a problem as it is, a storage error by its meaning, anything else as a storage
    /// error with its reason.
    static func wrap(_ error: any Error) -> ProblemError {
        if let problem = error as? ProblemError { return problem }
        if let storage = error as? StorageError { return ProblemError(storage) }
        return ProblemError(.storageError, detail: String(describing: error))
    }
}
