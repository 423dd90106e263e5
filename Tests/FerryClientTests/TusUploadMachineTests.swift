import FerryProtocol
import Foundation
import Testing

@testable import FerryClient

/// Every decision of a resumable upload, driven without sockets: the server's answers, broken connections and
/// retry timers in, the next step out.
@Suite("The resumable upload's state machine")
struct TusUploadMachineTests {
    static let size: Int64 = 1000
    static let digest = FileDigest(bytes: Array(repeating: 7, count: 32))!
    static let other = FileDigest(bytes: Array(repeating: 8, count: 32))!

    static func machine(saved: String? = nil, retries: Int = 3) -> TusUploadMachine {
        TusUploadMachine(
            size: size,
            file: "a.bin",
            savedPath: saved,
            retry: RetryPolicy(retries: retries),
            delay: { .seconds($0) }
        )
    }

    static func problem(_ kind: ProblemKind) -> Problem { Problem(kind, detail: "detail of \(kind.slug)") }

    /// The action's shape, for comparison.
    static func shape(_ action: TusUploadMachine.Action) -> String {
        switch action {
        case .create: return "create"
        case .askOffset(let path): return "ask \(path)"
        case .send(let path, let from): return "send \(path) \(from)"
        case .wait(let duration, _): return "wait \(duration)"
        case .done(let digest): return "done \(digest.hex.prefix(4))"
        case .fail(let error): return "fail \(error.code)"
        }
    }

    static func error(_ action: TusUploadMachine.Action) -> TransferError? {
        if case .fail(let error) = action { return error }
        return nil
    }

    @Test("a new upload: create, send everything, done when the server's digest matches")
    func fresh() {
        var machine = Self.machine()
        #expect(Self.shape(machine.start()) == "create")
        #expect(Self.shape(machine.created(status: 201, location: "/v1/uploads/abc")) == "send /v1/uploads/abc 0")
        #expect(machine.uploadPath == "/v1/uploads/abc")
        #expect(
            Self.shape(
                machine.sent(status: 204, offset: Self.size, serverDigest: Self.digest, localDigest: Self.digest)
            ) == "done 0707"
        )
        #expect(machine.attempts.offsets == [0] && machine.attempts.resumedFrom == 0 && machine.attempts.count == 1)
        #expect(machine.takeNotices().isEmpty)
    }

    @Test("an absolute Location is reduced to its path; a missing or foreign one is a refusal")
    func location() {
        var machine = Self.machine()
        #expect(
            Self.shape(machine.created(status: 201, location: "https://ferry.example:8443/v1/uploads/abc"))
                == "send /v1/uploads/abc 0"
        )
        var missing = Self.machine()
        #expect(Self.error(missing.created(status: 201, location: nil))?.code == .rejected)
        var foreign = Self.machine()
        #expect(Self.error(foreign.created(status: 201, location: "ftp://x/y"))?.code == .rejected)
    }

    @Test("a saved upload is resumed from the server's offset, with a notice; an offset outside the file is refused")
    func resume() {
        var machine = Self.machine(saved: "/v1/uploads/abc")
        #expect(Self.shape(machine.start()) == "ask /v1/uploads/abc")
        #expect(Self.shape(machine.offset(status: 200, offset: 400)) == "send /v1/uploads/abc 400")
        #expect(machine.attempts.resumedFrom == 400)
        #expect(machine.takeNotices() == ["resuming a.bin at 400 B of 1000 B (40%)"])
        for bad: Int64? in [nil, -1, Self.size + 1] {
            var machine = Self.machine(saved: "/v1/uploads/abc")
            #expect(Self.error(machine.offset(status: 200, offset: bad))?.code == .rejected)
        }
    }

    @Test(
        "the server lost the upload (404 or 410 on HEAD or PATCH): start over with a new one, and say so",
        arguments: [404, 410]
    )
    func lost(status: Int) {
        var asked = Self.machine(saved: "/v1/uploads/old")
        #expect(Self.shape(asked.offset(status: status, offset: nil)) == "create")
        #expect(asked.uploadPath == nil)
        #expect(asked.takeNotices().first?.contains("no longer has the interrupted upload") == true)
        var sending = Self.machine()
        _ = sending.created(status: 201, location: "/v1/uploads/abc")
        #expect(Self.shape(sending.sent(status: status, offset: nil)) == "create")
        #expect(Self.shape(sending.created(status: 201, location: "/v1/uploads/new")) == "send /v1/uploads/new 0")
        #expect(sending.takeNotices().first?.contains("lost the upload") == true)
    }

    @Test("409 (the offset moved) asks again at once, but not forever")
    func conflict() {
        var machine = Self.machine()
        _ = machine.created(status: 201, location: "/v1/uploads/abc")
        for _ in 0..<TusUploadMachine.maximumOffsetConflicts {
            #expect(
                Self.shape(machine.sent(status: 409, offset: nil, problem: Self.problem(.offsetMismatch)))
                    == "ask /v1/uploads/abc"
            )
            #expect(Self.shape(machine.offset(status: 200, offset: 10)) == "send /v1/uploads/abc 10")
        }
        #expect(Self.error(machine.sent(status: 409, offset: nil))?.code == .network)
    }

    @Test(
        "busy (423), a server error (5xx), a dropped connection and a checksum mismatch (460) wait with backoff, then ask the offset",
        arguments: [423, 500, 503, 460, 0]
    )
    func transient(status: Int) {
        var machine = Self.machine()
        _ = machine.created(status: 201, location: "/v1/uploads/abc")
        let action =
            status == 0 ? machine.connectionFailed("connection reset") : machine.sent(status: status, offset: nil)
        #expect(Self.shape(action) == "wait 1.0 seconds")
        #expect(Self.shape(machine.retryDue()) == "ask /v1/uploads/abc")
        #expect(machine.attempts.count == 2)
        // The next wait is the policy's next.
        #expect(Self.shape(machine.connectionFailed("again")) == "wait 2.0 seconds")
    }

    @Test("the retries run out: the last failure is final, as a network failure (exit 5)")
    func exhausted() {
        var machine = Self.machine(retries: 2)
        #expect(Self.shape(machine.connectionFailed("reset")) == "wait 1.0 seconds")
        _ = machine.retryDue()
        #expect(Self.shape(machine.connectionFailed("reset")) == "wait 2.0 seconds")
        _ = machine.retryDue()
        let final = Self.error(machine.connectionFailed("reset"))
        #expect(
            final?.code == .network && final?.message.contains("after 3 attempts") == true,
            "\(String(describing: final))"
        )
    }

    @Test(
        "a refusal the user must fix fails at once with the server's words",
        arguments: [
            (400, ProblemKind.badMetadata), (403, .accessDenied), (412, .tusVersion), (413, .tooLarge),
            (507, .storageFull),
        ]
    )
    func refused(status: Int, kind: ProblemKind) {
        var machine = Self.machine()
        let error = Self.error(machine.created(status: status, location: nil, problem: Self.problem(kind)))
        #expect(error?.code == .rejected)
        #expect(error?.message.contains("detail of \(kind.slug)") == true, "\(String(describing: error))")
        #expect(error?.problem?.slug == kind.slug)
    }

    @Test("a quota refusal is final whatever its status, even one that would otherwise be retried")
    func quota() {
        var machine = Self.machine()
        #expect(
            Self.error(machine.created(status: 429, location: nil, problem: Self.problem(.quotaExceeded)))?.code
                == .rejected
        )
    }

    @Test("the digests: a mismatch or a missing server digest is an integrity failure (exit 4), never retried")
    func integrity() {
        var mismatch = Self.machine()
        _ = mismatch.created(status: 201, location: "/v1/uploads/abc")
        let error = Self.error(
            mismatch.sent(status: 204, offset: Self.size, serverDigest: Self.other, localDigest: Self.digest)
        )
        #expect(error?.code == .integrity && error?.message.contains(Self.other.hex) == true)
        var missing = Self.machine()
        _ = missing.created(status: 201, location: "/v1/uploads/abc")
        #expect(
            Self.error(missing.sent(status: 204, offset: Self.size, serverDigest: nil, localDigest: Self.digest))?.code
                == .integrity
        )
    }

    @Test("204 before the end (the server kept only part of the body): retry from the server's offset")
    func partial() {
        var machine = Self.machine()
        _ = machine.created(status: 201, location: "/v1/uploads/abc")
        #expect(Self.shape(machine.sent(status: 204, offset: 600, localDigest: Self.digest)) == "wait 1.0 seconds")
        #expect(Self.shape(machine.retryDue()) == "ask /v1/uploads/abc")
        #expect(Self.shape(machine.offset(status: 200, offset: 600)) == "send /v1/uploads/abc 600")
        #expect(machine.attempts.offsets == [0, 600])
    }
}
