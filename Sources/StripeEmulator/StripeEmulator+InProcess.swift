import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import StripeAPI
import Synchronization

extension StripeEmulator {
    /// A transport for a `StripeClient` in the process that serves this emulator: each call goes through the
    /// emulator's own routes (the same handlers, keys, idempotency, faults and latency as over HTTP) without a socket.
    /// A call is timed out like an HTTP one, and an answer that breaks off midway (the `reset` fault) throws, as a
    /// dropped connection does. URLs outside `configuration.baseURL` are refused: they are not this emulator's.
    public func inProcessTransport() -> StripeTransport {
        let router = Router(context: InProcessContext.self)
        router.add(middleware: unrecognizedURLs(context: InProcessContext.self))
        addRoutes(to: router)
        let responder = router.buildResponder()
        let base = configuration.baseURL
        let logger = logger
        return StripeTransport { request in
            guard request.url.hasPrefix(base + "/"), let method = HTTPRequest.Method(request.method) else {
                throw InProcessCallError("\(request.method) \(request.url) is not a call to this emulator")
            }
            var fields = HTTPFields()
            for (name, value) in request.headers {
                if let name = HTTPField.Name(name) { fields.append(HTTPField(name: name, value: value)) }
            }
            let call = Request(
                head: HTTPRequest(
                    method: method, scheme: "http", authority: "stripe-emulator",
                    path: String(request.url.dropFirst(base.count)), headerFields: fields),
                body: RequestBody(buffer: request.body ?? ByteBuffer()))
            return try await withThrowingTaskGroup(of: StripeTransport.Response.self) { group in
                group.addTask {
                    let response: Response
                    do {
                        response = try await responder.respond(
                            to: call, context: InProcessContext(source: .init(logger: logger)))
                    } catch let error as HTTPError {
                        return .init(status: Int(error.status.code), headers: [:], body: ByteBuffer())
                    }
                    var headers = HTTPHeaders()
                    for field in response.headers { headers.add(name: field.name.rawName, value: field.value) }
                    let collected = Collected()
                    try await response.body.write(Collector(into: collected))
                    return .init(
                        status: Int(response.status.code), headers: headers,
                        body: collected.buffer.withLock { $0 })
                }
                group.addTask {
                    try await Task.sleep(for: .milliseconds(Int64(request.timeout * 1000)))
                    throw InProcessCallError("no answer within \(request.timeout) s")
                }
                defer { group.cancelAll() }
                guard let first = try await group.next() else { throw CancellationError() }
                return first
            }
        }
    }
}

/// The context of a request made in the process: no channel, only a logger.
struct InProcessContext: RequestContext {
    struct Source: RequestContextSource {
        let logger: Logger
    }

    var coreContext: CoreRequestContextStorage

    init(source: Source) {
        coreContext = .init(source: source)
    }
}

struct InProcessCallError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}

/// Where a response body is gathered: the writer is consumed by `ResponseBody.write`, so it writes into a box.
private final class Collected: Sendable {
    let buffer = Mutex(ByteBuffer())
}

private struct Collector: ResponseBodyWriter {
    let into: Collected

    mutating func write(_ buffer: ByteBuffer) async throws {
        into.buffer.withLock { collected in
            var buffer = buffer
            collected.writeBuffer(&buffer)
        }
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
}
