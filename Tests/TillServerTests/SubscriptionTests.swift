import Foundation
import StripeAPI
import Testing

@_spi(Bench) @testable import TillServer

extension TestEvents.Options {
    /// Events about Stripe's subscription `stripeId` that Till made as `id` for `userId` and `plan` (its metadata).
    static func subscription(_ stripeId: String, id: String, userId: String, plan: String) -> Self {
        var options = TestEvents.Options(amount: 900)
        options.subscriptionId = stripeId
        options.subscriptionMetadata = ["subscriptionId": id, "userId": userId, "planId": plan]
        return options
    }
}

extension API {
    /// An admin's recurring plan: 9.00 USD a month for 100 credits.
    func recurringPlan(interval: String = "month", credits: Int = 100) async throws -> String {
        let reply = try await call(
            .post, "/api/plans", token: try await adminToken(),
            body: #"{"name":"Pro","unitAmount":900,"currency":"usd","credits":\#(credits),"interval":"\#(interval)"}"#)
        #expect(reply.status == 201, "create plan: \(reply.text)")
        return reply.string("id")
    }

    /// A new user's checkout of `plan`: the user's token and id, and the checkout's answer.
    func subscribeCheckout(_ plan: String) async throws -> (token: String, userId: String, checkout: Reply) {
        let (token, userId) = try await register()
        let checkout = try await call(.post, "/api/plans/\(plan)/checkout", token: token)
        #expect(checkout.status == 201, "checkout: \(checkout.text)")
        return (token, userId, checkout)
    }

    /// A new user subscribed to `plan` and paid through Checkout: the token, user id, Till's and Stripe's ids.
    func activeSubscription(_ plan: String) async throws -> (
        token: String, userId: String, id: String, stripeId: String
    ) {
        let (token, userId, checkout) = try await subscribeCheckout(plan)
        let id = checkout.string("subscriptionId")
        #expect(try await pay(session: checkout.string("sessionId")).status == 200)
        try await waitForSubscription(token, id, toBe: "ACTIVE")
        return (token, userId, id, try await subscription(token, id).string("stripeSubscriptionId"))
    }

    func subscription(_ token: String, _ id: String) async throws -> Reply {
        try await call(.get, "/api/subscriptions/\(id)", token: token)
    }

    func me(_ token: String) async throws -> Reply { try await call(.get, "/api/auth/me", token: token) }

    func subscriptionPayments(_ token: String) async throws -> [[String: Any]] {
        try await call(.get, "/api/payments?limit=100", token: token).data.filter {
            $0["kind"] as? String == "subscription"
        }
    }

    func waitForSubscription(_ token: String, _ id: String, toBe status: String, seconds: Double = 15) async throws {
        try await eventually(seconds, "subscription \(id) to be \(status)") {
            try await subscription(token, id).string("status") == status
        }
    }

    func waitForCredits(_ token: String, _ credits: Int, seconds: Double = 15) async throws {
        try await eventually(seconds, "credits to be \(credits)") {
            try await me(token).int("creditBalance") == credits
        }
    }

    /// Moves the embedded emulator's own time ahead, renewing and retrying what falls due.
    func advanceClock(days: Double) async throws {
        let reply = try await call(
            .post, "/_stripe/_emulator/clock/advance", body: #"{"seconds":\#(Int(days * 86_400))}"#,
            headers: ["Authorization": "Bearer sk_test_tests"])
        #expect(reply.status == 200, "advance: \(reply.text)")
    }
}

/// Subscriptions end to end against the embedded emulator: nothing hand-made, every change comes from Stripe's
/// (the emulator's) own webhooks.
@Suite("Subscriptions end to end", .serialized)
struct SubscriptionFlowTests {
    @Test(arguments: Backend.available)
    func subscribeRenewAndCreditOncePerInvoice(_ backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let plan = try await api.recurringPlan()
            let planReply = try await api.call(.get, "/api/plans/\(plan)")
            #expect(planReply.string("interval") == "month")
            #expect(planReply.int("intervalCount") == 1)
            #expect(planReply.string("stripePriceId").hasPrefix("price_"))

            let (token, userId, checkout) = try await api.subscribeCheckout(plan)
            let id = checkout.string("subscriptionId")
            let session = checkout.string("sessionId")
            #expect(checkout.string("url").contains(session))
            #expect(try await api.subscription(token, id).string("status") == "INCOMPLETE")
            // Again while the session is open: the same session.
            let again = try await api.call(.post, "/api/plans/\(plan)/checkout", token: token)
            #expect(again.status == 200)
            #expect(again.string("sessionId") == session)

            #expect(try await api.pay(session: session).status == 200)
            try await api.waitForSubscription(token, id, toBe: "ACTIVE")
            try await api.waitForCredits(token, 100)
            let me = try await api.me(token)
            #expect(me.string("planId") == plan)
            #expect(me.string("stripeCustomerId").hasPrefix("cus_"))
            // The period comes with customer.subscription.created, which may arrive after the invoice's news.
            try await eventually(10, "the first period") {
                try await api.subscription(token, id)["currentPeriodEnd"] is String
            }
            let first = try await api.subscription(token, id)
            #expect(first.string("stripeSubscriptionId").hasPrefix("sub_"))
            #expect(first["cancelAtPeriodEnd"] as? Bool == false)
            var payments = try await api.subscriptionPayments(token)
            #expect(payments.count == 1)
            #expect(payments.first?["status"] as? String == "SUCCEEDED")
            #expect(payments.first?["amount"] as? Int == 900)
            #expect(payments.first?["subscriptionId"] as? String == id)
            #expect((payments.first?["invoiceId"] as? String)?.hasPrefix("in_") == true)
            #expect(payments.first?["userId"] as? String == userId)

            // A second subscription while this one is live is refused.
            let second = try await api.call(.post, "/api/plans/\(plan)/checkout", token: token)
            #expect(second.status == 409)
            #expect(second.errorCode == "already_subscribed")

            // A month on: the renewal's invoice is paid, its credits granted once.
            try await api.advanceClock(days: 32)
            try await api.waitForCredits(token, 200)
            try await eventually(10, "the renewal's payment") { try await api.subscriptionPayments(token).count == 2 }
            try await eventually(10, "the new period") {
                try await api.subscription(token, id).string("currentPeriodEnd") != first.string("currentPeriodEnd")
            }
            // Stripe's retries and the reconciler change nothing more.
            try await Task.sleep(for: .milliseconds(500))
            #expect(try await api.me(token).int("creditBalance") == 200)
            payments = try await api.subscriptionPayments(token)
            #expect(payments.count == 2)
            #expect(Set(payments.compactMap { $0["invoiceId"] as? String }).count == 2)
            #expect(try await api.subscription(token, id).string("status") == "ACTIVE")
            // Its invoices, as Stripe has them, and its payments by subscription.
            let invoiceList = try await api.call(.get, "/api/subscriptions/\(id)/invoices", token: token)
            #expect(invoiceList["hasMore"] as? Bool == false)
            let invoices = invoiceList.data
            #expect(invoices.map { $0["status"] as? String } == ["paid", "paid"])
            #expect(
                Set(invoices.compactMap { $0["id"] as? String })
                    == Set(payments.compactMap { $0["invoiceId"] as? String }))
            let bySubscription = try await api.call(.get, "/api/payments?subscriptionId=\(id)", token: token).data
            #expect(bySubscription.count == 2)

            // Another user sees none of it.
            let (stranger, _) = try await api.register()
            #expect(try await api.subscription(stranger, id).status == 404)
            #expect(try await api.call(.get, "/api/subscriptions", token: stranger).data.isEmpty)
            let admin = try await api.adminToken()
            let all = try await api.call(.get, "/api/subscriptions?userId=\(userId)&status=ACTIVE", token: admin)
            #expect(all.data.map { $0["id"] as? String } == [id])
        }
    }

    @Test(arguments: Backend.available)
    func failingCardGoesPastDueThenCanceled(_ backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let plan = try await api.recurringPlan()
            let (token, _, id, stripeId) = try await api.activeSubscription(plan)
            let customer = try await api.me(token).string("stripeCustomerId")

            // The card on file starts failing.
            let attached = try await api.stripe(
                .post, "/v1/payment_methods/pm_card_chargeCustomerFail/attach", form: "customer=\(customer)")
            #expect(attached.status == 200, "\(attached.text)")
            let update = try await api.stripe(
                .post, "/v1/subscriptions/\(stripeId)", form: "default_payment_method=\(attached.string("id"))")
            #expect(update.status == 200, "\(update.text)")

            try await api.advanceClock(days: 32)
            try await api.waitForSubscription(token, id, toBe: "PAST_DUE")
            try await eventually(10, "the failed attempt with Stripe's code") {
                try await api.subscriptionPayments(token).contains {
                    $0["status"] as? String == "FAILED" && $0["failureCode"] as? String == "generic_decline"
                }
            }
            #expect(try await api.me(token).string("planId") == plan)  // still live while Stripe retries

            // The retries (3, 5 and 7 days after the first failure) fail too: Stripe cancels.
            try await api.advanceClock(days: 8)
            try await api.waitForSubscription(token, id, toBe: "CANCELED")
            let ended = try await api.subscription(token, id)
            #expect(ended["endedAt"] is String)
            try await eventually(10, "the plan to be cleared") { try await api.me(token)["planId"] is NSNull }
            #expect(try await api.me(token).int("creditBalance") == 100)
            // One FAILED payment per attempt: the first and three retries (their events may come after the end's).
            try await eventually(10, "four failed attempts") {
                try await api.subscriptionPayments(token).filter { $0["status"] as? String == "FAILED" }.count == 4
            }
            // Nothing brings it back.
            let resume = try await api.call(.post, "/api/subscriptions/\(id)/resume", token: token)
            #expect(resume.status == 409)
            #expect(resume.errorCode == "subscription_not_active")
        }
    }

    @Test(arguments: Backend.available)
    func cancelAtPeriodEndThenResumeThenCancelNow(_ backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let plan = try await api.recurringPlan()
            // Two users: one cancels at the period's end, the other cancels, resumes, and renews.
            let (leaving, _, a) = try await api.subscribeCheckout(plan)
            let (staying, _, b) = try await api.subscribeCheckout(plan)
            #expect(try await api.pay(session: a.string("sessionId")).status == 200)
            #expect(try await api.pay(session: b.string("sessionId")).status == 200)
            let leavingId = a.string("subscriptionId")
            let stayingId = b.string("subscriptionId")
            try await api.waitForSubscription(leaving, leavingId, toBe: "ACTIVE")
            try await api.waitForSubscription(staying, stayingId, toBe: "ACTIVE")

            let cancel = try await api.call(
                .post, "/api/subscriptions/\(leavingId)/cancel", token: leaving, body: #"{"atPeriodEnd":true}"#)
            #expect(cancel.status == 200, "\(cancel.text)")
            #expect(cancel.string("status") == "ACTIVE")
            #expect(cancel["cancelAtPeriodEnd"] as? Bool == true)
            let bad = try await api.call(
                .post, "/api/subscriptions/\(leavingId)/cancel", token: leaving, body: #"{"atPeriodend":false}"#)
            #expect(bad.status == 400)

            let cancelling = try await api.call(.post, "/api/subscriptions/\(stayingId)/cancel", token: staying)
            #expect(cancelling.status == 200 && cancelling["canceledAt"] is String)
            let resumed = try await api.call(.post, "/api/subscriptions/\(stayingId)/resume", token: staying)
            #expect(resumed.status == 200)
            #expect(resumed["cancelAtPeriodEnd"] as? Bool == false)
            #expect(resumed["canceledAt"] is NSNull, "a cancellation taken back has no time: \(resumed.text)")

            try await api.advanceClock(days: 32)
            try await api.waitForSubscription(leaving, leavingId, toBe: "CANCELED")
            try await api.waitForCredits(staying, 200)
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await api.subscriptionPayments(leaving).count == 1)  // no invoice after the end
            #expect(try await api.me(leaving).int("creditBalance") == 100)
            #expect(try await api.me(leaving)["planId"] is NSNull)
            #expect(try await api.subscription(staying, stayingId).string("status") == "ACTIVE")

            // Cancel now: over at once, the plan gone, the credits kept.
            let now = try await api.call(
                .post, "/api/subscriptions/\(stayingId)/cancel", token: staying, body: #"{"atPeriodEnd":false}"#)
            #expect(now.status == 200)
            #expect(now.string("status") == "CANCELED")
            #expect(try await api.me(staying)["planId"] is NSNull)
            #expect(try await api.me(staying).int("creditBalance") == 200)

            // The billing portal opens for the customer.
            let portal = try await api.call(.post, "/api/billing-portal", token: staying)
            #expect(portal.status == 201)
            #expect(portal.string("url").hasPrefix("http"))
        }
    }
}

extension SubscriptionFlowTests {
    @Test(
        "cancelling or resuming a subscription Stripe already ended (its webhook not here yet) is 409, and Till learns it",
        arguments: Backend.available)
    func changingOneEndedAtStripe(_ backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let plan = try await api.recurringPlan()
            let (token, _, id, stripeId) = try await api.activeSubscription(plan)
            // Cancelled in the portal; the webhook saying so is lost.
            try await api.fault(#"{"target":"webhooks","mode":"drop","count":10}"#)
            #expect(try await api.stripe(.delete, "/v1/subscriptions/\(stripeId)").string("status") == "canceled")
            for path in ["resume", "cancel"] {
                let answer = try await api.call(.post, "/api/subscriptions/\(id)/\(path)", token: token)
                #expect(
                    answer.status == 409 && answer.errorCode == "subscription_not_active", "\(path): \(answer.text)")
            }
            #expect(try await api.subscription(token, id).string("status") == "CANCELED")
        }
    }
}

extension SubscriptionFlowTests {
    @Test(arguments: Backend.available)
    func recurringPlansAreCheckedAndOneOffPlansStayOneOff(_ backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let admin = try await api.adminToken()
            func create(_ fields: String) async throws -> Reply {
                try await api.call(
                    .post, "/api/plans", token: admin,
                    body: #"{"name":"P","unitAmount":900,"currency":"usd","credits":10\#(fields)}"#)
            }
            for bad in [
                #","interval":"fortnight""#, #","interval":"month","intervalCount":13"#, #","intervalCount":2"#,
                #","interval":"day","intervalCount":0"#,
            ] {
                let reply = try await create(bad)
                #expect(reply.status == 400, "\(bad): \(reply.text)")
                #expect(reply.errorCode == "invalid_request")
            }
            let oneTime = try await api.stripe(
                .post, "/v1/prices", form: "currency=usd&unit_amount=900&product_data[name]=Once")
            let refused = try await create(#","interval":"month","stripePriceId":"\#(oneTime.string("id"))""#)
            #expect(refused.status == 400, "\(refused.text)")
            let monthly = try await api.stripe(
                .post, "/v1/prices",
                form: "currency=usd&unit_amount=900&product_data[name]=Monthly&recurring[interval]=month")
            let own = try await create(#","interval":"month","stripePriceId":"\#(monthly.string("id"))""#)
            #expect(own.status == 201, "\(own.text)")
            #expect(own.string("stripePriceId") == monthly.string("id"))
            let quarterly = try await create(#","interval":"month","intervalCount":3"#)
            #expect(quarterly.status == 201)
            #expect(quarterly.int("intervalCount") == 3)
            let price = try await api.stripe(.get, "/v1/prices/\(quarterly.string("stripePriceId"))")
            #expect((price["recurring"] as? [String: Any])?["interval_count"] as? Int == 3)
            // A one-off plan's own price must be a one-time price of its amount and currency.
            let cheaper = try await api.stripe(
                .post, "/v1/prices", form: "currency=usd&unit_amount=500&product_data[name]=Cheaper")
            for wrong in [cheaper.string("id"), monthly.string("id"), "price_missing"] {
                let reply = try await create(#","stripePriceId":"\#(wrong)""#)
                #expect(reply.status == 400 && reply.errorCode == "invalid_request", "\(wrong): \(reply.text)")
            }
            let priced = try await create(#","stripePriceId":"\#(oneTime.string("id"))""#)
            #expect(priced.status == 201, "\(priced.text)")
            let once = try await create("")
            #expect(once.status == 201)
            #expect(once["interval"] is NSNull)
            #expect(once["intervalCount"] is NSNull)
            // A one-off plan's checkout is a payment, not a subscription.
            let (token, _) = try await api.register()
            let checkout = try await api.call(.post, "/api/plans/\(once.string("id"))/checkout", token: token)
            #expect(checkout.status == 201)
            #expect(checkout.string("paymentId") != "")
            #expect(checkout["subscriptionId"] == nil)
        }
    }

    @Test(
        "checkouts left open expire at Stripe when their time comes: the subscription and the order end, stock returns",
        arguments: Backend.available)
    func abandonedCheckoutsExpire(_ backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let plan = try await api.recurringPlan()
            let (token, _, checkout) = try await api.subscribeCheckout(plan)
            let (user, _, product, order) = try await api.orderSetup(inventory: 5, quantity: 2)
            let orderId = order.string("id")
            #expect(try await api.call(.post, "/api/orders/\(orderId)/checkout", token: user).status == 201)
            #expect(try await api.inventory(product) == 3)
            // Two hours at Stripe: both sessions pass their expires_at and the emulator expires them.
            try await api.advanceClock(days: 2.0 / 24)
            try await api.waitForSubscription(token, checkout.string("subscriptionId"), toBe: "INCOMPLETE_EXPIRED")
            try await api.waitForOrder(user, orderId, toBe: "CANCELLED")
            #expect(try await api.inventory(product) == 5)
            #expect(try await api.call(.get, "/healthz").status == 200)
        }
    }

    @Test(
        "events in the shapes of API versions before 2025-03-31 are read; one failed attempt told twice is one failed payment",
        arguments: Backend.available)
    func legacyShapes(_ backend: Backend) async throws {
        try await withTill(backend) { api, till in
            let plan = try await api.recurringPlan()
            let (token, userId, id, stripeId) = try await api.activeSubscription(plan)
            try await api.waitForCredits(token, 100)
            var options = TestEvents.Options.subscription(stripeId, id: id, userId: userId, plan: plan)
            let start = Int(Date().timeIntervalSince1970) + 40 * 86_400
            options.periodStart = start
            options.periodEnd = start + 30 * 86_400
            func legacy(_ type: String, _ change: (inout [String: Any]) -> Void) throws -> String {
                let event = try TestEvents.make(type: type, options: options)
                var json = try #require(
                    try JSONSerialization.jsonObject(with: try StripeJSON.encoder().encode(event)) as? [String: Any])
                json["api_version"] = "2024-06-20"
                var data = try #require(json["data"] as? [String: Any])
                var object = try #require(data["object"] as? [String: Any])
                change(&object)
                data["object"] = object
                json["data"] = data
                return String(decoding: try JSONSerialization.data(withJSONObject: json), as: UTF8.self)
            }
            // A renewal's invoice.paid: `subscription` and `subscription_details` at the top, no `parent`.
            let invoice = try legacy("invoice.paid") { object in
                object["parent"] = nil
                object["subscription"] = stripeId
                object["subscription_details"] = ["metadata": ["subscriptionId": id, "userId": userId, "planId": plan]]
            }
            #expect(try await api.deliver(payload: invoice, secret: till.webhookSecrets[0]).status == 200)
            try await api.waitForCredits(token, 200)
            // One failed attempt at a later invoice, told by two events: one failed payment.
            options.invoiceId = TestEvents.randomId("in")
            for _ in 0..<2 {
                let failed = try TestEvents.make(type: "invoice.payment_failed", options: options)
                #expect(try await api.deliver(failed, secret: till.webhookSecrets[0]).status == 200)
            }
            try await till.processor.drain()
            let failures = try await api.subscriptionPayments(token).filter { $0["status"] as? String == "FAILED" }
            #expect(failures.count == 1, "\(failures)")
            // customer.subscription.updated: the period on the subscription, not on its items.
            let updated = try legacy("customer.subscription.updated") { object in
                var items = object["items"] as? [String: Any] ?? [:]
                items["data"] = (items["data"] as? [[String: Any]] ?? []).map { item in
                    var item = item
                    item["current_period_start"] = nil
                    item["current_period_end"] = nil
                    return item
                }
                object["items"] = items
                object["current_period_start"] = start
                object["current_period_end"] = start + 30 * 86_400
            }
            #expect(try await api.deliver(payload: updated, secret: till.webhookSecrets[0]).status == 200)
            try await eventually(10, "the period from the subscription's own fields") {
                try await api.subscription(token, id).string("currentPeriodEnd")
                    == Timestamps.rfc3339((start + 30 * 86_400) * 1000)
            }
        }
    }

    @Test(
        "a cancel and a resume of one second delivered newest first end as Stripe has it, not as delivered last",
        arguments: Backend.available)
    func sameSecondReportsAreReadBack(_ backend: Backend) async throws {
        try await withTill(backend) { api, till in
            let plan = try await api.recurringPlan()
            let (token, userId, id, stripeId) = try await api.activeSubscription(plan)
            // At Stripe the subscription renews (it was cancelled at period end and resumed in the same second).
            let options = TestEvents.Options.subscription(stripeId, id: id, userId: userId, plan: plan)
            let second = Int(Date().timeIntervalSince1970) + 100
            var cancel = options
            cancel.cancelAtPeriodEnd = true
            let resumed = try TestEvents.make(type: "customer.subscription.updated", options: options, now: second)
            let cancelled = try TestEvents.make(type: "customer.subscription.updated", options: cancel, now: second)
            for event in [resumed, cancelled] {
                #expect(try await api.deliver(event, secret: till.webhookSecrets[0]).status == 200)
            }
            try await till.processor.drain()
            try await eventually(10, "the read-back puts Stripe's answer last") {
                try await api.subscription(token, id)["cancelAtPeriodEnd"] as? Bool == false
            }
        }
    }

    @Test(arguments: Backend.available)
    func concurrentCheckoutsAcrossPlansEndWithOneOpen(_ backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            var plans: [String] = []
            for _ in 0..<4 { plans.append(try await api.recurringPlan()) }
            let (token, _) = try await api.register()
            let replies = try await withThrowingTaskGroup(of: Reply.self) { group in
                for index in 0..<8 {
                    let plan = plans[index % plans.count]
                    group.addTask { try await api.call(.post, "/api/plans/\(plan)/checkout", token: token) }
                }
                return try await group.reduce(into: [Reply]()) { $0.append($1) }
            }
            // Each click closes the one before it in turn: no 503, one checkout left open.
            #expect(replies.allSatisfy { $0.status == 201 || $0.status == 200 }, "\(replies.map(\.text))")
            let open = try await api.call(.get, "/api/subscriptions?status=INCOMPLETE", token: token)
            #expect(open.data.count == 1, "\(open.text)")
        }
    }

    @Test(arguments: Backend.available)
    func cancelNowRacingResumeAnswers409NotAStripeError(_ backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let plan = try await api.recurringPlan()
            for _ in 0..<3 {
                let (token, _, id, _) = try await api.activeSubscription(plan)
                let replies = try await withThrowingTaskGroup(of: Reply.self) { group in
                    group.addTask {
                        try await api.call(
                            .post, "/api/subscriptions/\(id)/cancel", token: token, body: #"{"atPeriodEnd":false}"#)
                    }
                    for index in 0..<6 {
                        group.addTask {
                            index % 2 == 0
                                ? try await api.call(.post, "/api/subscriptions/\(id)/resume", token: token)
                                : try await api.call(.post, "/api/subscriptions/\(id)/cancel", token: token)
                        }
                    }
                    return try await group.reduce(into: [Reply]()) { $0.append($1) }
                }
                // Each change either happened (200) or came after the subscription ended (409), never a 502.
                #expect(
                    replies.allSatisfy { $0.status == 200 || $0.errorCode == "subscription_not_active" },
                    "\(replies.map(\.text))")
                try await api.waitForSubscription(token, id, toBe: "CANCELED")
            }
        }
    }

    @Test(arguments: Backend.available)
    func concurrentCheckoutsOneSessionAndSwitchingPlansClosesTheOld(_ backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let monthly = try await api.recurringPlan()
            let yearly = try await api.recurringPlan(interval: "year")
            let (token, _) = try await api.register()
            // A double (or tenfold) click: one subscription, one session, whoever answers first.
            let replies = try await withThrowingTaskGroup(of: Reply.self) { group in
                for _ in 0..<10 {
                    group.addTask { try await api.call(.post, "/api/plans/\(monthly)/checkout", token: token) }
                }
                return try await group.reduce(into: [Reply]()) { $0.append($1) }
            }
            #expect(replies.allSatisfy { $0.status == 201 || $0.status == 200 }, "\(replies.map(\.text))")
            #expect(Set(replies.map { $0.string("sessionId") }).count == 1)
            #expect(Set(replies.map { $0.string("subscriptionId") }).count == 1)
            let first = replies[0]
            // Another plan: the first checkout is closed at Stripe before the new one opens.
            let other = try await api.call(.post, "/api/plans/\(yearly)/checkout", token: token)
            #expect(other.status == 201, "\(other.text)")
            #expect(other.string("subscriptionId") != first.string("subscriptionId"))
            #expect(
                try await api.subscription(token, first.string("subscriptionId")).string("status")
                    == "INCOMPLETE_EXPIRED")
            let old = try await api.pay(session: first.string("sessionId"))
            #expect(old.status >= 400, "the closed session cannot be paid: \(old.text)")
            // Cancelling a checkout not paid yet ends it.
            let cancelled = try await api.call(
                .post, "/api/subscriptions/\(other.string("subscriptionId"))/cancel", token: token)
            #expect(cancelled.status == 200, "\(cancelled.text)")
            #expect(cancelled.string("status") == "INCOMPLETE_EXPIRED")
            let list = try await api.call(.get, "/api/subscriptions?status=INCOMPLETE_EXPIRED", token: token)
            #expect(list.data.count == 2)
            #expect(try await api.call(.get, "/api/subscriptions?status=LIVE", token: token).status == 400)
        }
    }

    @Test(arguments: Backend.available)
    func aCheckoutLostToAnOutageIsFoundAgainByItsKey(_ backend: Backend) async throws {
        try await withTill(backend, configure: { $0.stripeMaxNetworkRetries = 0 }) { api, _ in
            let plan = try await api.recurringPlan()
            let (token, _) = try await api.register()
            // Stripe answers 500: the subscription is stored, its session unknown.
            try await api.fault(#"{"target":"api","path":"/v1/checkout/sessions","mode":"500","count":1}"#)
            let failed = try await api.call(.post, "/api/plans/\(plan)/checkout", token: token)
            #expect(failed.status == 502, "\(failed.text)")
            let stored = try await api.call(.get, "/api/subscriptions", token: token).data
            #expect(stored.count == 1)
            #expect(stored.first?["status"] as? String == "INCOMPLETE")
            // The next try opens it with the same key: the same subscription, a session made now (201, as for an
            // order), and it can be paid.
            let retry = try await api.call(.post, "/api/plans/\(plan)/checkout", token: token)
            #expect(retry.status == 201, "\(retry.text)")
            #expect(retry.string("subscriptionId") == stored.first?["id"] as? String)
            let again = try await api.call(.post, "/api/plans/\(plan)/checkout", token: token)
            #expect(again.status == 200 && again.string("sessionId") == retry.string("sessionId"))
            #expect(try await api.pay(session: retry.string("sessionId")).status == 200)
            try await api.waitForSubscription(token, retry.string("subscriptionId"), toBe: "ACTIVE")
            #expect(try await api.call(.get, "/api/subscriptions", token: token).data.count == 1)
        }
    }

    @Test(arguments: Backend.available)
    func refundingASubscriptionPaymentKeepsCreditsAndSubscription(_ backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let plan = try await api.recurringPlan()
            let (token, _, checkout) = try await api.subscribeCheckout(plan)
            let id = checkout.string("subscriptionId")
            #expect(try await api.pay(session: checkout.string("sessionId")).status == 200)
            try await api.waitForCredits(token, 100)
            let payment = try #require(try await api.subscriptionPayments(token).first)
            let paymentId = try #require(payment["id"] as? String)
            let admin = try await api.adminToken()
            let refund = try await api.call(
                .post, "/api/payments/\(paymentId)/refund", token: admin, body: #"{"amount":300}"#)
            #expect(refund.status == 202, "\(refund.text)")
            try await eventually(10, "the refund reported by Stripe") {
                try await api.payment(token, paymentId).string("status") == "PARTIALLY_REFUNDED"
            }
            #expect(try await api.payment(token, paymentId).int("amountRefunded") == 300)
            #expect(try await api.payment(token, paymentId).string("paymentIntentId").hasPrefix("pi_"))
            #expect(try await api.me(token).int("creditBalance") == 100)
            #expect(try await api.subscription(token, id).string("status") == "ACTIVE")
        }
    }
}

/// Hand-made, signed, Stripe-shaped events about one subscription, in every order and many copies at once.
@Suite("Subscription webhooks")
struct SubscriptionWebhookTests {
    /// Options for events about `subscription` (Till's id) as Stripe's `stripeId`.
    static func options(_ subscription: String, _ stripeId: String, invoice: String? = nil, period: Int = 0)
        -> TestEvents.Options
    {
        var o = TestEvents.Options(amount: 900)
        o.subscriptionId = stripeId
        o.invoiceId = invoice
        o.subscriptionMetadata = ["subscriptionId": subscription]
        o.periodStart = 1_800_000_000 + period * 30 * 86_400
        o.periodEnd = 1_800_000_000 + (period + 1) * 30 * 86_400
        return o
    }

    @Test(arguments: Backend.available)
    func everyOrderingOfARenewal(_ backend: Backend) async throws {
        try await withTill(backend) { api, till in
            let secret = till.webhookSecrets[0]
            let plan = try await api.recurringPlan()
            let t0 = 1_800_000_000
            let t1 = t0 + 30 * 86_400
            // The renewal's events: the period moves on, its invoice is paid (twice, as Stripe may deliver).
            let renewal = ["customer.subscription.updated", "invoice.paid", "invoice.paid"]
            for (n, order) in [[0, 1, 2], [1, 0, 2], [1, 2, 0]].enumerated() {
                let (token, _, checkout) = try await api.subscribeCheckout(plan)
                let id = checkout.string("subscriptionId")
                let stripeId = "sub_order\(n)\(UUID().uuidString.prefix(6))"
                // The first period: the invoice is paid before Stripe says anything else.
                for type in ["invoice.paid", "customer.subscription.created"] {
                    let event = try TestEvents.make(
                        type: type, options: Self.options(id, stripeId, invoice: "in_first\(n)\(id.prefix(6))"), now: t0
                    )
                    #expect(try await api.deliver(event, secret: secret).status == 200)
                }
                try await api.waitForSubscription(token, id, toBe: "ACTIVE")
                let events = try renewal.map {
                    try TestEvents.make(
                        type: $0,
                        options: Self.options(id, stripeId, invoice: "in_second\(n)\(id.prefix(6))", period: 1),
                        now: t1)
                }
                for index in order { #expect(try await api.deliver(events[index], secret: secret).status == 200) }
                try await api.waitForCredits(token, 200)
                let renewedEnd = TillServer.Subscription.rfc3339(t1 + 30 * 86_400)
                try await eventually(10, "the renewal applied (order \(order))") {
                    let s = try await api.subscription(token, id)
                    return s.string("status") == "ACTIVE" && s.string("currentPeriodEnd") == renewedEnd
                }
                try await Task.sleep(for: .milliseconds(200))
                #expect(try await api.me(token).int("creditBalance") == 200, "order \(order)")
                #expect(try await api.subscriptionPayments(token).count == 2, "order \(order)")
            }
        }
    }

    @Test(arguments: Backend.available)
    func deletedBeforeTheLastPaidInvoiceAndFiftyCopies(_ backend: Backend) async throws {
        try await withTill(backend) { api, till in
            let secret = till.webhookSecrets[0]
            let plan = try await api.recurringPlan()
            let (token, _, checkout) = try await api.subscribeCheckout(plan)
            let id = checkout.string("subscriptionId")
            let stripeId = "sub_" + UUID().uuidString.prefix(12)
            let t0 = 1_800_000_000
            let created = try TestEvents.make(
                type: "customer.subscription.created", options: Self.options(id, stripeId), now: t0)
            #expect(try await api.deliver(created, secret: secret).status == 200)
            try await api.waitForSubscription(token, id, toBe: "ACTIVE")
            #expect(try await api.me(token).string("planId") == plan)
            #expect(try await api.me(token).int("creditBalance") == 0)  // credits come from paid invoices only

            // 50 deliveries of one invoice.paid at once, half of them copies of one event, half Stripe's resends
            // under new event ids: one payment, one grant.
            let paid = try TestEvents.make(
                type: "invoice.paid", options: Self.options(id, stripeId, invoice: "in_" + stripeId), now: t0)
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for copy in 0..<50 {
                    var event = paid
                    if copy % 2 == 1 { event.id = "evt_copy\(copy)_" + stripeId }
                    group.addTask { try await api.deliver(event, secret: secret).status }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses.allSatisfy { $0 == 200 })
            try await api.waitForCredits(token, 100)
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await api.me(token).int("creditBalance") == 100)
            #expect(try await api.subscriptionPayments(token).count == 1)

            // Cancelled at the period's end: the deletion comes before the news of the last invoice.
            let t1 = t0 + 30 * 86_400
            let deleted = try TestEvents.make(
                type: "customer.subscription.deleted", options: Self.options(id, stripeId), now: t1)
            #expect(try await api.deliver(deleted, secret: secret).status == 200)
            try await api.waitForSubscription(token, id, toBe: "CANCELED")
            #expect(try await api.me(token)["planId"] is NSNull)
            let lastPaid = try TestEvents.make(
                type: "invoice.paid", options: Self.options(id, stripeId, invoice: "in_last" + stripeId), now: t1 - 60)
            #expect(try await api.deliver(lastPaid, secret: secret).status == 200)
            try await api.waitForCredits(token, 200)  // the money was taken: its credits are due
            // An old update after the end changes nothing: CANCELED is final, the plan stays cleared.
            let stale = try TestEvents.make(
                type: "customer.subscription.updated", options: Self.options(id, stripeId), now: t0 + 60)
            #expect(try await api.deliver(stale, secret: secret).status == 200)
            try await Task.sleep(for: .milliseconds(300))
            let ended = try await api.subscription(token, id)
            #expect(ended.string("status") == "CANCELED")
            #expect(ended["endedAt"] is String)
            #expect(try await api.me(token)["planId"] is NSNull)
            #expect(try await api.subscriptionPayments(token).count == 2)
        }
    }
}
