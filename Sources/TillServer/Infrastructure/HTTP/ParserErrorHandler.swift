import Hummingbird
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import TillCore

/// Answers a request that NIO's HTTP parser refused before its head (headers over the parser's limits, a malformed
/// request line) in the contract's shape, 400 `invalid_request`, and closes the connection. Hummingbird's own answer
/// to these has no body. Answers still owed on the connection go out first; a parser error inside a body
/// Hummingbird is still reading is left to it (the body's reader answers 400 `invalid_request`).
///
/// It also closes a connection after answering a request the parser reads no further than (`Upgrade`, `CONNECT`):
/// without it, a request sent after one of those on the connection waited for an answer until the idle timeout.
final class ParserErrorHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// Requests whose head came in, and answers that ended, since the connection opened.
    private var received = 0
    private var answered = 0
    /// A request's head came in and its end not yet.
    private var inRequest = false
    /// The connection ends after the answer to this request (counted from 1): it asked for it, or the parser stops
    /// after it. Answers to the requests before it keep the connection.
    private var closeAfter: Int?
    private var refused: HTTPParserError?
    /// The parser refused a body Hummingbird was given; an answer beyond those owed is then Hummingbird's own bare
    /// 400 for it, sent once the request was answered, and is dropped (the connection closes instead).
    private var bodyRefused = false
    private var dropping = false

    private var owed: Int { received - answered }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            received += 1
            inRequest = true
            let connection = head.headerFields[.connection]?.lowercased() ?? ""
            if closeAfter == nil,
                head.method == .connect || head.headerFields[.upgrade] != nil || connection.contains("close")
            {
                closeAfter = received
            }
        case .end: inRequest = false
        case .body: break
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let part = unwrapOutboundIn(data)
        if case .head = part, bodyRefused, owed == 0 { dropping = true }
        if let last = closeAfter, answered >= last { dropping = true }
        if dropping {
            promise?.succeed(())
            if case .end = part { context.close(promise: nil) }
            return
        }
        switch part {
        case .head(var head) where head.status.kind != .informational && answered + 1 >= closeAfter ?? .max:
            head.headerFields[.connection] = "close"
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .end:
            answered += 1
            if let last = closeAfter, answered >= last {
                context.writeThenClose(data, promise: promise)
            } else {
                context.write(data, promise: promise)
                if refused != nil, owed == 0 { refuse(context: context) }
            }
        default:
            context.write(data, promise: promise)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let error = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        if inRequest {
            // Hummingbird is reading that body: its reader answers. Once answered, nobody reads it any more.
            if owed > 0 {
                bodyRefused = true
                context.fireErrorCaught(error)
            } else {
                context.close(promise: nil)
            }
            return
        }
        guard refused == nil else { return }
        refused = error
        if owed == 0 {
            if closeAfter != nil { context.close(promise: nil) } else { refuse(context: context) }
        }
    }

    private func refuse(context: ChannelHandlerContext) {
        let error = TillError.invalid(
            refused == .headerOverflow
                ? "The request's headers are over the limit (80 KB, or too many fields)."
                : "The request is not valid HTTP/1.1.")
        let body = ByteBuffer(bytes: ErrorMiddleware.body(error))
        var head = HTTPResponse(status: .init(code: error.code.httpStatus))
        head.headerFields[.contentType] = "application/json; charset=utf-8"
        head.headerFields[.contentLength] = String(body.readableBytes)
        head.headerFields[.connection] = "close"
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}
