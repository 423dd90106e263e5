import FerryConfig
import FerryProtocol
import FerryTLS
import FerryTrace
import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Answers `Expect: 100-continue` (curl sends it for every upload over 1 MiB and then waits a second for it):
/// `100 Continue` at once when the request head passes the checks that need no body — a partner for the
/// certificate, the write right on the target, the size limit, room on the disk. Otherwise it sends nothing, and
/// the route answers with the final refusal (401, 403, 413, 507, a quota) before reading a byte of the body, so the client
/// never sends a body that would be refused.
final class ExpectContinueHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// Whether the request head may go on (nothing is refused by this; the route does that).
    let mayContinue: @Sendable (HTTPRequest, any Channel) -> Bool

    init(mayContinue: @escaping @Sendable (HTTPRequest, any Channel) -> Bool) {
        self.mayContinue = mayContinue
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let request) = Self.unwrapInboundIn(data),
            request.headerFields[.expect]?.lowercased() == "100-continue",
            mayContinue(request, context.channel)
        {
            context.writeAndFlush(Self.wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
        }
        context.fireChannelRead(data)
    }
}

@available(*, unavailable)
extension ExpectContinueHandler: Sendable {}

extension FileRoutes {
    /// The checks of an upload that need no body: partner, write right, size, free space, the partner's quota (as
    /// far as it is already counted).
    static func mayContinue(
        _ request: HTTPRequest,
        channel: any Channel,
        policy: AccessPolicy,
        store: FileStore<Storage>
    ) -> Bool {
        guard let path = request.path, request.method == .put || request.method == .post || request.method == .patch,
            let record = FerryRequestContext.registry.record(for: channel)
        else { return false }
        let snapshot = record.snapshot
        guard let der = snapshot.peerCertificateDER, let identity = PeerIdentity.cached(derEncoded: der),
            case .success(let partner) = policy.partnerName(for: identity, chain: snapshot.verifiedChainDER, log: false)
        else { return false }
        let length = request.headerFields[.contentLength].flatMap { Int64($0) }
        if let length {
            guard length <= store.maximumSize else { return false }
            if let free = store.storage.freeBytes(), free < length { return false }
        }
        let plain = path.split(separator: "?", maxSplits: 1).first.map(String.init) ?? path
        if plain.hasPrefix(prefix + "/") || plain == prefix {
            guard let partnerPath = try? PartnerPath(encoded: plain.dropFirst(min(plain.count, prefix.count + 1)))
            else { return false }
            let target = policy.resolve(partnerPath, partner: partner)
            return target.rights.contains(.write) && store.quotas.mightFit(target, caller: partner, bytes: length ?? 0)
        }
        // A resumable upload's PATCH: the route checks that the upload is this partner's.
        return plain.hasPrefix(FerryAPI.uploads + "/")
    }
}
