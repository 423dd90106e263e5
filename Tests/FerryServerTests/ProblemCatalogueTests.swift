import FerryProtocol
import Foundation
import Testing

@testable import FerryServer

@Suite("The problem catalogue")
struct ProblemCatalogueTests {
    static let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
        .appendingPathComponent("docs/protocol.md").path
    static let start = "<!-- problem catalogue: generated from ProblemKind.all -->\n"
    static let end = "<!-- end of problem catalogue -->"

    @Test("slugs are unique, statuses are errors, every kind has a title and an action")
    func wellFormed() {
        let slugs = ProblemKind.all.map(\.slug)
        #expect(Set(slugs).count == slugs.count)
        for kind in ProblemKind.all {
            #expect((400...599).contains(kind.status), "\(kind.slug)")
            #expect(!kind.title.isEmpty && kind.action.hasSuffix("."), "\(kind.slug)")
            #expect(kind.slug.allSatisfy { $0.isLowercase || $0 == "-" }, "\(kind.slug)")
            let problem = kind.problem(detail: "x")
            #expect(problem.type == "https://ferry.dev/problems/" + kind.slug)
            #expect(ProblemKind(problem) == kind)
        }
        #expect(ProblemKind.quotaExceeded.problem(status: 429).status == 429)
        #expect(ProblemKind(Problem("no-such-slug", status: 400, title: "x")) == nil)
    }

    /// FERRY_UPDATE_DOCS=1 rewrites the table from the catalogue instead of failing.
    @Test("docs/protocol.md lists exactly the catalogue")
    func documented() throws {
        let text = try String(contentsOfFile: Self.docs, encoding: .utf8)
        let head = try #require(text.range(of: Self.start))
        let tail = try #require(text.range(of: Self.end))
        let table = String(text[head.upperBound..<tail.lowerBound])
        if table != ProblemKind.markdownTable, ProcessInfo.processInfo.environment["FERRY_UPDATE_DOCS"] == "1" {
            try (String(text[..<head.upperBound]) + ProblemKind.markdownTable + String(text[tail.lowerBound...])).write(
                toFile: Self.docs,
                atomically: true,
                encoding: .utf8
            )
            return
        }
        #expect(
            table == ProblemKind.markdownTable,
            "run FERRY_UPDATE_DOCS=1 swift test --filter ProblemCatalogueTests to regenerate"
        )
    }
}

@Suite("Storage errors")
struct StorageErrorTests {
    @Test("out of space is told by errno (ENOSPC, EDQUOT), and every storage error maps to its problem")
    func mapping() {
        #expect(StorageError.system(ENOSPC, "write").isNoSpace)
        #expect(StorageError.system(EDQUOT, "write").isNoSpace)
        #expect(!StorageError.system(EIO, "write").isNoSpace)
        #expect(StorageError.system(EIO, "write").errno == EIO)
        #expect(StorageError.system(EACCES, "open").description == "open: " + String(cString: strerror(EACCES)))
        let cases: [(StorageError, ProblemKind)] = [
            (.system(ENOSPC, "write"), .storageFull), (.noSpace("reserve"), .storageFull), (.exists, .exists),
            (.isAFolder, .isADirectory), (.parentNotFolder, .parentNotFolder), (.linkOnPath, .pathOutsideArea),
            (.changedWhileRead, .fileChanged), (.folderNotEmpty, .folderNotEmpty), (.areaTop, .cannotDeleteArea),
            (.system(EIO, "sync"), .storageError), (.system(ENAMETOOLONG, "open"), .badPath),
            (.nameTooLong(limit: 1024), .badPath), (.unavailable("list", "no answer"), .storageUnavailable),
        ]
        for (error, kind) in cases {
            let problem = ProblemError(error).problem
            #expect(problem.slug == kind.slug && problem.status == kind.status, "\(error)")
            #expect(ProblemError.wrap(error).problem == problem)
        }
        #expect(ProblemError(.system(EIO, "sync")).problem.detail == "sync: " + String(cString: strerror(EIO)))
    }

    @Test("an unreachable store's own answer reaches the ledger row, never the partner's problem")
    func unavailableCause() throws {
        let error = StorageError.unavailable("store acme/q.bin part 3", "HTTP 503 SlowDown: reduce your request rate")
        let problem = ProblemError(error)
        let sent = String(decoding: try JSONEncoder().encode(problem.problem), as: UTF8.self)
        #expect(!sent.contains("SlowDown") && !sent.contains("acme/q.bin"), "\(sent)")
        let row = ProblemError.ledgerText(error)
        #expect(row.hasPrefix(problem.problem.description), "\(row)")
        #expect(row.contains("store acme/q.bin part 3: HTTP 503 SlowDown"), "\(row)")
        // A problem with no cause reads in the row as it did.
        #expect(ProblemError.ledgerText(StorageError.exists) == ProblemError(StorageError.exists).problem.description)
    }
}
