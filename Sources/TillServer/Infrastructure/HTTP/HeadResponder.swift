import Hummingbird

/// HEAD is GET without the body (RFC 9110, 9.3.2): load balancers' health checks and link checkers send it, and
/// Hummingbird's router knows only the methods routes are registered for. It wraps the router's responder, because
/// the route is chosen before any middleware runs.
struct HeadResponder<Inner: HTTPResponder>: HTTPResponder {
    typealias Context = Inner.Context
    let inner: Inner

    init(_ inner: Inner) { self.inner = inner }

    func respond(to request: Request, context: Context) async throws -> Response {
        guard request.method == .head else { return try await inner.respond(to: request, context: context) }
        var head = request.head
        head.method = .get
        var response = try await inner.respond(to: Request(head: head, body: request.body), context: context)
        // The length GET would send, as RFC 9110 asks; the body itself is never written.
        let length = response.body.contentLength
        response.body = ResponseBody()
        if let length { response.headers[.contentLength] = String(length) }
        return response
    }
}
