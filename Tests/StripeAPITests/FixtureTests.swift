import Foundation
import StripeAPI
import Testing

/// Stripe's canonical objects (`Fixtures/stripe-fixtures3.json`, the shapes of the API version Till pins) decode into
/// StripeAPI's types, and encode again with every key, each with the JSON type Stripe gave it.
@Suite("Stripe fixtures")
struct FixtureTests {
    static let fixtures: [String: JSONValue] = {
        let url = Bundle.module.url(forResource: "stripe-fixtures3", withExtension: "json", subdirectory: "Fixtures")!
        let root = try! JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: url))
        guard case .object(let resources)? = root["resources"] else { return [:] }
        return resources
    }()

    static func roundTrip<T: Codable>(_ type: T.Type, _ resource: String) throws -> (
        fixture: JSONValue, again: JSONValue
    ) {
        let fixture = try #require(fixtures[resource])
        let data = try StripeJSON.encoder().encode(fixture)
        let decoded = try StripeJSON.decoder().decode(T.self, from: data)
        let again = try JSONDecoder().decode(JSONValue.self, from: StripeJSON.encoder().encode(decoded))
        return (fixture, again)
    }

    static let resources: [String] = [
        "product", "price", "payment_intent", "charge", "refund", "checkout.session", "item", "webhook_endpoint",
        "event", "dispute", "customer", "payment_method", "balance_transaction", "subscription", "invoice",
        "invoice_payment", "test_helpers.test_clock", "billing_portal.session",
    ]

    @Test("each fixture decodes and encodes again with every key and type kept", arguments: resources)
    func fixture(resource: String) throws {
        let (fixture, again): (JSONValue, JSONValue)
        switch resource {
        case "product": (fixture, again) = try Self.roundTrip(Product.self, resource)
        case "price": (fixture, again) = try Self.roundTrip(Price.self, resource)
        case "payment_intent": (fixture, again) = try Self.roundTrip(PaymentIntent.self, resource)
        case "charge": (fixture, again) = try Self.roundTrip(Charge.self, resource)
        case "refund": (fixture, again) = try Self.roundTrip(Refund.self, resource)
        case "checkout.session": (fixture, again) = try Self.roundTrip(CheckoutSession.self, resource)
        case "item": (fixture, again) = try Self.roundTrip(LineItem.self, resource)
        case "webhook_endpoint": (fixture, again) = try Self.roundTrip(WebhookEndpoint.self, resource)
        case "event": (fixture, again) = try Self.roundTrip(Event.self, resource)
        case "dispute": (fixture, again) = try Self.roundTrip(Dispute.self, resource)
        case "customer": (fixture, again) = try Self.roundTrip(Customer.self, resource)
        case "payment_method": (fixture, again) = try Self.roundTrip(PaymentMethod.self, resource)
        case "balance_transaction": (fixture, again) = try Self.roundTrip(BalanceTransaction.self, resource)
        case "subscription": (fixture, again) = try Self.roundTrip(Subscription.self, resource)
        case "invoice": (fixture, again) = try Self.roundTrip(Invoice.self, resource)
        case "invoice_payment": (fixture, again) = try Self.roundTrip(InvoicePayment.self, resource)
        case "test_helpers.test_clock": (fixture, again) = try Self.roundTrip(TestClock.self, resource)
        case "billing_portal.session": (fixture, again) = try Self.roundTrip(BillingPortalSession.self, resource)
        default:
            Issue.record("no type for \(resource)")
            return
        }
        let diff = fixture.shapeDifferences(again)
        #expect(diff.missing == [], "keys lost: \(diff.missing)")
        #expect(diff.types == [], "types changed: \(diff.types)")
        #expect(diff.nulls == [], "values lost: \(diff.nulls)")
    }

    @Test("Billing objects read their fields where the pinned API version puts them")
    func billingFields() throws {
        func decode<T: Decodable>(_ type: T.Type, _ resource: String) throws -> T {
            try StripeJSON.decoder().decode(
                T.self, from: StripeJSON.encoder().encode(try #require(Self.fixtures[resource])))
        }
        let sub = try decode(Subscription.self, "subscription")
        #expect(sub.id == "sub_1Pgc6rB7WZ01zgkWNy0Cn5nw")
        #expect(sub.status == .active)
        #expect(sub.customer == "cus_QXg1o8vcGmoR32")
        #expect(sub.cancelAtPeriodEnd)
        #expect(sub.currentPeriodStart == 1_896_570_518)
        #expect(sub.currentPeriodEnd == 976_287_773)
        #expect(sub.priceId == "price_1PgafmB7WZ01zgkW6dKueIc5")
        let invoice = try decode(Invoice.self, "invoice")
        #expect(invoice.subscription == "subscription")
        #expect(invoice.status == .draft)
        #expect(invoice.amountDue == 1000)
        #expect(invoice.linePeriod?.end == 1_721_954_054)
        let payment = try decode(InvoicePayment.self, "invoice_payment")
        #expect(payment.invoice == "invoice")
        #expect(payment.amountRequested == 1_112_626_247)
        let clock = try decode(TestClock.self, "test_helpers.test_clock")
        #expect(clock.frozenTime == 1_234_567_890)
        let portal = try decode(BillingPortalSession.self, "billing_portal.session")
        #expect(portal.returnURL == "https://example.com/account")
        #expect(portal.customer == "cus_QXg1o8vcGmoR32")
    }

    @Test("TestEvents' billing events carry the subscription where Stripe puts it")
    func billingTestEvents() throws {
        var options = TestEvents.Options(amount: 900)
        options.subscriptionId = "sub_1"
        options.invoiceId = "in_1"
        options.subscriptionMetadata = ["userId": "u1"]
        for type in ["invoice.paid", "invoice.payment_failed"] {
            let event = try TestEvents.make(type: type, options: options, now: 1_800_000_000)
            let again = try StripeJSON.decoder().decode(Event.self, from: StripeJSON.encoder().encode(event))
            let invoice = try StripeJSON.decoder().decode(
                Invoice.self, from: StripeJSON.encoder().encode(try #require(again.data.rawObject)))
            #expect(again.type.rawValue == type)
            #expect(invoice.id == "in_1")
            #expect(invoice.subscription == "sub_1")
            #expect(invoice.subscriptionMetadata == ["userId": "u1"])
            #expect(invoice.status == (type == "invoice.paid" ? .paid : .open))
            #expect(invoice.amountPaid == (type == "invoice.paid" ? 900 : 0))
        }
        for (type, status) in [
            ("customer.subscription.created", Subscription.Status.active),
            ("customer.subscription.updated", .active), ("customer.subscription.deleted", .canceled),
        ] {
            let event = try TestEvents.make(type: type, options: options, now: 1_800_000_000)
            let sub = try StripeJSON.decoder().decode(
                Subscription.self, from: StripeJSON.encoder().encode(try #require(event.data.rawObject)))
            #expect(sub.id == "sub_1")
            #expect(sub.status == status)
            #expect(sub.currentPeriodEnd == 1_800_000_000 - 60 + 30 * 86_400)
            let fixture = try #require(Self.fixtures["subscription"])
            #expect(fixture.shapeDifferences(JSONValue.from(sub)).missing == [])
        }
    }

    @Test("the comparison finds a lost key, a changed type and a lost value")
    func comparisonCanFail() {
        let fixture: JSONValue = ["a": 1, "b": ["c": "x"], "d": [["e": true]], "f": nil]
        let ours: JSONValue = ["a": "1", "b": [:], "d": [["e": nil]], "f": 3]
        let diff = fixture.shapeDifferences(ours)
        #expect(diff.missing == ["b.c"])
        #expect(diff.types == ["a: number vs string"])
        #expect(diff.nulls == ["d[].e"])
    }

    @Test("Till pins the API version of the fixtures")
    func version() {
        #expect(StripeConfiguration.pinnedAPIVersion == "2026-04-22.dahlia")
    }
}
