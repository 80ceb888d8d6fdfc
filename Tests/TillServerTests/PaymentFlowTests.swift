import Foundation
import HTTPTypes
import StripeAPI
import Testing

@_spi(Bench) @testable import TillServer

/// End to end against the embedded emulator, with no hand-made webhook: Till's own Stripe client creates the
/// session, the emulator takes the payment and delivers signed webhooks to Till.
@Suite("Payment flows")
struct PaymentFlowTests {
    @Test("order → checkout → pay → PAID, exactly once", arguments: Backend.available)
    func checkoutPaid(backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let (user, _, product, order) = try await api.orderSetup(quantity: 2)
            let orderId = order.string("id")
            let checkout = try await api.call(.post, "/api/orders/\(orderId)/checkout", token: user)
            #expect(checkout.status == 201)
            let sessionId = checkout.string("sessionId")
            #expect(sessionId.hasPrefix("cs_"))
            #expect(checkout.string("url").contains("/_stripe/checkout/\(sessionId)"))
            // Asking again while the session is open gives the same session.
            let again = try await api.call(.post, "/api/orders/\(orderId)/checkout", token: user)
            #expect(again.status == 200)
            #expect(again.string("sessionId") == sessionId)
            #expect(again.string("paymentId") == checkout.string("paymentId"))

            // The session carries the order's lines, metadata and expiry.
            let session = try await api.stripe(.get, "/v1/checkout/sessions/\(sessionId)")
            #expect(session.int("amount_total") == 3998)
            #expect((session["metadata"] as? [String: Any])?["orderId"] as? String == orderId)
            #expect(session.string("client_reference_id") == orderId)
            // The buyer's email is filled in for them on Stripe's page.
            #expect(session.string("customer_email") == (try await api.me(user).string("email")))
            let lines = try await api.stripe(.get, "/v1/checkout/sessions/\(sessionId)/line_items")
            #expect(lines.data.first?["quantity"] as? Int == 2)
            let expiresAt = session.int("expires_at")
            #expect(expiresAt >= Int(Date().timeIntervalSince1970) + 30 * 60)

            #expect(try await api.pay(session: sessionId).status == 200)
            try await api.waitForOrder(user, orderId, toBe: "PAID")
            let payment = try await api.payment(user, checkout.string("paymentId"))
            #expect(payment.string("status") == "SUCCEEDED")
            #expect(payment.string("paymentIntentId").hasPrefix("pi_"))
            // The email comes with checkout.session.completed, which may be applied after the event that paid.
            try await eventually(5, "the session's email on the payment") {
                try await api.payment(user, checkout.string("paymentId")).string("customerEmail").contains("@")
            }
            let summary = try await api.call(.get, "/api/orders/\(orderId)/payment", token: user)
            #expect(summary.string("status") == "SUCCEEDED")
            #expect((summary["payments"] as? [Any])?.count == 1)
            #expect(try await api.inventory(product) == 8)
            // Paid orders are not payable or cancellable.
            let late = try await api.call(.post, "/api/orders/\(orderId)/checkout", token: user)
            #expect(late.status == 409)
            #expect(late.errorCode == "order_not_payable")
            #expect(late.errorMessage?.contains("PAID") == true)
            #expect(try await api.call(.post, "/api/orders/\(orderId)/cancel", token: user).status == 409)
        }
    }

    @Test(
        "a declined card leaves the order PENDING and payable; a good card then pays it", arguments: Backend.available)
    func declineThenPay(backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let (user, _, _, order) = try await api.orderSetup()
            let orderId = order.string("id")
            let checkout = try await api.call(.post, "/api/orders/\(orderId)/checkout", token: user)
            let declined = try await api.pay(session: checkout.string("sessionId"), with: "pm_card_chargeDeclined")
            #expect(declined.status == 402)
            let paymentId = checkout.string("paymentId")
            try await eventually(10, "payment FAILED") {
                try await api.payment(user, paymentId).string("status") == "FAILED"
            }
            let failed = try await api.payment(user, paymentId)
            #expect(failed.string("failureCode") == "generic_decline")
            #expect(failed.string("failureMessage") == "Your card was declined.")
            #expect(try await api.orderStatus(user, orderId) == "PENDING")
            // Still payable: the same session comes back.
            let again = try await api.call(.post, "/api/orders/\(orderId)/checkout", token: user)
            #expect(again.string("sessionId") == checkout.string("sessionId"))
            #expect(try await api.pay(session: checkout.string("sessionId")).status == 200)
            try await api.waitForOrder(user, orderId, toBe: "PAID")
            #expect(try await api.payment(user, paymentId).string("status") == "SUCCEEDED")
        }
    }

    @Test("an expired session cancels the order and releases its stock", arguments: Backend.available)
    func expire(backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let (user, _, product, order) = try await api.orderSetup(inventory: 5, quantity: 3)
            let orderId = order.string("id")
            let checkout = try await api.call(.post, "/api/orders/\(orderId)/checkout", token: user)
            #expect(try await api.inventory(product) == 2)
            #expect(
                try await api.stripe(.post, "/v1/checkout/sessions/\(checkout.string("sessionId"))/expire").status
                    == 200)
            try await api.waitForOrder(user, orderId, toBe: "CANCELLED")
            #expect(try await api.inventory(product) == 5)
            #expect(try await api.payment(user, checkout.string("paymentId")).string("status") == "CANCELED")
        }
    }

    @Test("cancelling an order expires its open session at Stripe", arguments: Backend.available)
    func cancelExpiresSession(backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let (user, _, product, order) = try await api.orderSetup(inventory: 5, quantity: 1)
            let orderId = order.string("id")
            let checkout = try await api.call(.post, "/api/orders/\(orderId)/checkout", token: user)
            let cancelled = try await api.call(.post, "/api/orders/\(orderId)/cancel", token: user)
            #expect(cancelled.string("status") == "CANCELLED", "\(cancelled.text)")
            let session = try await api.stripe(.get, "/v1/checkout/sessions/\(checkout.string("sessionId"))")
            #expect(session.string("status") == "expired")
            #expect(try await api.pay(session: checkout.string("sessionId")).status == 400)
            #expect(try await api.inventory(product) == 5)
        }
    }

    @Test("a PaymentIntent pays an order", arguments: Backend.available)
    func paymentIntent(backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let (user, _, _, order) = try await api.orderSetup()
            let orderId = order.string("id")
            let intent = try await api.call(.post, "/api/orders/\(orderId)/payment-intent", token: user)
            #expect(intent.status == 201)
            let intentId = intent.string("paymentIntentId")
            #expect(intent.string("clientSecret").hasPrefix(intentId + "_secret_"))
            #expect(intent.string("publishableKey").hasPrefix("pk_"))
            let again = try await api.call(.post, "/api/orders/\(orderId)/payment-intent", token: user)
            #expect(again.status == 200)
            #expect(again.string("paymentIntentId") == intentId)
            let declined = try await api.stripe(
                .post, "/v1/payment_intents/\(intentId)/confirm",
                form: "payment_method=pm_card_chargeDeclinedInsufficientFunds")
            #expect(declined.status == 402)
            try await eventually(10, "payment FAILED") {
                try await api.payment(user, intent.string("paymentId")).string("failureCode") == "insufficient_funds"
            }
            #expect(try await api.orderStatus(user, orderId) == "PENDING")
            #expect(
                try await api.stripe(
                    .post, "/v1/payment_intents/\(intentId)/confirm", form: "payment_method=pm_card_visa"
                ).status == 200)
            try await api.waitForOrder(user, orderId, toBe: "PAID")
        }
    }

    @Test(
        "an order's payment status is the paying payment's, not a later one's opened meanwhile",
        arguments: Backend.available)
    func orderPaymentStatus(backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let (user, _, _, order) = try await api.orderSetup()
            let orderId = order.string("id")
            let checkout = try await api.call(.post, "/api/orders/\(orderId)/checkout", token: user)
            let intent = try await api.call(.post, "/api/orders/\(orderId)/payment-intent", token: user)
            #expect(checkout.status == 201 && intent.status == 201)
            #expect(
                try await api.call(.get, "/api/orders/\(orderId)/payment", token: user).string("status") == "INITIATED")
            _ = try await api.pay(session: checkout.string("sessionId"))
            try await api.waitForOrder(user, orderId, toBe: "PAID")
            let paid = try await api.call(.get, "/api/orders/\(orderId)/payment", token: user)
            #expect(paid.string("status") == "SUCCEEDED", "\(paid.text)")
            #expect((paid["payments"] as? [Any])?.count == 2)
            // The other one paid too: refunded as a duplicate; the order's status stays the paying payment's.
            let second = try await api.stripe(
                .post, "/v1/payment_intents/\(intent.string("paymentIntentId"))/confirm",
                form: "payment_method=pm_card_visa")
            #expect(second.status == 200)
            try await eventually(10, "the duplicate to be refunded") {
                try await api.payment(user, intent.string("paymentId")).string("status") == "REFUNDED"
            }
            #expect(
                try await api.call(.get, "/api/orders/\(orderId)/payment", token: user).string("status") == "SUCCEEDED")
            #expect(try await api.orderStatus(user, orderId) == "PAID")
        }
    }

    @Test(
        "a tenfold click on pay: one session or intent, one 201 and nine 200s, for an order and a plan",
        arguments: Backend.available)
    func concurrentFirstCheckouts(backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let admin = try await api.adminToken()
            let plan = try await api.call(
                .post, "/api/plans", token: admin,
                body: #"{"name":"Pro","unitAmount":900,"currency":"usd","credits":100}"#)
            let (user, _, _, order) = try await api.orderSetup()
            let (other, _, _, second) = try await api.orderSetup()
            let paths = [
                ("/api/orders/\(order.string("id"))/checkout", user, "sessionId"),
                ("/api/orders/\(second.string("id"))/payment-intent", other, "paymentIntentId"),
                ("/api/plans/\(plan.string("id"))/checkout", user, "sessionId"),
            ]
            for (path, token, key) in paths {
                let replies = try await withThrowingTaskGroup(of: Reply.self) { group in
                    for _ in 0..<10 { group.addTask { try await api.call(.post, path, token: token) } }
                    return try await group.reduce(into: [Reply]()) { $0.append($1) }
                }
                #expect(replies.filter { $0.status == 201 }.count == 1, "\(path): \(replies.map(\.status))")
                #expect(replies.filter { $0.status == 200 }.count == 9, "\(path): \(replies.map(\.text))")
                #expect(Set(replies.map { $0.string(key) }).count == 1, "\(path)")
                #expect(Set(replies.map { $0.string("paymentId") }).count == 1, "\(path)")
            }
        }
    }

    @Test(
        "buying a plan grants its credits once, even when every webhook is delivered twice",
        arguments: Backend.available)
    func planCredits(backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let admin = try await api.adminToken()
            let plan = try await api.call(
                .post, "/api/plans", token: admin,
                body: #"{"name":"Pro","unitAmount":900,"currency":"usd","credits":100}"#)
            let (user, _) = try await api.register()
            try await api.fault(#"{"target":"webhooks","mode":"duplicate","count":50}"#)
            let checkout = try await api.call(.post, "/api/plans/\(plan.string("id"))/checkout", token: user)
            #expect(checkout.status == 201)
            #expect(try await api.pay(session: checkout.string("sessionId")).status == 200)
            try await eventually(10, "credits") {
                try await api.call(.get, "/api/auth/me", token: user).int("creditBalance") == 100
            }
            try await Task.sleep(for: .milliseconds(500))  // let the duplicates land
            let me = try await api.call(.get, "/api/auth/me", token: user)
            #expect(me.int("creditBalance") == 100)
            #expect(me.string("planId") == plan.string("id"))
        }
    }

    @Test(
        "refunds: partial then the rest, final when Stripe reports them; never more than was paid",
        arguments: Backend.available)
    func refunds(backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let (user, admin, _, order) = try await api.orderSetup(unitAmount: 1000, quantity: 2)
            let orderId = order.string("id")
            let checkout = try await api.call(.post, "/api/orders/\(orderId)/checkout", token: user)
            _ = try await api.pay(session: checkout.string("sessionId"))
            try await api.waitForOrder(user, orderId, toBe: "PAID")
            let paymentId = checkout.string("paymentId")

            #expect(
                try await api.call(.post, "/api/payments/\(paymentId)/refund", token: user, body: #"{"amount":500}"#)
                    .status == 403)
            let partial = try await api.call(
                .post, "/api/payments/\(paymentId)/refund", token: admin, body: #"{"amount":500}"#)
            #expect(partial.status == 202)
            try await api.waitForOrder(user, orderId, toBe: "PARTIALLY_REFUNDED")
            #expect(try await api.payment(user, paymentId).int("amountRefunded") == 500)
            let tooMuch = try await api.call(
                .post, "/api/payments/\(paymentId)/refund", token: admin, body: #"{"amount":1501}"#)
            #expect(tooMuch.status == 400)
            let rest = try await api.call(.post, "/api/payments/\(paymentId)/refund", token: admin)
            #expect(rest.status == 202)
            try await api.waitForOrder(user, orderId, toBe: "REFUNDED")
            let payment = try await api.payment(user, paymentId)
            #expect(payment.string("status") == "REFUNDED")
            #expect(payment.int("amountRefunded") == 2000)
            #expect(try await api.call(.get, "/api/orders/\(orderId)", token: user).int("amountRefunded") == 2000)
            let again = try await api.call(.post, "/api/payments/\(paymentId)/refund", token: admin)
            #expect(again.status == 409 && again.errorCode == "payment_not_refundable")
            let refunds = try await api.stripe(
                .get, "/v1/refunds", form: "payment_intent=\(payment.string("paymentIntentId"))")
            #expect(refunds.data.count == 2)
        }
    }

    @Test(
        "a refund that fails after it was made: the money is back, so is the order, and it can be refunded again",
        arguments: Backend.available)
    func refundThatFails(backend: Backend) async throws {
        try await withTill(backend) { api, till in
            let (user, admin, _, order) = try await api.orderSetup(unitAmount: 1000, quantity: 2)
            let orderId = order.string("id")
            let checkout = try await api.call(.post, "/api/orders/\(orderId)/checkout", token: user)
            // Stripe's 4000 0000 0000 5126: the charge succeeds, its refunds fail after they are made.
            _ = try await api.pay(session: checkout.string("sessionId"), with: "pm_card_refundFail")
            try await api.waitForOrder(user, orderId, toBe: "PAID")
            let paymentId = checkout.string("paymentId")
            for round in 0..<2 {
                let refund = try await api.call(.post, "/api/payments/\(paymentId)/refund", token: admin)
                #expect(refund.status == 202, "\(refund.text)")
                // First it is refunded, as Stripe first reports; a second later the card's bank sends it back.
                try await api.waitForOrder(user, orderId, toBe: "REFUNDED")
                let intent = try await api.payment(user, paymentId).string("paymentIntentId")
                try await eventually(10, "the refund to fail at Stripe") {
                    try await api.stripe(.get, "/v1/refunds", form: "payment_intent=\(intent)").data
                        .filter { $0["status"] as? String == "failed" }.count == round + 1
                }
                try await till.processor.drain()
                try await eventually(10, "the payment to be paid again") {
                    let payment = try await api.payment(user, paymentId)
                    return payment.string("status") == "SUCCEEDED" && payment.int("amountRefunded") == 0
                }
                try await api.waitForOrder(user, orderId, toBe: "PAID")
                #expect(try await api.call(.get, "/api/orders/\(orderId)", token: user).int("amountRefunded") == 0)
            }
            try await eventually(10, "every read-back done") { try await refundReadMarks(till) == 0 }
            // A sync reads the same: nothing moves.
            #expect(
                try await api.call(.post, "/api/payments/\(paymentId)/sync", token: admin).string("status")
                    == "SUCCEEDED")
        }
    }

    @Test(
        "money given back because nothing was delivered for it, whose refund fails: under review, not refunded again and again",
        arguments: Backend.available)
    func undeliveredRefundThatFails(backend: Backend) async throws {
        try await withTill(backend) { api, till in
            let (user, _, _, order) = try await api.orderSetup()
            let orderId = order.string("id")
            let checkout = try await api.call(.post, "/api/orders/\(orderId)/checkout", token: user)
            let intent = try await api.call(.post, "/api/orders/\(orderId)/payment-intent", token: user)
            _ = try await api.pay(session: checkout.string("sessionId"))
            try await api.waitForOrder(user, orderId, toBe: "PAID")
            // Paid a second time, with a card whose refunds fail: Till refunds it in full, and the refund fails.
            let intentId = intent.string("paymentIntentId")
            #expect(
                try await api.stripe(
                    .post, "/v1/payment_intents/\(intentId)/confirm", form: "payment_method=pm_card_refundFail"
                ).status == 200)
            let second = intent.string("paymentId")
            try await eventually(15, "the second payment to await review") {
                try await api.payment(user, second).string("status") == "REQUIRES_REVIEW"
            }
            try await Task.sleep(for: .seconds(2))
            _ = try await till.reconcile()
            let payment = try await api.payment(user, second)
            #expect(payment.string("status") == "REQUIRES_REVIEW" && payment.int("amountRefunded") == 0)
            #expect(try await api.stripe(.get, "/v1/refunds", form: "payment_intent=\(intentId)").data.count == 1)
            #expect(try await api.orderStatus(user, orderId) == "PAID")
            // The admin refunds it again, twice: each a new refund at Stripe, not a failed one replayed under its key.
            let admin = try await api.adminToken()
            for round in 1...2 {
                #expect(try await api.call(.post, "/api/payments/\(second)/refund", token: admin).status == 202)
                try await eventually(15, "refund \(round + 1), failed too, and the payment under review again") {
                    let refunds = try await api.stripe(.get, "/v1/refunds", form: "payment_intent=\(intentId)").data
                    let status = try await api.payment(user, second).string("status")
                    return refunds.count == round + 1 && refunds.allSatisfy { $0["status"] as? String == "failed" }
                        && status == "REQUIRES_REVIEW"
                }
            }
            try await eventually(10, "every read-back done") { try await refundReadMarks(till) == 0 }
        }
    }

    /// Payments still marked to be read back after a failed refund (or, wrongly, read past their marks).
    func refundReadMarks(_ till: Till) async throws -> Int {
        try await till.database.withConnection { db in
            try await db.raw("SELECT COUNT(*) AS n FROM payments WHERE refund_reads <> refund_reads_done").first()?.int(
                "n")
                ?? -1
        }
    }

    @Test("a lost webhook: sync re-reads the session and the order is PAID", arguments: Backend.available)
    func syncAfterLostWebhook(backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let (user, _, _, order) = try await api.orderSetup()
            let orderId = order.string("id")
            let checkout = try await api.call(.post, "/api/orders/\(orderId)/checkout", token: user)
            try await api.fault(#"{"target":"webhooks","mode":"drop","count":100}"#)
            _ = try await api.pay(session: checkout.string("sessionId"))
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await api.orderStatus(user, orderId) == "PENDING")
            let synced = try await api.call(.post, "/api/payments/\(checkout.string("paymentId"))/sync", token: user)
            #expect(synced.status == 200)
            #expect(synced.string("status") == "SUCCEEDED")
            #expect(try await api.orderStatus(user, orderId) == "PAID")
        }
    }

    @Test(
        "the expiry sweeper cancels unpaid orders past their time and expires their sessions",
        arguments: Backend.available)
    func expirySweeper(backend: Backend) async throws {
        try await withTill(backend, configure: { $0.orderTTLSeconds = 1 }) { api, till in
            let (user, _, product, order) = try await api.orderSetup(inventory: 4, quantity: 4)
            let orderId = order.string("id")
            let checkout = try await api.call(.post, "/api/orders/\(orderId)/checkout", token: user)
            #expect(try await api.inventory(product) == 0)
            try await Task.sleep(for: .milliseconds(1100))
            _ = try await till.reconcile()
            try await api.waitForOrder(user, orderId, toBe: "CANCELLED")
            #expect(try await api.inventory(product) == 4)
            #expect(
                try await api.stripe(.get, "/v1/checkout/sessions/\(checkout.string("sessionId"))").string("status")
                    == "expired")
        }
    }

    @Test("another user's payments are 404 on every payment route", arguments: Backend.available)
    func ownership(backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let (user, admin, _, order) = try await api.orderSetup()
            let orderId = order.string("id")
            let checkout = try await api.call(.post, "/api/orders/\(orderId)/checkout", token: user)
            let paymentId = checkout.string("paymentId")
            let (mallory, _) = try await api.register()
            for (method, path) in [
                (HTTPRequest.Method.post, "/api/orders/\(orderId)/checkout"),
                (.post, "/api/orders/\(orderId)/payment-intent"),
                (.get, "/api/orders/\(orderId)/payment"), (.get, "/api/payments/\(paymentId)"),
                (.post, "/api/payments/\(paymentId)/sync"),
            ] {
                let reply = try await api.call(method, path, token: mallory)
                #expect(reply.status == 404, "\(method) \(path)")
                #expect(reply.errorCode == "not_found")
            }
            #expect(try await api.call(.get, "/api/payments", token: mallory).data.isEmpty)
            #expect(try await api.call(.get, "/api/payments", token: user).data.count == 1)
            #expect(try await api.call(.get, "/api/payments?orderId=\(orderId)", token: admin).data.count == 1)
            #expect(try await api.call(.get, "/api/payments/\(paymentId)", token: admin).status == 200)
        }
    }

    @Test("GET /api/config says the emulator is in use and where it is")
    func config() async throws {
        try await withTill(.sqlite) { api, _ in
            let reply = try await api.call(.get, "/api/config")
            #expect(reply.string("stripeMode") == "emulator")
            #expect(reply.string("stripeApiBase").hasSuffix("/_stripe"))
            #expect(reply.string("publishableKey").hasPrefix("pk_test_"))
        }
    }
}
