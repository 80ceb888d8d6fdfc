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

    /// StripeAPI's type for each fixture.
    static let types: [String: any Codable.Type] = [
        "product": Product.self, "price": Price.self, "payment_intent": PaymentIntent.self, "charge": Charge.self,
        "refund": Refund.self, "checkout.session": CheckoutSession.self, "item": LineItem.self,
        "webhook_endpoint": WebhookEndpoint.self, "event": Event.self, "dispute": Dispute.self,
        "customer": Customer.self, "payment_method": PaymentMethod.self,
        "balance_transaction": BalanceTransaction.self, "subscription": Subscription.self, "invoice": Invoice.self,
        "invoice_payment": InvoicePayment.self, "test_helpers.test_clock": TestClock.self,
        "billing_portal.session": BillingPortalSession.self,
    ]

    static let resources: [String] = types.keys.sorted()

    /// The fixture decoded into its StripeAPI type.
    static func decoded(_ resource: String) throws -> any Codable {
        let type = try #require(types[resource], "no type for \(resource)")
        let fixture = try #require(fixtures[resource])
        return try StripeJSON.decoder().decode(type, from: StripeJSON.encoder().encode(fixture))
    }

    @Test("each fixture decodes and encodes again with every key and type kept", arguments: resources)
    func fixture(resource: String) throws {
        let fixture = try #require(Self.fixtures[resource])
        let again = try JSONDecoder().decode(JSONValue.self, from: StripeJSON.encode(try Self.decoded(resource)))
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
