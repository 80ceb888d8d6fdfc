import Foundation
import HTTPTypes
import NIOCore
import StripeAPI
import Testing

@testable import StripeEmulator

/// Stripe Billing in the emulator: Checkout in `subscription` mode, renewals as time moves, failed renewals and the
/// retry schedule, cancellation at period end, resume, and the Customer Portal.
@Suite("Stripe emulator: subscriptions, invoices, clocks and the portal")
struct EmulatorBillingTests {
    static let day = 86_400

    struct Subscribed {
        let customer: String
        let subscription: String
        let session: [String: Any]
    }

    /// A customer (on `clock` when given) subscribed to a recurring price through Checkout's test helper.
    static func subscribe(
        _ stripe: EmulatorHarness, card: String = "pm_card_visa", amount: Int = 900, interval: String = "month",
        count: Int = 1, clock: String? = nil, metadata: String = "&subscription_data[metadata][userId]=u1"
    ) async throws -> Subscribed {
        let product = try await stripe.call(.post, "/v1/products", "name=Pro")
        let price = try await stripe.call(
            .post, "/v1/prices",
            "currency=usd&unit_amount=\(amount)&product=\(product.string("id"))&recurring[interval]=\(interval)&recurring[interval_count]=\(count)"
        )
        #expect(price.status == 200, "\(price.text)")
        let customer = try await stripe.call(
            .post, "/v1/customers", "email=jenny%40example.com" + (clock.map { "&test_clock=\($0)" } ?? ""))
        #expect(customer.status == 200, "\(customer.text)")
        let session = try await stripe.call(
            .post, "/v1/checkout/sessions",
            "mode=subscription&customer=\(customer.string("id"))&line_items[0][price]=\(price.string("id"))&line_items[0][quantity]=1"
                + "&success_url=https%3A%2F%2Fshop.test%2Fok&cancel_url=https%3A%2F%2Fshop.test%2Fno" + metadata)
        #expect(session.status == 200, "\(session.text)")
        let done = try await stripe.call(
            .post, "/v1/test_helpers/checkout/sessions/\(session.string("id"))/complete", "payment_method=\(card)")
        #expect(done.status == 200, "\(done.text)")
        return Subscribed(
            customer: customer.string("id"), subscription: done.string("subscription"), session: done.json ?? [:])
    }

    static func json(_ reply: EmulatorHarness.Reply) -> JSONValue {
        (try? JSONDecoder().decode(JSONValue.self, from: Data(reply.text.utf8))) ?? nil
    }

    static func subscription(_ stripe: EmulatorHarness, _ id: String) async throws -> Subscription {
        try JSONDecoder().decode(
            Subscription.self, from: Data(try await stripe.call(.get, "/v1/subscriptions/\(id)").text.utf8))
    }

    static func invoices(_ stripe: EmulatorHarness, _ sub: String) async throws -> [Invoice] {
        let list = try await stripe.call(.get, "/v1/invoices", "subscription=\(sub)&limit=100")
        return try JSONDecoder().decode(StripeList<Invoice>.self, from: Data(list.text.utf8)).data
    }

    /// Every event so far, oldest first: type, `created` and `data.object`.
    static func eventTypes(_ stripe: EmulatorHarness) async throws -> [(type: String, created: Int, object: JSONValue)]
    {
        let table = await stripe.emulator.state.events
        var all = ListQuery()
        all.limit = 100_000
        return try table.page(all).items.reversed().map {
            ($0.type.rawValue, $0.created, JSONValue.from($0)["data"]?["object"] ?? nil)
        }
    }

    static func clock(_ stripe: EmulatorHarness, at time: Int) async throws -> String {
        let clock = try await stripe.call(.post, "/v1/test_helpers/test_clocks", "frozen_time=\(time)&name=Renewals")
        #expect(clock.status == 200, "\(clock.text)")
        return clock.string("id")
    }

    static func advance(_ stripe: EmulatorHarness, clock: String, to time: Int) async throws {
        let reply = try await stripe.call(.post, "/v1/test_helpers/test_clocks/\(clock)/advance", "frozen_time=\(time)")
        #expect(reply.status == 200, "\(reply.text)")
    }

    @Test(
        "paying a subscription-mode session makes an active subscription, its first invoice paid, and Stripe's events")
    func subscribe() async throws {
        try await EmulatorHarness.run { stripe in
            let start = 1_800_000_000
            let clock = try await Self.clock(stripe, at: start)
            let made = try await Self.subscribe(stripe, clock: clock)
            #expect(made.session["mode"] as? String == "subscription")
            #expect(made.session["status"] as? String == "complete")
            #expect(made.subscription.hasPrefix("sub_"))
            let sub = try await Self.subscription(stripe, made.subscription)
            #expect(sub.status == .active)
            #expect(sub.customer == made.customer)
            #expect(sub.metadata == ["userId": "u1"])
            #expect(sub.currentPeriodStart == start)
            #expect(sub.currentPeriodEnd == start + 31 * Self.day)  // 2027-01-15 → 2027-02-15
            #expect(sub.testClock == clock)
            let invoices = try await Self.invoices(stripe, made.subscription)
            #expect(invoices.count == 1)
            let invoice = try #require(invoices.first)
            #expect(invoice.status == .paid)
            #expect(invoice.amountPaid == 900)
            #expect(invoice.billingReason == "subscription_create")
            #expect(invoice.subscription == made.subscription)
            #expect(invoice.subscriptionMetadata == ["userId": "u1"])
            #expect(sub.latestInvoice == invoice.id)
            #expect(made.session["invoice"] as? String == invoice.id)
            let payments = try await stripe.call(.get, "/v1/invoice_payments", "invoice=\(invoice.id)")
            let list = try JSONDecoder().decode(StripeList<InvoicePayment>.self, from: Data(payments.text.utf8)).data
            #expect(list.count == 1)
            #expect(list.first?.status == "paid")
            #expect(list.first?.amountPaid == 900)
            let intent = try await stripe.call(.get, "/v1/payment_intents/\(list.first?.paymentIntent ?? "none")")
            #expect(intent.string("status") == "succeeded")
            #expect(intent.string("customer") == made.customer)
            #expect(intent.json?["created"] as? Int == start, "the first payment is made at the test clock's time")

            let expanded = try await stripe.call(
                .get, "/v1/subscriptions/\(made.subscription)", "expand[]=latest_invoice&expand[]=customer")
            #expect(Self.json(expanded)["latest_invoice"]?["object"] == "invoice")
            #expect(Self.json(expanded)["customer"]?["id"]?.string == made.customer)
            let paymentExpanded = try await stripe.call(
                .get, "/v1/invoice_payments", "invoice=\(invoice.id)&expand[]=data.payment.payment_intent")
            #expect(Self.json(paymentExpanded)["data"]?[0]?["payment"]?["payment_intent"]?["status"] == "succeeded")

            let types = try await Self.eventTypes(stripe).map(\.type)
            let wanted = [
                "customer.subscription.created", "invoice.created", "invoice.finalized", "invoice.paid",
                "checkout.session.completed",
            ]
            let positions = wanted.map { types.firstIndex(of: $0) ?? -1 }
            #expect(!positions.contains(-1), "\(types)")
            #expect(positions == positions.sorted(), "\(types)")
            let completed = try await Self.eventTypes(stripe).last { $0.type == "checkout.session.completed" }
            #expect(completed?.object["subscription"]?.string == made.subscription)
            // Objects on the test clock carry its time, and so do their events.
            let created = try await Self.eventTypes(stripe).first { $0.type == "customer.subscription.created" }
            #expect(created?.created == start)
        }
    }

    @Test("the hosted page says what is billed and how often; a recurring price cannot go in payment mode")
    func hostedPageAndModes() async throws {
        try await EmulatorHarness.run { stripe in
            let product = try await stripe.call(.post, "/v1/products", "name=Pro")
            let price = try await stripe.call(
                .post, "/v1/prices",
                "currency=usd&unit_amount=900&product=\(product.string("id"))&recurring[interval]=week&recurring[interval_count]=2"
            )
            #expect(Self.json(price)["recurring"]?["interval"] == "week")
            #expect(Self.json(price)["type"] == "recurring")
            let session = try await stripe.call(
                .post, "/v1/checkout/sessions",
                "mode=subscription&line_items[0][price]=\(price.string("id"))&line_items[0][quantity]=1&success_url=https%3A%2F%2Fshop.test%2Fok"
            )
            let page = try await stripe.page("/checkout/\(session.string("id"))")
            #expect(page.text.contains("then 9.00 USD every 2 weeks"))
            // Paying on the page: a declined card shows the error and leaves no subscription; then 4242 subscribes,
            // with one customer made from the email typed.
            let declined = try await Self.post(
                stripe, "/checkout/\(session.string("id"))",
                "email=sam%40example.com&cardnumber=4000000000000002&expiry=12%2F40&cvc=123")
            #expect(declined.text.contains("Your card was declined."))
            #expect(try await stripe.emulator.state.subscriptions.count == 0)
            let paid = try await Self.post(
                stripe, "/checkout/\(session.string("id"))",
                "email=sam%40example.com&cardnumber=4242424242424242&expiry=12%2F40&cvc=123")
            #expect(paid.status == 303)
            let done = try await stripe.call(.get, "/v1/checkout/sessions/\(session.string("id"))")
            #expect(done.string("status") == "complete")
            let sub = try await Self.subscription(stripe, done.string("subscription"))
            #expect(sub.status == .active)
            let customers = try await stripe.call(.get, "/v1/customers", "email=sam%40example.com")
            #expect(Self.json(customers)["data"]?[0] != nil && Self.json(customers)["data"]?[1] == nil)
            #expect(sub.customer == done.string("customer"))
            let payment = try await stripe.call(
                .post, "/v1/checkout/sessions",
                "mode=payment&line_items[0][price]=\(price.string("id"))&line_items[0][quantity]=1&success_url=https%3A%2F%2Fshop.test%2Fok"
            )
            #expect(payment.status == 400)
            for bad in ["recurring[interval]=fortnight", "recurring[interval]=month&recurring[interval_count]=13"] {
                let reply = try await stripe.call(
                    .post, "/v1/prices", "currency=usd&unit_amount=900&product=\(product.string("id"))&\(bad)")
                #expect(reply.status == 400, "\(bad)")
            }
        }
    }

    @Test("advancing the emulator's own clock past the period end renews: a new invoice paid, the period moved")
    func renewOwnClock() async throws {
        try await EmulatorHarness.run { stripe in
            let made = try await Self.subscribe(stripe, interval: "day")
            let before = try await Self.subscription(stripe, made.subscription)
            let end = try #require(before.currentPeriodEnd)
            let eventsBefore = try await Self.eventTypes(stripe).count
            let reply = try await stripe.call(.post, "/_emulator/clock/advance", #"{"seconds": 90000}"#)
            #expect(reply.status == 200, "\(reply.text)")
            let after = try await Self.subscription(stripe, made.subscription)
            #expect(after.status == .active)
            #expect(after.currentPeriodStart == end)
            #expect(after.currentPeriodEnd == end + Self.day)
            let invoices = try await Self.invoices(stripe, made.subscription)
            #expect(invoices.count == 2)
            #expect(invoices.first?.billingReason == "subscription_cycle")
            #expect(invoices.first?.status == .paid)
            #expect(invoices.first?.linePeriod?.start == end)
            #expect(after.latestInvoice == invoices.first?.id)
            let new = try await Self.eventTypes(stripe).dropFirst(eventsBefore)
            let types = new.map(\.type)
            for type in ["invoice.created", "customer.subscription.updated", "invoice.finalized", "invoice.paid"] {
                #expect(types.contains(type), "\(types)")
            }
            #expect(types.firstIndex(of: "invoice.created")! < types.firstIndex(of: "invoice.paid")!)
            // The renewal happened at the period end, in the emulator's time.
            #expect(new.first { $0.type == "invoice.paid" }?.created == end)
            let updated = new.first { $0.type == "customer.subscription.updated" }
            #expect(updated?.object["items"]?["data"]?[0]?["current_period_end"]?.int == end + Self.day)
            // Without an sk_test_ key, or with a nonsense amount of time, the clock does not move.
            let nokey = try await stripe.client.executeRequest(
                uri: "/_stripe/_emulator/clock/advance", method: .post, headers: [:],
                body: .init(string: #"{"seconds": 5}"#))
            #expect(nokey.status.code == 401)
            for body in [#"{"seconds": -5}"#, #"{"seconds": 99999999999}"#, "{}", #"{"seconds": 1e400}"#] {
                let bad = try await stripe.call(.post, "/_emulator/clock/advance", body)
                #expect(bad.status == 400, "\(body)")
            }
        }
    }

    @Test("a failing card on renewal: past_due, retried 3, 5 and 7 days after the first failure, then canceled")
    func failingRenewal() async throws {
        try await EmulatorHarness.run { stripe in
            let start = 1_800_000_000
            let clock = try await Self.clock(stripe, at: start)
            let made = try await Self.subscribe(stripe, clock: clock)
            let failing = try await stripe.call(
                .post, "/v1/payment_methods/pm_card_chargeCustomerFail/attach", "customer=\(made.customer)")
            #expect(failing.status == 200, "attaching the failing card works: \(failing.text)")
            let set = try await stripe.call(
                .post, "/v1/subscriptions/\(made.subscription)", "default_payment_method=\(failing.string("id"))")
            #expect(set.status == 200, "\(set.text)")
            let end = try #require(try await Self.subscription(stripe, made.subscription).currentPeriodEnd)

            try await Self.advance(stripe, clock: clock, to: end + 60)
            var sub = try await Self.subscription(stripe, made.subscription)
            #expect(sub.status == .pastDue)
            var invoice = try #require(try await Self.invoices(stripe, made.subscription).first)
            #expect(invoice.status == .open)
            #expect(invoice.attemptCount == 1)
            #expect(invoice.nextPaymentAttempt == end + 3 * Self.day)
            let intent = try await stripe.call(
                .get, "/v1/payment_intents/\(try #require(try await Self.paymentIntent(stripe, invoice.id)))")
            #expect(Self.json(intent)["last_payment_error"]?["code"] == "card_declined")
            #expect(Self.json(intent)["created"]?.int == end, "made at the test clock's time")

            for (attempt, next) in [(2, end + 5 * Self.day), (3, end + 7 * Self.day)] {
                try await Self.advance(stripe, clock: clock, to: (invoice.nextPaymentAttempt ?? 0) + 1)
                invoice = try #require(try await Self.invoices(stripe, made.subscription).first)
                #expect(invoice.attemptCount == attempt)
                #expect(invoice.nextPaymentAttempt == next)
                #expect(try await Self.subscription(stripe, made.subscription).status == .pastDue)
            }
            try await Self.advance(stripe, clock: clock, to: end + 7 * Self.day + 1)
            sub = try await Self.subscription(stripe, made.subscription)
            #expect(sub.status == .canceled)
            #expect(sub.endedAt == end + 7 * Self.day)
            invoice = try #require(try await Self.invoices(stripe, made.subscription).first)
            #expect(invoice.attemptCount == 4)
            #expect(invoice.nextPaymentAttempt == nil)
            let events = try await Self.eventTypes(stripe)
            #expect(
                events.filter { $0.type == "invoice.payment_failed" }.map(\.created) == [
                    end, end + 3 * Self.day, end + 5 * Self.day, end + 7 * Self.day,
                ])
            #expect(events.last?.type == "customer.subscription.deleted")
            #expect(events.contains { $0.type == "customer.subscription.updated" && $0.object["status"] == "past_due" })
            // Nothing more happens to it, however far the clock goes.
            try await Self.advance(stripe, clock: clock, to: end + 400 * Self.day)
            #expect(try await Self.invoices(stripe, made.subscription).count == 2)
        }
    }

    static func paymentIntent(_ stripe: EmulatorHarness, _ invoice: String) async throws -> String? {
        let payments = try await stripe.call(.get, "/v1/invoice_payments", "invoice=\(invoice)")
        return try JSONDecoder().decode(StripeList<InvoicePayment>.self, from: Data(payments.text.utf8)).data.first?
            .paymentIntent
    }

    @Test("a past_due subscription whose card is changed pays at the next retry and is active again")
    func retryPaysAfterCardChange() async throws {
        try await EmulatorHarness.run { stripe in
            let start = 1_800_000_000
            let clock = try await Self.clock(stripe, at: start)
            let made = try await Self.subscribe(stripe, clock: clock)
            let failing = try await stripe.call(
                .post, "/v1/payment_methods/4000000000000341/attach", "customer=\(made.customer)")
            _ = try await stripe.call(
                .post, "/v1/subscriptions/\(made.subscription)", "default_payment_method=\(failing.string("id"))")
            let end = try #require(try await Self.subscription(stripe, made.subscription).currentPeriodEnd)
            try await Self.advance(stripe, clock: clock, to: end + 60)
            #expect(try await Self.subscription(stripe, made.subscription).status == .pastDue)
            let good = try await stripe.call(
                .post, "/v1/payment_methods/pm_card_visa/attach", "customer=\(made.customer)")
            _ = try await stripe.call(
                .post, "/v1/subscriptions/\(made.subscription)", "default_payment_method=\(good.string("id"))")
            try await Self.advance(stripe, clock: clock, to: end + 3 * Self.day + 1)
            let sub = try await Self.subscription(stripe, made.subscription)
            #expect(sub.status == .active)
            let invoice = try #require(try await Self.invoices(stripe, made.subscription).first)
            #expect(invoice.status == .paid)
            #expect(invoice.attemptCount == 2)
        }
    }

    @Test("cancel at period end: active until the end, then canceled with no new invoice; resume renews")
    func cancelAtPeriodEndAndResume() async throws {
        try await EmulatorHarness.run { stripe in
            let start = 1_800_000_000
            let clock = try await Self.clock(stripe, at: start)
            let ending = try await Self.subscribe(stripe, clock: clock)
            let resumed = try await Self.subscribe(stripe, clock: clock)
            for made in [ending, resumed] {
                let reply = try await stripe.call(
                    .post, "/v1/subscriptions/\(made.subscription)", "cancel_at_period_end=true")
                #expect(Self.json(reply)["cancel_at_period_end"] == true)
                #expect(Self.json(reply)["status"] == "active")
            }
            let end = try #require(try await Self.subscription(stripe, ending.subscription).currentPeriodEnd)
            #expect(try await Self.subscription(stripe, ending.subscription).cancelAt == end)
            let resume = try await stripe.call(
                .post, "/v1/subscriptions/\(resumed.subscription)", "cancel_at_period_end=false")
            #expect(Self.json(resume)["cancel_at"] == .null)
            try await Self.advance(stripe, clock: clock, to: end - 60)
            #expect(try await Self.subscription(stripe, ending.subscription).status == .active)
            try await Self.advance(stripe, clock: clock, to: end + 60)
            let ended = try await Self.subscription(stripe, ending.subscription)
            #expect(ended.status == .canceled)
            #expect(ended.endedAt == end)
            #expect(try await Self.invoices(stripe, ending.subscription).count == 1)
            let renewed = try await Self.subscription(stripe, resumed.subscription)
            #expect(renewed.status == .active)
            #expect(renewed.currentPeriodStart == end)
            #expect(try await Self.invoices(stripe, resumed.subscription).count == 2)
            let deleted = try await Self.eventTypes(stripe).filter { $0.type == "customer.subscription.deleted" }
            #expect(deleted.map { $0.object["id"]?.string } == [ending.subscription])
            // Listing: canceled ones only with status=all or status=canceled.
            let live = try await stripe.call(.get, "/v1/subscriptions", "customer=\(ending.customer)")
            #expect(Self.json(live)["data"] == [])
            let all = try await stripe.call(.get, "/v1/subscriptions", "customer=\(ending.customer)&status=all")
            #expect(Self.json(all)["data"]?[0]?["id"]?.string == ending.subscription)
            let again = try await stripe.call(
                .post, "/v1/subscriptions/\(ending.subscription)", "cancel_at_period_end=false")
            #expect(again.status == 400)
        }
    }

    @Test("DELETE cancels now and sends customer.subscription.deleted; a second DELETE is refused")
    func cancelNow() async throws {
        try await EmulatorHarness.run { stripe in
            let made = try await Self.subscribe(stripe)
            let reply = try await stripe.call(.delete, "/v1/subscriptions/\(made.subscription)")
            #expect(Self.json(reply)["status"] == "canceled")
            #expect(Self.json(reply)["ended_at"]?.int != nil)
            #expect(try await Self.eventTypes(stripe).last?.type == "customer.subscription.deleted")
            #expect(try await stripe.call(.delete, "/v1/subscriptions/\(made.subscription)").status == 400)
            #expect(try await stripe.call(.get, "/v1/subscriptions/sub_nope").status == 404)
            _ = try await stripe.call(.post, "/_emulator/clock/advance", #"{"seconds": 5000000}"#)
            #expect(try await Self.invoices(stripe, made.subscription).count == 1)
        }
    }

    @Test("one advance processes a bounded number of periods, and a clock cannot go back")
    func boundedAdvance() async throws {
        try await EmulatorHarness.run { stripe in
            let clock = try await Self.clock(stripe, at: 1_800_000_000)
            let made = try await Self.subscribe(stripe, interval: "day", clock: clock)
            let far = try await stripe.call(
                .post, "/v1/test_helpers/test_clocks/\(clock)/advance", "frozen_time=\(EmulatorState.latestTime)")
            #expect(far.status == 200)
            #expect(Self.json(far)["frozen_time"]?.int == EmulatorState.latestTime)
            let count = try await stripe.emulator.state.invoices.count
            #expect(count == 1 + EmulatorState.maxBillingStepsPerAdvance)
            #expect(try await Self.subscription(stripe, made.subscription).status == .active)
            let back = try await stripe.call(
                .post, "/v1/test_helpers/test_clocks/\(clock)/advance", "frozen_time=1800000000")
            #expect(back.status == 400)
            for bad in ["frozen_time=99999999999999999999", "frozen_time=-1", "frozen_time=abc"] {
                #expect(try await stripe.call(.post, "/v1/test_helpers/test_clocks", bad).status == 400, "\(bad)")
            }
        }
    }

    @Test("the Customer Portal: cancel at period end, resume and change the card, each with its events")
    func portal() async throws {
        try await EmulatorHarness.run { stripe in
            let made = try await Self.subscribe(stripe)
            let bad = try await stripe.call(
                .post, "/v1/billing_portal/sessions", "customer=\(made.customer)&return_url=javascript%3Aalert(1)")
            #expect(bad.status == 400)
            #expect(bad.errorCode == "url_invalid")
            let session = try await stripe.call(
                .post, "/v1/billing_portal/sessions",
                "customer=\(made.customer)&return_url=https%3A%2F%2Fshop.test%2Faccount")
            #expect(session.string("object") == "billing_portal.session")
            let url = session.string("url")
            let path = String(url.dropFirst("http://localhost:8080/_stripe".count))
            let page = try await stripe.page(path)
            #expect(page.status == 200)
            #expect(page.text.contains("Cancel at period end"))
            #expect(page.text.contains("9.00 USD every month"))
            #expect(page.text.contains("Visa ending in 4242"))
            #expect(page.text.contains("https://shop.test/account"))
            let csp = page.headers[.contentSecurityPolicy] ?? ""
            #expect(csp.contains("default-src 'none'") && !csp.contains("unsafe-inline"))
            #expect(!page.text.contains("<script"))

            let cancel = try await Self.post(stripe, path + "/subscriptions/\(made.subscription)/cancel")
            #expect(cancel.status == 303)
            #expect(try await Self.subscription(stripe, made.subscription).cancelAtPeriodEnd)
            #expect(try await stripe.page(path).text.contains("Resume subscription"))
            _ = try await Self.post(stripe, path + "/subscriptions/\(made.subscription)/resume")
            #expect(try await !Self.subscription(stripe, made.subscription).cancelAtPeriodEnd)
            let updates = try await Self.eventTypes(stripe).filter { $0.type == "customer.subscription.updated" }
            #expect(updates.map { $0.object["cancel_at_period_end"] } == [true, false])

            let change = try await Self.post(stripe, path + "/payment-method", "cardnumber=4000+0000+0000+0341")
            #expect(change.status == 303)
            let customer = try await stripe.call(.get, "/v1/customers/\(made.customer)")
            let pm = try #require(Self.json(customer)["invoice_settings"]?["default_payment_method"]?.string)
            #expect(try await Self.subscription(stripe, made.subscription).defaultPaymentMethod == pm)
            let method = try await stripe.call(.get, "/v1/payment_methods/\(pm)")
            #expect(Self.json(method)["card"]?["last4"] == "0341")
            #expect(try await stripe.page(path).text.contains("ending in 0341"))
            let unknownCard = try await Self.post(stripe, path + "/payment-method", "cardnumber=1234")
            #expect(unknownCard.status == 400)
            #expect(
                try await Self.post(stripe, "/portal/bps_nope/subscriptions/\(made.subscription)/cancel").status == 404)
            // Another customer's portal cannot touch this subscription.
            let other = try await stripe.call(.post, "/v1/customers", "email=other%40example.com")
            let otherSession = try await stripe.call(
                .post, "/v1/billing_portal/sessions", "customer=\(other.string("id"))")
            let otherPath = String(otherSession.string("url").dropFirst("http://localhost:8080/_stripe".count))
            _ = try await Self.post(stripe, otherPath + "/subscriptions/\(made.subscription)/cancel")
            #expect(try await !Self.subscription(stripe, made.subscription).cancelAtPeriodEnd)
        }
    }

    @Test("POST /v1/subscriptions charges the customer's default card; renewals follow that default when it changes")
    func createThroughAPI() async throws {
        try await EmulatorHarness.run { stripe in
            let clock = try await Self.clock(stripe, at: 1_800_000_000)
            let product = try await stripe.call(.post, "/v1/products", "name=Pro")
            let price = try await stripe.call(
                .post, "/v1/prices",
                "currency=usd&unit_amount=1500&product=\(product.string("id"))&recurring[interval]=week")
            let oneTime = try await stripe.call(
                .post, "/v1/prices", "currency=usd&unit_amount=1500&product=\(product.string("id"))")
            let customer = try await stripe.call(.post, "/v1/customers", "test_clock=\(clock)").string("id")
            let none = try await stripe.call(
                .post, "/v1/subscriptions", "customer=\(customer)&items[0][price]=\(price.string("id"))")
            #expect(none.status == 400, "no payment method yet")
            let visa = try await stripe.call(.post, "/v1/payment_methods/pm_card_visa/attach", "customer=\(customer)")
            _ = try await stripe.call(
                .post, "/v1/customers/\(customer)", "invoice_settings[default_payment_method]=\(visa.string("id"))")
            let wrong = try await stripe.call(
                .post, "/v1/subscriptions", "customer=\(customer)&items[0][price]=\(oneTime.string("id"))")
            #expect(wrong.status == 400)
            let made = try await stripe.call(
                .post, "/v1/subscriptions",
                "customer=\(customer)&items[0][price]=\(price.string("id"))&items[0][quantity]=2&metadata[planId]=p1")
            #expect(made.status == 200, "\(made.text)")
            let sub = try await Self.subscription(stripe, made.string("id"))
            #expect(sub.status == .active && sub.defaultPaymentMethod == nil && sub.metadata == ["planId": "p1"])
            let first = try #require(try await Self.invoices(stripe, sub.id).first)
            #expect(first.status == .paid && first.amountPaid == 3000)

            let failing = try await stripe.call(
                .post, "/v1/payment_methods/pm_card_chargeCustomerFail/attach", "customer=\(customer)")
            _ = try await stripe.call(
                .post, "/v1/customers/\(customer)", "invoice_settings[default_payment_method]=\(failing.string("id"))")
            try await Self.advance(stripe, clock: clock, to: (sub.currentPeriodEnd ?? 0) + 1)
            #expect(try await Self.subscription(stripe, sub.id).status == .pastDue)

            let declined = try await stripe.call(
                .post, "/v1/subscriptions", "customer=\(customer)&items[0][price]=\(price.string("id"))")
            #expect(declined.status == 402)
            #expect(declined.errorCode == "card_declined")
            let list = try await stripe.call(.get, "/v1/subscriptions", "customer=\(customer)&status=all")
            #expect(Self.json(list)["data"]?[1] == nil, "the declined one left no subscription")
        }
    }

    static func post(_ stripe: EmulatorHarness, _ path: String, _ form: String = "") async throws
        -> EmulatorHarness.Reply
    {
        let response = try await stripe.client.executeRequest(
            uri: "/_stripe" + path, method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
            body: .init(string: form))
        return .init(status: Int(response.status.code), headers: response.headers, text: String(buffer: response.body))
    }
}
