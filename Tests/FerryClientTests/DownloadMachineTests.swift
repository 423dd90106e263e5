import FerryProtocol
import Foundation
import Testing

@testable import FerryClient

/// Every decision of `ferry get`, driven without sockets or files.
@Suite("The download's state machine")
struct DownloadMachineTests {
    static let digest = FileDigest(bytes: Array(repeating: 7, count: 32))!
    static let other = FileDigest(bytes: Array(repeating: 8, count: 32))!

    static func machine(etag: String? = nil, retries: Int = 3) -> DownloadMachine {
        DownloadMachine(name: "out/a.bin", etag: etag, retry: RetryPolicy(retries: retries), delay: { .seconds($0) })
    }

    static func shape(_ action: DownloadMachine.Action) -> String {
        switch action {
        case .fetch(let from, let ifRange): return "fetch \(from) \(ifRange ?? "-")"
        case .receive(let from, let total): return "receive \(from) \(total.map(String.init) ?? "?")"
        case .wait(let duration, _): return "wait \(duration)"
        case .done(let digest): return "done \(digest.hex.prefix(4))"
        case .fail(let error): return "fail \(error.code)"
        }
    }

    static func error(_ action: DownloadMachine.Action) -> TransferError? {
        if case .fail(let error) = action { return error }
        return nil
    }

    @Test("a fresh download: the whole file, then done when the digests match")
    func fresh() {
        var machine = Self.machine()
        #expect(Self.shape(machine.start(partLength: 0)) == "fetch 0 -")
        #expect(
            Self.shape(machine.response(status: 200, rangeStart: nil, total: 100, etag: "\"e1\"", digest: Self.digest))
                == "receive 0 100"
        )
        #expect(machine.etag == "\"e1\"")
        #expect(Self.shape(machine.bodyEnded(received: 100, digest: Self.digest)) == "done 0707")
        #expect(machine.attempts.resumedFrom == 0 && machine.attempts.offsets == [0])
    }

    @Test("a part with its validator resumes with Range and If-Range; a part without one starts over")
    func resume() {
        var machine = Self.machine(etag: "\"e1\"")
        #expect(Self.shape(machine.start(partLength: 40)) == "fetch 40 \"e1\"")
        #expect(
            Self.shape(machine.response(status: 206, rangeStart: 40, total: 100, etag: "\"e1\"", digest: Self.digest))
                == "receive 40 100"
        )
        #expect(machine.attempts.resumedFrom == 40)
        #expect(Self.shape(machine.bodyEnded(received: 100, digest: Self.digest)) == "done 0707")
        var unvalidated = Self.machine()
        #expect(Self.shape(unvalidated.start(partLength: 40)) == "fetch 0 -")
        var empty = Self.machine(etag: "\"e1\"")
        #expect(Self.shape(empty.start(partLength: 0)) == "fetch 0 -")
        #expect(empty.etag == nil)
    }

    @Test("the file changed on the server (200 to a conditional range): the new file from its start, and a notice")
    func changed() {
        var machine = Self.machine(etag: "\"e1\"")
        _ = machine.start(partLength: 40)
        #expect(
            Self.shape(machine.response(status: 200, rangeStart: nil, total: 120, etag: "\"e2\"", digest: Self.digest))
                == "receive 0 120"
        )
        #expect(machine.etag == "\"e2\"")
        #expect(machine.takeNotices().first?.contains("changed on the server") == true)
    }

    @Test("416 (the part is no prefix of the file): ask for the whole file at once, forgetting the validator")
    func notAPrefix() {
        var machine = Self.machine(etag: "\"e1\"")
        _ = machine.start(partLength: 400)
        #expect(
            Self.shape(machine.response(status: 416, rangeStart: nil, total: 100, etag: nil, digest: nil))
                == "fetch 0 -"
        )
        #expect(machine.etag == nil && machine.attempts.count == 1)
        #expect(machine.takeNotices().first?.contains("does not match") == true)
    }

    @Test("206 from an offset that was not asked for is not trusted: retry from nothing")
    func wrongRange() {
        var machine = Self.machine(etag: "\"e1\"")
        _ = machine.start(partLength: 40)
        #expect(
            Self.shape(machine.response(status: 206, rangeStart: 0, total: 100, etag: "\"e1\"", digest: Self.digest))
                == "wait 1.0 seconds"
        )
        #expect(Self.shape(machine.retryDue(partLength: 40)) == "fetch 0 -")
    }

    @Test("a body that stops early or a broken connection retries from what the part holds, with the policy's backoff")
    func interrupted() {
        var machine = Self.machine()
        _ = machine.start(partLength: 0)
        _ = machine.response(status: 200, rangeStart: nil, total: 100, etag: "\"e1\"", digest: Self.digest)
        #expect(Self.shape(machine.bodyEnded(received: 70, digest: Self.other)) == "wait 1.0 seconds")
        #expect(Self.shape(machine.retryDue(partLength: 70)) == "fetch 70 \"e1\"")
        #expect(Self.shape(machine.connectionFailed("stalled")) == "wait 2.0 seconds")
        #expect(Self.shape(machine.retryDue(partLength: 85)) == "fetch 85 \"e1\"")
        _ = machine.response(status: 206, rangeStart: 85, total: 100, etag: nil, digest: Self.digest)
        #expect(machine.attempts.offsets == [0, 85] && machine.attempts.count == 3)
        #expect(Self.shape(machine.bodyEnded(received: 100, digest: Self.digest)) == "done 0707")
    }

    @Test("retries run out: the last failure is final, as a network failure (exit 5)")
    func exhausted() {
        var machine = Self.machine(retries: 1)
        _ = machine.start(partLength: 0)
        #expect(Self.shape(machine.connectionFailed("reset")) == "wait 1.0 seconds")
        _ = machine.retryDue(partLength: 0)
        #expect(Self.error(machine.connectionFailed("reset"))?.code == .network)
    }

    @Test(
        "refusals: a busy or failing server is retried, a missing file, a denied right or a full disk is final",
        arguments: [
            (423, "wait"), (500, "wait"), (503, "wait"), (404, "rejected"), (403, "rejected"), (507, "rejected"),
        ]
    )
    func refused(status: Int, outcome: String) {
        var machine = Self.machine()
        _ = machine.start(partLength: 0)
        let action = machine.response(
            status: status,
            rangeStart: nil,
            total: nil,
            etag: nil,
            digest: nil,
            problem: Problem("x", status: status, title: "t", detail: "the server's words")
        )
        if outcome == "wait" {
            #expect(Self.shape(action) == "wait 1.0 seconds")
        } else {
            #expect(
                Self.error(action)?.code == .rejected
                    && Self.error(action)?.message.contains("the server's words") == true
            )
        }
    }

    @Test("the digests: a mismatch or no digest from the server is an integrity failure (exit 4), never retried")
    func integrity() {
        var mismatch = Self.machine()
        _ = mismatch.start(partLength: 0)
        _ = mismatch.response(status: 200, rangeStart: nil, total: 10, etag: nil, digest: Self.other)
        let error = Self.error(mismatch.bodyEnded(received: 10, digest: Self.digest))
        #expect(error?.code == .integrity && error?.message.contains(Self.other.hex) == true)
        var missing = Self.machine()
        _ = missing.start(partLength: 0)
        _ = missing.response(status: 200, rangeStart: nil, total: 10, etag: nil, digest: nil)
        #expect(Self.error(missing.bodyEnded(received: 10, digest: Self.digest))?.code == .integrity)
    }

    @Test(
        "Content-Range as a client reads it: a range with its length, an unknown length, a 416's; anything else is refused"
    )
    func contentRange() {
        #expect(ContentRange(header: "bytes 40-99/100") == ContentRange(header: " bytes 40-99/100 "))
        #expect(
            ContentRange(header: "bytes 40-99/100")?.range == 40..<100
                && ContentRange(header: "bytes 40-99/100")?.total == 100
        )
        #expect(ContentRange(header: "bytes 0-0/*")?.total == nil && ContentRange(header: "bytes 0-0/*")?.start == 0)
        #expect(ContentRange(header: "bytes */100")?.range == nil && ContentRange(header: "bytes */100")?.total == 100)
        for bad in [
            "", "bytes", "bytes 40-99", "bytes 99-40/100", "bytes 40-100/100", "items 0-1/2", "bytes -1-5/10",
            "bytes */*", "bytes 1-2/3/4", "bytes 0-99999999999999999999/1", "bytes a-b/c",
        ] {
            #expect(ContentRange(header: bad) == nil, "\(bad)")
        }
    }
}
