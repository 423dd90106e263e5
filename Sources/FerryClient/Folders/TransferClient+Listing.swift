import FerryLedger
public import FerryProtocol
import Foundation
import NIOCore
import NIOHTTP1

/// `ferry ls` and `ferry rm`.
extension TransferClient {
    // MARK: ls, rm

    /// Lists a folder, following the server's pages on one connection.
    public func list(_ remote: RemoteTarget) async throws -> Listing {
        var folder = remote
        folder.path = PartnerPath(folderOf: remote.path)
        let connection = try await connect(to: remote)
        return try await connection.withSession { session in
            var all: Listing?
            var after: String?
            repeat {
                // Pages of 2,000 keep each body well under the client's 4 MiB limit, whatever the names.
                let query = "?limit=2000" + (after.map { "&after=" + PercentEncoding.encodeSegment($0) } ?? "")
                try await session.sendHead(
                    method: .GET,
                    uri: folder.requestPath + query,
                    headers: [("Accept", FerryMediaType.json)]
                )
                try await session.sendEnd()
                let head = try await session.readHead()
                guard head.status.code == 200 else {
                    throw try await session.rejection(head, doing: "listing of \(remote.path)")
                }
                let body = try await session.collectBody()
                let page: Listing
                do {
                    page = try JSONDecoder().decode(Listing.self, from: Data(body.readableBytesView))
                } catch {
                    throw TransferError(.network, "the server's listing is not valid JSON (\(error))")
                }
                guard page.next != after || page.next == nil else {
                    throw TransferError(.network, "the server's listing does not advance past '\(after ?? "")'")
                }
                if all == nil { all = page } else { all!.entries += page.entries }
                after = page.next
            } while after != nil
            all!.next = nil
            return all!
        }
    }

    /// Deletes a file (or an empty folder).
    public func remove(_ remote: RemoteTarget) async throws {
        let started = Date()
        let connection = try await connect(to: remote)
        try await connection.withSession { session in
            try await session.sendHead(method: .DELETE, uri: remote.requestPath)
            try await session.sendEnd()
            let head = try await session.readHead()
            guard (200..<300).contains(head.status.code) else {
                throw try await session.rejection(head, doing: "delete of \(remote.path)")
            }
            _ = try await session.collectBody(limit: 64 << 10)
            try? await record(
                .outbound,
                .delete,
                remote,
                bytes: 0,
                sha256: nil,
                started: started,
                connection: connection,
                error: nil
            )
        }
    }
}
