import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Talks to Stripe (or the emulator): form-encoded requests, JSON answers, Stripe's retry rules.
public struct StripeClient: Sendable {
    public enum Method: String, Sendable {
        case get = "GET"
        case post = "POST"
        case delete = "DELETE"
    }

    public let configuration: StripeConfiguration
    private let transport: StripeTransport
    private let logger: Logger
    /// Waits between retries; tests pass one that does not sleep.
    private let sleep: @Sendable (Double) async throws -> Void

    public init(
        configuration: StripeConfiguration, httpClient: HTTPClient = .shared, logger: Logger = Logger(label: "stripe"),
        sleep: @escaping @Sendable (Double) async throws -> Void = { try await Task.sleep(for: .seconds($0)) }
    ) {
        self.init(configuration: configuration, transport: .http(httpClient), logger: logger, sleep: sleep)
    }

    public init(
        configuration: StripeConfiguration, transport: StripeTransport, logger: Logger = Logger(label: "stripe"),
        sleep: @escaping @Sendable (Double) async throws -> Void = { try await Task.sleep(for: .seconds($0)) }
    ) {
        self.configuration = configuration
        self.transport = transport
        self.logger = logger
        self.sleep = sleep
    }

    /// Sends one API call, retrying what Stripe says may be retried: connection failures and timeouts, 409, 5xx, and
    /// any answer with `Stripe-Should-Retry: true` (never other 4xx, so a 429 only when that header says so).
    /// Every attempt of a POST carries the same `Idempotency-Key`.
    public func send<Response: Decodable>(
        _ method: Method, _ path: String, params: FormNode? = nil, options: RequestOptions = .init(),
        as type: Response.Type = Response.self
    ) async throws(StripeError) -> Response {
        var url = configuration.baseURL + path
        let form = params.map(FormEncoding.encode) ?? ""
        if method != .post, !form.isEmpty { url += (url.contains("?") ? "&" : "?") + form }

        var request = StripeTransport.Request(
            method: method.rawValue, url: url, headers: [:], body: nil, timeout: configuration.timeout)
        request.headers.add(name: "Authorization", value: "Bearer \(configuration.secretKey)")
        request.headers.add(name: "Stripe-Version", value: configuration.apiVersion)
        request.headers.add(name: "User-Agent", value: "Till/1 StripeAPI")
        if let account = options.stripeAccount { request.headers.add(name: "Stripe-Account", value: account) }
        if method == .post {
            let key = options.idempotencyKey ?? "till-" + UUID().uuidString.lowercased()
            request.headers.add(name: "Idempotency-Key", value: key)
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.body = ByteBuffer(string: form)
        }

        var attempt = 0
        while true {
            attempt += 1
            let retriesLeft = attempt <= configuration.maxNetworkRetries
            let response: StripeTransport.Response
            do {
                response = try await transport.send(request)
            } catch {
                if error is CancellationError {
                    throw StripeError(kind: .connection, httpStatus: 0, message: "cancelled")
                }
                let failure = StripeError(kind: .connection, httpStatus: 0, message: "Could not reach Stripe: \(error)")
                guard retriesLeft else { throw failure }
                logger.warning(
                    "stripe request failed; retrying", metadata: ["stripe.path": "\(path)", "attempt": "\(attempt)"])
                try await pause(attempt)
                continue
            }
            let status = response.status
            let body = response.body
            let requestId = response.headers.first(name: "Request-Id")
            if (200..<300).contains(status) {
                do {
                    return try StripeJSON.decoder().decode(Response.self, from: Data(body.readableBytesView))
                } catch {
                    throw StripeError(
                        httpStatus: status, message: "Could not decode Stripe's answer: \(error)", requestId: requestId)
                }
            }
            let failure = Self.error(status: status, body: body, requestId: requestId)
            let shouldRetry: Bool =
                switch response.headers.first(name: "Stripe-Should-Retry") {
                case "true": true
                case "false": false
                default: status == 409 || status >= 500
                }
            guard shouldRetry, retriesLeft else { throw failure }
            logger.warning(
                "stripe answered an error; retrying",
                metadata: [
                    "stripe.path": "\(path)", "http.status": "\(status)", "stripe.request_id": "\(requestId ?? "")",
                ])
            try await pause(attempt)
        }
    }

    private func pause(_ attempt: Int) async throws(StripeError) {
        do { try await sleep(configuration.retryDelay(attempt: attempt)) } catch {
            throw StripeError(kind: .connection, httpStatus: 0, message: "cancelled")
        }
    }

    static func error(status: Int, body: ByteBuffer, requestId: String?) -> StripeError {
        let data = Data(body.readableBytesView)
        if let parsed = try? StripeJSON.decoder().decode(StripeError.Body.self, from: data) {
            let e = parsed.error
            return StripeError(
                httpStatus: status, type: e.type, code: e.code, declineCode: e.declineCode, param: e.param,
                message: e.message ?? "Stripe answered \(status)", requestId: requestId)
        }
        let text = String(decoding: data.prefix(2000), as: UTF8.self)
        return StripeError(
            httpStatus: status, message: "Stripe answered \(status) with a body that is not Stripe's JSON error",
            requestId: requestId, rawBody: text)
    }
}
