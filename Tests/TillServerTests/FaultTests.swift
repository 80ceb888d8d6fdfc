import Foundation
import Testing

@_spi(Bench) @testable import TillServer

/// Stripe misbehaving, through the emulator's fault switches: Till retries with the same Idempotency-Key, never makes
/// a second session or refund, answers 502 `stripe_error` when Stripe stays down, and ends every order right when
/// webhooks are dropped, duplicated, delayed or reordered.
@Suite("Stripe faults")
struct FaultTests {
    func sessions(_ api: API) async throws -> Int {
        try await api.stripe(.get, "/v1/checkout/sessions", form: "limit=100").data.count
    }

    @Test("a 500 while creating a session is retried: one session, 201", arguments: Backend.available)
    func retried500(backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let (user, _, _, order) = try await api.orderSetup()
            try await api.fault(#"{"target":"api","path":"/v1/checkout/sessions","mode":"500","count":1}"#)
            let checkout = try await api.call(.post, "/api/orders/\(order.string("id"))/checkout", token: user)
            #expect(checkout.status == 201)
            #expect(try await api.armedFaults() == 0)  // the 500 was served, and retried past
            #expect(try await sessions(api) == 1)
        }
    }

    @Test(
        "a session made under Till's key with other parameters (another instance's URLs) is not refused away: the payment stays and is paid by it",
        arguments: Backend.available)
    func keyUsedElsewhere(backend: Backend) async throws {
        try await withTill(backend, configure: { $0.stripeMaxNetworkRetries = 0 }) { api, _ in
            let (user, _, _, order) = try await api.orderSetup()
            let orderId = order.string("id")
            try await api.fault(#"{"target":"api","path":"/v1/checkout/sessions","mode":"500","count":1}"#)
            #expect(try await api.call(.post, "/api/orders/\(orderId)/checkout", token: user).status == 502)
            let paymentId = try #require(
                (try await api.call(.get, "/api/orders/\(orderId)/payment", token: user)["payments"] as? [[String: Any]])?
                    .first?["id"] as? String)
            // Another instance, whose PUBLIC_BASE_URL differs, made the session under the same key meanwhile.
            let elsewhere = try await api.stripe(
                .post, "/v1/checkout/sessions",
                form: "mode=payment&success_url=http%3A%2F%2Fother.test%2Fok&line_items[0][price_data][currency]=usd"
                    + "&line_items[0][price_data][unit_amount]=3998&line_items[0][price_data][product_data][name]=Tea"
                    + "&line_items[0][quantity]=1&metadata[orderId]=\(orderId)&metadata[paymentId]=\(paymentId)",
                idempotencyKey: "till-checkout-\(paymentId)")
            let sessionId = elsewhere.string("id")
            // This instance's retry meets Stripe's idempotency_error: not a refusal, the payment is kept.
            let retry = try await api.call(.post, "/api/orders/\(orderId)/checkout", token: user)
            #expect(retry.status == 502, "\(retry.text)")
            #expect(try await api.payment(user, paymentId).string("status") == "INITIATED")
            #expect(try await api.orderStatus(user, orderId) == "PENDING")
            // The session the other instance handed out is paid: this payment, this order.
            _ = try await api.pay(session: sessionId)
            try await api.waitForOrder(user, orderId, toBe: "PAID")
            #expect(try await api.payment(user, paymentId).string("status") == "SUCCEEDED")
        }
    }

    @Test(
        "Stripe down: 502 stripe_error; the retry later reuses the payment and makes one session",
        arguments: Backend.available)
    func stripeDown(backend: Backend) async throws {
        try await withTill(backend, configure: { $0.stripeMaxNetworkRetries = 1 }) { api, _ in
            let (user, _, _, order) = try await api.orderSetup()
            let orderId = order.string("id")
            try await api.fault(#"{"target":"api","path":"/v1/checkout/sessions","mode":"500","count":2}"#)
            let down = try await api.call(.post, "/api/orders/\(orderId)/checkout", token: user)
            #expect(down.status == 502)
            #expect(down.errorCode == "stripe_error")
            try await api.fault(#"{"target":"api","path":"/v1/checkout/sessions","mode":"429","count":1}"#)
            let limited = try await api.call(.post, "/api/orders/\(orderId)/checkout", token: user)
            #expect(limited.status == 502)  // 429 without Stripe-Should-Retry is not retried
            let up = try await api.call(.post, "/api/orders/\(orderId)/checkout", token: user)
            #expect(up.status == 201)
            #expect(try await sessions(api) == 1)
            let payments = try await api.call(.get, "/api/orders/\(orderId)/payment", token: user)
            #expect((payments["payments"] as? [Any])?.count == 1)
        }
    }

    @Test("a hung request times out and is retried", arguments: Backend.available)
    func hang(backend: Backend) async throws {
        try await withTill(backend, configure: { $0.stripeTimeoutSeconds = 0.5 }) { api, _ in
            let (user, _, _, order) = try await api.orderSetup()
            try await api.fault(
                #"{"target":"api","path":"/v1/payment_intents","mode":"hang","count":1,"hangSeconds":2}"#)
            let intent = try await api.call(.post, "/api/orders/\(order.string("id"))/payment-intent", token: user)
            #expect(intent.status == 201)
            #expect(try await api.armedFaults() == 0)
            #expect(try await api.stripe(.get, "/v1/payment_intents", form: "limit=100").data.count == 1)
        }
    }

    @Test("a connection reset mid-answer is retried with the same key: one session", arguments: Backend.available)
    func reset(backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let (user, _, _, order) = try await api.orderSetup()
            try await api.fault(#"{"target":"api","path":"/v1/checkout/sessions","mode":"reset","count":1}"#)
            let checkout = try await api.call(.post, "/api/orders/\(order.string("id"))/checkout", token: user)
            #expect(checkout.status == 201)
            #expect(try await api.armedFaults() == 0)
            #expect(try await sessions(api) == 1)
        }
    }

    @Test(
        "a session made at Stripe whose answer was lost is the one a later retry gets, not a refused key",
        arguments: Backend.available)
    func lostAnswer(backend: Backend) async throws {
        // Till's clock runs ahead on demand: the retry comes minutes after the first try.
        let time = ClockAhead()
        try await withTill(backend, clock: time.clock, configure: { $0.stripeMaxNetworkRetries = 1 }) { api, _ in
            let (user, _, _, order) = try await api.orderSetup()
            let orderId = order.string("id")
            try await api.fault(#"{"target":"api","path":"/v1/checkout/sessions","mode":"lost","count":2}"#)
            let lost = try await api.call(.post, "/api/orders/\(orderId)/checkout", token: user)
            #expect(lost.status == 502)
            #expect(try await sessions(api) == 1)  // made at Stripe, answer never arrived
            time.ahead = 5 * 60_000
            let retried = try await api.call(.post, "/api/orders/\(orderId)/checkout", token: user)
            #expect(retried.status == 201)
            #expect(try await sessions(api) == 1)
            let made = try await api.stripe(.get, "/v1/checkout/sessions", form: "limit=1").data.first?["id"] as? String
            #expect(retried.string("sessionId") == made)
            let payments = try await api.call(.get, "/api/orders/\(orderId)/payment", token: user)
            #expect((payments["payments"] as? [Any])?.count == 1)
        }
    }

    @Test(
        "a checkout Stripe never made (it was down), retried minutes later: a new session at once, 201",
        arguments: Backend.available)
    func retryAfterOutage(backend: Backend) async throws {
        let time = ClockAhead()
        try await withTill(backend, clock: time.clock, configure: { $0.stripeMaxNetworkRetries = 1 }) { api, _ in
            // The order and the first try two minutes ago (the emulator compensates for a clock run ahead of the
            // wall clock, not for one behind it).
            time.ahead = -2 * 60_000
            let (user, _, _, order) = try await api.orderSetup()
            let orderId = order.string("id")
            try await api.fault(#"{"target":"api","path":"/v1/checkout/sessions","mode":"500","count":2}"#)
            let down = try await api.call(.post, "/api/orders/\(orderId)/checkout", token: user)
            #expect(down.status == 502)
            #expect(try await sessions(api) == 0)
            // The first payment's session would now expire in under Stripe's 30 minutes: it is ended, and the retry
            // opens the session of a new payment instead of answering 502 once more.
            time.ahead = 0
            let retried = try await api.call(.post, "/api/orders/\(orderId)/checkout", token: user)
            #expect(retried.status == 201, "\(retried.text)")
            #expect(try await sessions(api) == 1)
            let again = try await api.call(.post, "/api/orders/\(orderId)/checkout", token: user)
            #expect(again.status == 200 && again.string("sessionId") == retried.string("sessionId"))
        }
    }

    @Test("a refund retried after a 500 is made once", arguments: Backend.available)
    func refundRetried(backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let (user, admin, _, order) = try await api.orderSetup()
            let orderId = order.string("id")
            let checkout = try await api.call(.post, "/api/orders/\(orderId)/checkout", token: user)
            _ = try await api.pay(session: checkout.string("sessionId"))
            try await api.waitForOrder(user, orderId, toBe: "PAID")
            try await api.fault(#"{"target":"api","path":"/v1/refunds","mode":"500","count":1}"#)
            #expect(
                try await api.call(.post, "/api/payments/\(checkout.string("paymentId"))/refund", token: admin).status
                    == 202)
            try await api.waitForOrder(user, orderId, toBe: "REFUNDED")
            #expect(try await api.armedFaults() == 0)
            #expect(try await api.stripe(.get, "/v1/refunds", form: "limit=100").data.count == 1)
        }
    }

    @Test(
        "a refund made at Stripe whose answer was lost is found there by its key: 202, so the admin is not told to retry",
        arguments: Backend.available)
    func refundAfterLostAnswer(backend: Backend) async throws {
        try await withTill(backend, configure: { $0.stripeMaxNetworkRetries = 1 }) { api, _ in
            let (user, admin, _, order) = try await api.orderSetup()
            let orderId = order.string("id")
            let checkout = try await api.call(.post, "/api/orders/\(orderId)/checkout", token: user)
            _ = try await api.pay(session: checkout.string("sessionId"))
            try await api.waitForOrder(user, orderId, toBe: "PAID")
            let paymentId = checkout.string("paymentId")
            // Stripe makes the refund and the answer is lost, on the call and its retry; Stripe's list of the
            // intent's refunds (the next call) answers.
            try await api.fault(#"{"target":"api","path":"/v1/refunds","mode":"lost","count":2}"#)
            let lost = try await api.call(
                .post, "/api/payments/\(paymentId)/refund", token: admin, body: #"{"amount":300}"#)
            #expect(lost.status == 202, "\(lost.text)")
            try await eventually(10, "the first refund settles") {
                try await api.payment(user, paymentId).int("amountRefunded") == 300
            }
            // An admin who asks again wants a second refund, and gets it.
            let second = try await api.call(
                .post, "/api/payments/\(paymentId)/refund", token: admin, body: #"{"amount":300}"#)
            #expect(second.status == 202)
            try await eventually(10, "the second refund settles") {
                try await api.payment(user, paymentId).int("amountRefunded") == 600
            }
            #expect(try await api.stripe(.get, "/v1/refunds", form: "limit=100").data.count == 2)

            // Stripe unreachable after making the refund, the list included: 502 says it may have been made.
            try await api.fault(#"{"target":"api","path":"/v1/refunds","mode":"lost","count":4}"#)
            let unknown = try await api.call(
                .post, "/api/payments/\(paymentId)/refund", token: admin, body: #"{"amount":100}"#)
            #expect(unknown.status == 502)
            #expect(unknown.errorMessage?.contains("whether it made the refund is unknown") == true)
            try await eventually(10, "the third refund settles") {
                try await api.payment(user, paymentId).int("amountRefunded") == 700
            }
            #expect(try await api.stripe(.get, "/v1/refunds", form: "limit=100").data.count == 3)
        }
    }

    @Test(
        "webhooks duplicated, delayed and reordered: every order ends PAID, stock exact", arguments: Backend.available)
    func unrulyWebhooks(backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let admin = try await api.adminToken()
            let product = try await api.createProduct(admin: admin, inventory: 20)
            let (user, _) = try await api.register()
            try await api.fault(#"{"target":"webhooks","mode":"duplicate","count":5}"#)
            try await api.fault(#"{"target":"webhooks","mode":"delay","count":5,"delayMillis":300}"#)
            try await api.fault(#"{"target":"webhooks","mode":"reorder","count":6}"#)
            var orders: [String] = []
            for _ in 0..<4 {
                let orderId = try await api.order(user, [(product, 2)]).string("id")
                let checkout = try await api.call(.post, "/api/orders/\(orderId)/checkout", token: user)
                _ = try await api.pay(session: checkout.string("sessionId"))
                orders.append(orderId)
            }
            for orderId in orders { try await api.waitForOrder(user, orderId, toBe: "PAID") }
            #expect(try await api.armedFaults() == 0)
            #expect(try await api.inventory(product) == 12)
        }
    }

    @Test(
        "webhooks dropped: the reconciler reads the payments back and the orders end PAID", arguments: Backend.available
    )
    func droppedWebhooks(backend: Backend) async throws {
        try await withTill(backend, configure: { $0.reconcileStaleAfterSeconds = 0 }) { api, till in
            let (user, _, _, order) = try await api.orderSetup()
            let orderId = order.string("id")
            let checkout = try await api.call(.post, "/api/orders/\(orderId)/checkout", token: user)
            try await api.fault(#"{"target":"webhooks","mode":"drop","count":100}"#)
            _ = try await api.pay(session: checkout.string("sessionId"))
            try await Task.sleep(for: .milliseconds(200))
            #expect(try await api.orderStatus(user, orderId) == "PENDING")
            _ = try await till.reconcile()
            #expect(try await api.orderStatus(user, orderId) == "PAID")
        }
    }

    @Test(
        "payments whose re-read changes nothing do not keep the reconciler from the ones behind them",
        arguments: Backend.available)
    func reconcilerMovesOn(backend: Backend) async throws {
        try await withTill(
            backend,
            configure: {
                $0.reconcileStaleAfterSeconds = 0
                $0.stripeMaxNetworkRetries = 0
            }
        ) { api, till in
            let admin = try await api.adminToken()
            let plan = try await api.call(
                .post, "/api/plans", token: admin,
                body: #"{"name":"Pack","unitAmount":500,"currency":"usd","credits":10}"#
            ).string("id")
            // Three one-off plan checkouts Stripe never made: live payments with nothing at Stripe to read back.
            try await api.fault(#"{"target":"api","path":"/v1/checkout/sessions","mode":"500","count":3}"#)
            for _ in 0..<3 {
                let (user, _) = try await api.register()
                #expect(try await api.call(.post, "/api/plans/\(plan)/checkout", token: user).status == 502)
            }
            // Behind them, an order paid while its webhooks were lost.
            let (user, _, _, order) = try await api.orderSetup()
            let orderId = order.string("id")
            let checkout = try await api.call(.post, "/api/orders/\(orderId)/checkout", token: user)
            try await api.fault(#"{"target":"webhooks","mode":"drop","count":100}"#)
            _ = try await api.pay(session: checkout.string("sessionId"))
            let reconciler = Reconciler(
                database: till.reconciler.database, paymentService: till.reconciler.paymentService,
                subscriptionService: till.reconciler.subscriptionService, settlement: till.reconciler.settlement,
                clock: till.reconciler.clock, logger: till.reconciler.logger, orderTTLSeconds: 3600,
                staleAfterSeconds: 0, pageSize: 2)
            // A page of two a pass: the first reads two of the three, the second the third and the order's.
            #expect(try await reconciler.pass().paymentsSynced == 2)
            #expect(try await api.orderStatus(user, orderId) == "PENDING")
            #expect(try await reconciler.pass().paymentsSynced == 2)
            try await till.processor.drain()
            #expect(try await api.orderStatus(user, orderId) == "PAID")
        }
    }
}
