import AsyncHTTPClient
import NIOCore
import NIOHTTP1

/// How one attempt of an API call reaches Stripe: over HTTP (`http`), or straight into an emulator in the same
/// process (`StripeEmulator.inProcessTransport()`), which spares the call the socket, the HTTP parsing on both ends
/// and the server's middleware while it keeps everything `StripeClient` does around it (the form, the headers, the
/// retries, the errors) and everything the emulator does with a request (keys, idempotency, faults, latency).
public struct StripeTransport: Sendable {
    public struct Request: Sendable {
        public var method: String
        /// The whole URL, query included.
        public var url: String
        public var headers: HTTPHeaders
        public var body: ByteBuffer?
        /// Time allowed for the attempt, in seconds.
        public var timeout: Double

        public init(method: String, url: String, headers: HTTPHeaders = [:], body: ByteBuffer? = nil, timeout: Double) {
            self.method = method
            self.url = url
            self.headers = headers
            self.body = body
            self.timeout = timeout
        }
    }

    public struct Response: Sendable {
        public var status: Int
        public var headers: HTTPHeaders
        public var body: ByteBuffer

        public init(status: Int, headers: HTTPHeaders, body: ByteBuffer) {
            self.status = status
            self.headers = headers
            self.body = body
        }
    }

    /// Throws when no complete answer came (no connection, a timeout, a connection dropped mid-answer): the client
    /// treats that as a network failure, which it retries.
    public let send: @Sendable (Request) async throws -> Response

    public init(send: @escaping @Sendable (Request) async throws -> Response) {
        self.send = send
    }

    /// Over HTTP with AsyncHTTPClient: Stripe itself, or an emulator served elsewhere.
    public static func http(_ client: HTTPClient) -> StripeTransport {
        StripeTransport { request in
            var outgoing = HTTPClientRequest(url: request.url)
            outgoing.method = HTTPMethod(rawValue: request.method)
            outgoing.headers = request.headers
            if let body = request.body { outgoing.body = .bytes(body) }
            let response = try await client.execute(outgoing, timeout: .milliseconds(Int64(request.timeout * 1000)))
            let body = try await response.body.collect(upTo: 16 * 1024 * 1024)
            return Response(status: Int(response.status.code), headers: response.headers, body: body)
        }
    }
}
