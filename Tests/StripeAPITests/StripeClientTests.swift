import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import StripeAPI
import Testing

/// A local server that misbehaves on purpose, recording what the client sent.
actor FaultLog {
    var hits: [String: Int] = [:]
    var idempotencyKeys: [String: [String]] = [:]
    var versions: Set<String> = []

    func record(_ path: String, key: String?, version: String?) -> Int {
        hits[path, default: 0] += 1
        if let key { idempotencyKeys[path, default: []].append(key) }
        if let version { versions.insert(version) }
        return hits[path]!
    }
}

func faultServer(_ log: FaultLog) -> some ApplicationProtocol {
    let router = Router()
    let intent =
        #"{"id":"pi_1","object":"payment_intent","amount":1999,"amount_capturable":0,"amount_received":0,"currency":"usd","status":"requires_payment_method","capture_method":"automatic","confirmation_method":"automatic","payment_method_types":["card"],"metadata":{},"created":1,"livemode":false}"#
    @Sendable func json(_ status: HTTPResponse.Status, _ body: String, _ headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        headers[HTTPField.Name("Request-Id")!] = "req_test123"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
    @Sendable func hit(_ request: Request) async -> Int {
        await log.record(
            request.uri.path, key: request.headers[HTTPField.Name("Idempotency-Key")!],
            version: request.headers[HTTPField.Name("Stripe-Version")!])
    }
    router.post("/v1/flaky") { request, _ in
        await hit(request) == 1
            ? json(.internalServerError, #"{"error":{"type":"api_error","message":"boom"}}"#) : json(.ok, intent)
    }
    router.post("/v1/conflict") { request, _ in
        await hit(request) == 1
            ? json(.conflict, #"{"error":{"type":"invalid_request_error","message":"lock"}}"#) : json(.ok, intent)
    }
    router.post("/v1/no-retry") { request, _ in
        _ = await hit(request)
        return json(
            .internalServerError, #"{"error":{"type":"api_error","message":"do not retry"}}"#,
            [HTTPField.Name("Stripe-Should-Retry")!: "false"])
    }
    router.post("/v1/rate-limited") { request, _ in
        _ = await hit(request)
        return json(
            .tooManyRequests, #"{"error":{"type":"invalid_request_error","code":"rate_limit","message":"slow down"}}"#)
    }
    router.post("/v1/rate-limited-retry") { request, _ in
        await hit(request) == 1
            ? json(
                .tooManyRequests,
                #"{"error":{"type":"invalid_request_error","code":"lock_timeout","message":"retry"}}"#,
                [HTTPField.Name("Stripe-Should-Retry")!: "true"])
            : json(.ok, intent)
    }
    router.post("/v1/card") { request, _ in
        _ = await hit(request)
        return json(
            .init(code: 402),
            #"{"error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds","message":"Your card has insufficient funds.","param":"payment_method"}}"#
        )
    }
    router.get("/v1/html") { request, _ in
        _ = await hit(request)
        return Response(
            status: .notFound, headers: [.contentType: "text/html"],
            body: .init(byteBuffer: ByteBuffer(string: "<html>Not Found</html>")))
    }
    router.post("/v1/slow") { request, _ in
        if await hit(request) == 1 { try await Task.sleep(for: .seconds(4)) }
        return json(.ok, intent)
    }
    router.post("/v1/down") { request, _ in
        _ = await hit(request)
        return json(.serviceUnavailable, #"{"error":{"type":"api_error","message":"down"}}"#)
    }
    return Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
}

actor Sleeps {
    var delays: [Double] = []
    func add(_ d: Double) { delays.append(d) }
}

@Suite("Stripe client")
struct StripeClientTests {
    func withClient(timeout: Double = 5, _ body: @Sendable (StripeClient, FaultLog, Sleeps) async throws -> Void)
        async throws
    {
        let log = FaultLog()
        try await faultServer(log).test(.live) { client in
            let sleeps = Sleeps()
            let stripe = StripeClient(
                configuration: .init(
                    secretKey: "sk_test_123", baseURL: "http://127.0.0.1:\(client.port!)", timeout: timeout),
                sleep: { await sleeps.add($0) })
            try await body(stripe, log, sleeps)
        }
    }

    @Test("a 500 then a 200 succeeds, with the same Idempotency-Key on both attempts")
    func retriesWithSameKey() async throws {
        try await withClient { stripe, log, sleeps in
            let intent: PaymentIntent = try await stripe.send(
                .post, "/v1/flaky", params: .object([("amount", .value("1999"))]))
            #expect(intent.id == "pi_1")
            #expect(intent.status == .requiresPaymentMethod)
            let keys = await log.idempotencyKeys["/v1/flaky"] ?? []
            #expect(keys.count == 2)
            #expect(Set(keys).count == 1)
            #expect(await sleeps.delays.count == 1)
            #expect(await log.versions == [StripeConfiguration.pinnedAPIVersion])
        }
    }

    @Test("a given Idempotency-Key is sent as is")
    func givenKey() async throws {
        try await withClient { stripe, log, _ in
            let _: PaymentIntent = try await stripe.send(
                .post, "/v1/flaky", options: .init(idempotencyKey: "payment-42"))
            #expect(await log.idempotencyKeys["/v1/flaky"] == ["payment-42", "payment-42"])
        }
    }

    @Test("409 is retried")
    func conflict() async throws {
        try await withClient { stripe, log, _ in
            let _: PaymentIntent = try await stripe.send(.post, "/v1/conflict")
            #expect(await log.hits["/v1/conflict"] == 2)
        }
    }

    @Test("Stripe-Should-Retry: false stops at once, even on a 500")
    func shouldRetryFalse() async throws {
        try await withClient { stripe, log, _ in
            await #expect(throws: StripeError.self) {
                let _: PaymentIntent = try await stripe.send(.post, "/v1/no-retry")
            }
            #expect(await log.hits["/v1/no-retry"] == 1)
        }
    }

    @Test("429 is not retried unless Stripe-Should-Retry says so")
    func rateLimit() async throws {
        try await withClient { stripe, log, _ in
            await #expect(throws: StripeError.self) {
                let _: PaymentIntent = try await stripe.send(.post, "/v1/rate-limited")
            }
            #expect(await log.hits["/v1/rate-limited"] == 1)
            let _: PaymentIntent = try await stripe.send(.post, "/v1/rate-limited-retry")
            #expect(await log.hits["/v1/rate-limited-retry"] == 2)
        }
    }

    @Test("a 402 card error decodes with its type, code, decline code, param and Request-Id")
    func cardError() async throws {
        try await withClient { stripe, log, _ in
            do {
                let _: PaymentIntent = try await stripe.send(.post, "/v1/card")
                Issue.record("expected an error")
            } catch let error as StripeError {
                #expect(error.httpStatus == 402)
                #expect(error.type == "card_error")
                #expect(error.code == "card_declined")
                #expect(error.declineCode == "insufficient_funds")
                #expect(error.param == "payment_method")
                #expect(error.requestId == "req_test123")
                #expect(error.message == "Your card has insufficient funds.")
            }
            #expect(await log.hits["/v1/card"] == 1)
        }
    }

    @Test("a 404 that is not JSON gives a clear error with the raw body")
    func nonJSON() async throws {
        try await withClient { stripe, _, _ in
            do {
                let _: PaymentIntent = try await stripe.send(.get, "/v1/html")
                Issue.record("expected an error")
            } catch let error as StripeError {
                #expect(error.httpStatus == 404)
                #expect(error.rawBody == "<html>Not Found</html>")
                #expect(error.message.contains("not Stripe's JSON"))
            }
        }
    }

    @Test("a timed-out attempt is retried")
    func timeout() async throws {
        try await withClient(timeout: 1.5) { stripe, log, _ in
            let intent: PaymentIntent = try await stripe.send(.post, "/v1/slow")
            #expect(intent.id == "pi_1")
            #expect(await log.hits["/v1/slow"] == 2)
            let keys = await log.idempotencyKeys["/v1/slow"] ?? []
            #expect(Set(keys).count == 1)
        }
    }

    @Test("retries stop after maxNetworkRetries, backing off 0.5 s then 1 s")
    func givesUp() async throws {
        try await withClient { stripe, log, sleeps in
            await #expect(throws: StripeError.self) { let _: PaymentIntent = try await stripe.send(.post, "/v1/down") }
            #expect(await log.hits["/v1/down"] == 3)
            let delays = await sleeps.delays
            #expect(delays.count == 2)
            #expect((0.375...0.5).contains(delays[0]))
            #expect((0.75...1.0).contains(delays[1]))
        }
    }

    @Test("no server at all is a connection error after the retries")
    func connectionRefused() async throws {
        let sleeps = Sleeps()
        let stripe = StripeClient(
            configuration: .init(secretKey: "sk_test_1", baseURL: "http://127.0.0.1:1", timeout: 1),
            sleep: { await sleeps.add($0) })
        do {
            let _: PaymentIntent = try await stripe.send(.post, "/v1/payment_intents")
            Issue.record("expected an error")
        } catch let error as StripeError {
            #expect(error.kind == .connection)
        }
        #expect(await sleeps.delays.count == 2)
    }

    @Test("backoff doubles from 0.5 s and is capped at 5 s")
    func backoff() {
        let config = StripeConfiguration(secretKey: "sk_test_1")
        #expect(config.retryDelay(attempt: 1, jitter: 1) == 0.5)
        #expect(config.retryDelay(attempt: 2, jitter: 1) == 1)
        #expect(config.retryDelay(attempt: 4, jitter: 1) == 4)
        #expect(config.retryDelay(attempt: 5, jitter: 1) == 5)
        #expect(config.retryDelay(attempt: 30, jitter: 1) == 5)
        #expect(config.retryDelay(attempt: 1, jitter: 0.75) == 0.375)
    }
}
