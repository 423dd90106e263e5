import FerryQueue
public import Foundation
import NIOCore
public import NIOHTTP1
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// The control socket's checks, shared by the daemon (which makes it) and the commands (which connect to it).
public enum ControlSocket {
    /// A Unix socket path holds at most 107 bytes.
    public static func checkPath(_ path: String) throws {
        guard path.utf8.count <= 107 else {
            throw QueueDaemonError(
                "the control socket path \(path) is \(path.utf8.count) bytes, and a Unix socket path holds at most 107: set queue.control-socket to a shorter path"
            )
        }
    }

    /// Before the daemon binds: the socket's folder exists (created 0700), belongs to this user and is closed to
    /// others' writes (in a folder anyone can write to, someone else could put their own socket in its place).
    static func prepare(_ path: String) throws {
        try checkPath(path)
        let folder = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(
            atPath: folder.isEmpty ? "." : folder,
            withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700]
        )
        guard let info = try? FileManager.default.attributesOfItem(atPath: folder.isEmpty ? "." : folder),
            let owner = (info[.ownerAccountID] as? NSNumber)?.uint32Value,
            let mode = (info[.posixPermissions] as? NSNumber)?.intValue
        else {
            throw QueueDaemonError("cannot read the control socket's folder \(folder)")
        }
        guard owner == geteuid() else {
            throw QueueDaemonError(
                "the control socket's folder \(folder) belongs to uid \(owner), not to this daemon's user (uid \(geteuid())): set queue.control-socket to a path in a folder of yours"
            )
        }
        guard mode & 0o022 == 0 else {
            throw QueueDaemonError(
                "the control socket's folder \(folder) can be written by others (mode \(String(mode & 0o777, radix: 8))): run chmod go-w on it, or set queue.control-socket to a path in a folder only you can write"
            )
        }
    }
}

/// The commands' side of the control socket: one HTTP/1.1 request per connection, JSON both ways.
public struct ControlClient: Sendable {
    public let socketPath: String

    public init(socketPath: String) {
        self.socketPath = socketPath
    }

    /// A request the daemon refused, or no daemon to ask.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        /// The HTTP status, or `nil` when no daemon answered.
        public let status: Int?
        public let description: String

        public init(status: Int?, description: String) {
            self.status = status
            self.description = description
        }
    }

    /// Sends a request and decodes the answer.
    public func call<Answer: Decodable>(
        _ method: HTTPMethod,
        _ path: String,
        body: (some Encodable)? = nil as String?,
        as: Answer.Type
    ) async throws -> Answer {
        let (status, data) = try await send(method, path, body: body.map { try ControlAPI.encoder().encode($0) })
        guard (200..<300).contains(status) else {
            let message =
                (try? ControlAPI.decoder().decode(ControlProblem.self, from: data))?.error
                ?? String(decoding: data.prefix(300), as: UTF8.self)
            throw Failure(status: status, description: message)
        }
        if Answer.self == Empty.self { return Empty() as! Answer }
        do {
            return try ControlAPI.decoder().decode(Answer.self, from: data)
        } catch {
            throw Failure(status: status, description: "the daemon's answer could not be read: \(error)")
        }
    }

    /// An answer with nothing to decode.
    public struct Empty: Decodable, Sendable {}

    private func send(_ method: HTTPMethod, _ path: String, body: Data?) async throws -> (Int, Data) {
        try checkOwner()
        let channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(unixDomainSocketPath: socketPath) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(
                            wrappingChannelSynchronously: channel
                        )
                    }
                }
        } catch {
            throw Failure(
                status: nil,
                description:
                    "no ferry daemon answers on \(socketPath) (\(error)): start one with `ferry serve` (or `ferry serve --no-listen` on a site that only sends), with the same root or queue.control-socket as this command"
            )
        }
        do {
            return try await exchange(channel, method, path, body: body)
        } catch let failure as Failure {
            throw failure
        } catch {
            // A daemon killed or restarted mid-answer resets the connection: unreachable for now, like one that
            // is not running (`queue add --wait` keeps waiting across a restart), not an answer.
            throw Failure(status: nil, description: "the connection to the daemon broke before it answered (\(error))")
        }
    }

    private func exchange(
        _ channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>,
        _ method: HTTPMethod,
        _ path: String,
        body: Data?
    ) async throws -> (Int, Data) {
        try await channel.executeThenClose { inbound, outbound in
            var head = HTTPRequestHead(version: .http1_1, method: method, uri: path)
            head.headers.add(name: "Host", value: "ferry")
            head.headers.add(name: "Connection", value: "close")
            if let body {
                head.headers.add(name: "Content-Type", value: "application/json")
                head.headers.add(name: "Content-Length", value: String(body.count))
            } else if method == .POST {
                head.headers.add(name: "Content-Length", value: "0")
            }
            // The whole request in one write: the daemon may answer a request without a body as soon as it has its
            // head, and close (Connection: close) before a separate write of the end, which would then fail.
            var parts: [HTTPClientRequestPart] = [.head(head)]
            if let body { parts.append(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
            parts.append(.end(nil))
            try await outbound.write(contentsOf: parts)
            var status = 0
            var data = Data()
            for try await part in inbound {
                switch part {
                case .head(let response): status = Int(response.status.code)
                case .body(let buffer):
                    guard data.count + buffer.readableBytes <= 64 << 20 else {
                        throw Failure(status: status, description: "the daemon's answer is larger than 64 MiB")
                    }
                    data.append(contentsOf: buffer.readableBytesView)
                case .end: return (status, data)
                }
            }
            throw Failure(status: nil, description: "the daemon closed the connection before it answered")
        }
    }

    /// The socket must be this user's: a socket someone else made in its place would see what is queued and could
    /// answer anything.
    func checkOwner() throws {
        try ControlSocket.checkPath(socketPath)
        guard let info = try? FileManager.default.attributesOfItem(atPath: socketPath) else {
            throw Failure(
                status: nil,
                description:
                    "no ferry daemon runs here (no control socket at \(socketPath)): start one with `ferry serve` (or `ferry serve --no-listen` on a site that only sends), with the same root or queue.control-socket as this command"
            )
        }
        guard info[.type] as? FileAttributeType == .typeSocket else {
            throw Failure(status: nil, description: "\(socketPath) is not a socket: is queue.control-socket right?")
        }
        let me = geteuid()
        let owner = (info[.ownerAccountID] as? NSNumber)?.uint32Value
        guard owner == me || me == 0 else {
            throw Failure(
                status: nil,
                description:
                    "the control socket \(socketPath) belongs to uid \(owner.map(String.init) ?? "?"), not to you (uid \(me)): it is not your daemon; refusing to talk to it"
            )
        }
    }
}
