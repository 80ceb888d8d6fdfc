import Hummingbird
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Answers a request that NIO's HTTP parser refused before its head (headers over the parser's 80 KB, a malformed
/// request line) in the contract's shape, 400 `invalid_request`, and closes the connection. Hummingbird's own answer
/// to these has no body. Answers still owed on the connection go out first; a parser error inside a request's body
/// is left to Hummingbird, which is reading that body.
final class ParserErrorHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// Requests whose head came in and whose answer has not ended.
    private var owed = 0
    /// A request's head came in and its end not yet.
    private var inRequest = false
    private var refusing = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            owed += 1
            inRequest = true
        case .end: inRequest = false
        case .body: break
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let ends: Bool
        if case .end = unwrapOutboundIn(data) { ends = true } else { ends = false }
        context.write(data, promise: promise)
        if ends {
            owed = max(owed - 1, 0)
            if refusing, owed == 0 { refuse(context: context) }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard error is HTTPParserError, !inRequest else {
            context.fireErrorCaught(error)
            return
        }
        guard !refusing else { return }
        refusing = true
        if owed == 0 { refuse(context: context) }
    }

    private func refuse(context: ChannelHandlerContext) {
        let body = ByteBuffer(
            string:
                #"{"error":{"code":"invalid_request","message":"The request is not valid HTTP/1.1, or its headers are over 80 KB."}}"#
        )
        var head = HTTPResponse(status: .badRequest)
        head.headerFields[.contentType] = "application/json"
        head.headerFields[.contentLength] = String(body.readableBytes)
        head.headerFields[.connection] = "close"
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}
