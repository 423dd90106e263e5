import FerryProtocol
import Foundation
import NIOCore
public import NIOHTTP1

/// Sequential HTTP/1.1 exchanges on one connection: write a request (head, streamed body, end) and read the
/// response part by part.
public struct HTTPSession: ~Copyable {
    var iterator: NIOAsyncChannelInboundStream<HTTPClientResponsePart>.AsyncIterator
    let outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>
    let target: RemoteTarget
    /// Marks when a response arrives (for uploads that the server refuses before their end).
    let arrival: ResponseArrival
    /// How many final responses have been read on this connection.
    var responsesRead = 0

    /// Sends a request head with the usual headers.
    mutating func sendHead(method: HTTPMethod, uri: String, headers extra: [(String, String)] = []) async throws {
        arrival.reset()
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: target.authority)
        headers.add(name: "User-Agent", value: "ferry/0.1")
        for (name, value) in extra { headers.add(name: name, value: value) }
        try await outbound.write(.head(HTTPRequestHead(version: .http1_1, method: method, uri: uri, headers: headers)))
    }

    mutating func sendBody(_ buffer: ByteBuffer) async throws {
        try await outbound.write(.body(.byteBuffer(buffer)))
    }

    mutating func sendEnd() async throws {
        try await outbound.write(.end(nil))
    }

    /// After a failed write: the error the inbound side ends with, if any (e.g. the TLS alert that closed
    /// the connection).
    mutating func closingError() async -> (any Error)? {
        do {
            while try await iterator.next() != nil {}
            return nil
        } catch {
            return error
        }
    }

    /// Reads the next response head (skipping 1xx informational responses).
    mutating func readHead() async throws -> HTTPResponseHead {
        while let part = try await iterator.next() {
            switch part {
            case .head(let head) where head.status.code >= 200:
                responsesRead += 1
                return head
            case .head, .body, .end:
                continue
            }
        }
        throw TransferError(.network, "the server closed the connection before answering")
    }

    /// Reads the response body, handing each buffer to `each`.
    mutating func readBody(_ each: (ByteBuffer) async throws -> Void) async throws {
        while let part = try await iterator.next() {
            switch part {
            case .body(let buffer): try await each(buffer)
            case .end: return
            case .head: throw TransferError(.network, "unexpected second response head")
            }
        }
        throw TransferError(.network, "the server closed the connection in the middle of the response")
    }

    /// Collects a small response body (problems, listings), refusing more than `limit` bytes.
    mutating func collectBody(limit: Int = 4 << 20) async throws -> ByteBuffer {
        var collected = ByteBuffer()
        try await readBody { buffer in
            var buffer = buffer
            guard collected.readableBytes + buffer.readableBytes <= limit else {
                throw TransferError(.network, "the server's answer is larger than \(limit) bytes")
            }
            collected.writeBuffer(&buffer)
        }
        return collected
    }

    /// Reads the body of an error response and turns it into a transfer error (exit 3 for 4xx, 5 for 5xx).
    mutating func rejection(_ head: HTTPResponseHead, doing what: String) async throws -> TransferError {
        TransferError.refused(status: Int(head.status.code), problem: try await problem(), doing: what)
    }

    /// Reads a small response body as a problem, if it is one.
    mutating func problem() async throws -> Problem? {
        let body = try await collectBody(limit: 64 << 10)
        return try? JSONDecoder().decode(Problem.self, from: Data(body.readableBytesView))
    }
}
