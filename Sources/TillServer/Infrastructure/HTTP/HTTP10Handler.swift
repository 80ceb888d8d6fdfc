import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// HTTP/1.0 for clients that still speak it (ApacheBench, some load balancers' health checks, old proxies).
///
/// Hummingbird reads requests through `HTTPTypes`, which has no protocol version, so an HTTP/1.0 request was
/// answered as HTTP/1.1 and its connection kept open: the client, which reads the body until the connection closes,
/// waited for the idle timeout. This handler sits before that conversion, where the version is still known:
/// - a request without `Connection: keep-alive` gets `Connection: close`, so Hummingbird closes the connection after
///   answering it, as HTTP/1.0 expects, and the answer says so;
/// - the answer goes out as HTTP/1.0 (so its body is never chunked, which HTTP/1.0 lacks), and one to a keep-alive
///   request says `Connection: keep-alive` when it has a length, or closes the connection when it has none.
public final class HTTP10Handler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPServerRequestPart
    public typealias InboundOut = HTTPServerRequestPart
    public typealias OutboundIn = HTTPServerResponsePart
    public typealias OutboundOut = HTTPServerResponsePart

    /// For each request read and not yet answered, in order: nil for HTTP/1.1, else whether it asked to keep alive.
    private var pending: [Bool?] = []
    /// The answer being written ends the connection (an HTTP/1.0 answer without a length).
    private var closeAfterAnswer = false

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(var head) = unwrapInboundIn(data) else {
            context.fireChannelRead(data)
            return
        }
        guard head.version.major == 1, head.version.minor == 0 else {
            pending.append(nil)
            context.fireChannelRead(data)
            return
        }
        let keepAlive = head.isKeepAlive
        pending.append(keepAlive)
        if !keepAlive { head.headers.replaceOrAdd(name: "connection", value: "close") }
        context.fireChannelRead(wrapInboundOut(.head(head)))
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head) where head.status.code >= 200:
            guard !pending.isEmpty, let keepAlive = pending.removeFirst() else { break }
            head.version = .http1_0
            let closes = head.headers[canonicalForm: "connection"].contains { $0.lowercased() == "close" }
            if keepAlive && !closes && head.headers.contains(name: "content-length") {
                head.headers.replaceOrAdd(name: "Connection", value: "keep-alive")
            } else if !closes {
                head.headers.replaceOrAdd(name: "Connection", value: "close")
                // Hummingbird closes after answering a request that said close; this one did not.
                closeAfterAnswer = keepAlive
            }
            context.write(wrapOutboundOut(.head(head)), promise: promise)
            return
        case .end where closeAfterAnswer:
            closeAfterAnswer = false
            context.writeThenClose(data, promise: promise)
            return
        default: break
        }
        context.write(data, promise: promise)
    }

    /// Puts an `HTTP10Handler` on the HTTP/1 side of Hummingbird's pipeline, ahead of its conversion to `HTTPTypes`,
    /// which Hummingbird's `additionalChannelHandlers` come after. Give it as one of those.
    public final class Installer: ChannelInboundHandler, RemovableChannelHandler {
        public typealias InboundIn = HTTPRequestPart

        public init() {}

        public func handlerAdded(context: ChannelHandlerContext) {
            let pipeline = context.pipeline.syncOperations
            if let codec = try? pipeline.context(handlerType: HTTP1ToHTTPServerCodec.self) {
                try? pipeline.addHandler(HTTP10Handler(), position: .before(codec.handler))
            }
            pipeline.removeHandler(context: context, promise: nil)
        }
    }
}

extension ChannelHandlerContext {
    /// Writes the last part of an answer and closes the connection once it is written.
    func writeThenClose(_ data: NIOAny, promise: EventLoopPromise<Void>?) {
        let written = eventLoop.makePromise(of: Void.self)
        let channel = channel
        written.futureResult.whenComplete { result in
            promise?.completeWith(result)
            channel.close(promise: nil)
        }
        write(data, promise: written)
    }
}
