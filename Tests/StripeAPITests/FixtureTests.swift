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
        "event", "dispute", "customer", "payment_method", "balance_transaction",
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
        default:
            Issue.record("no type for \(resource)")
            return
        }
        let diff = fixture.shapeDifferences(again)
        #expect(diff.missing == [], "keys lost: \(diff.missing)")
        #expect(diff.types == [], "types changed: \(diff.types)")
        #expect(diff.nulls == [], "values lost: \(diff.nulls)")
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
