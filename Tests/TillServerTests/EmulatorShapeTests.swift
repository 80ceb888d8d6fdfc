import Foundation
import StripeAPI
import Testing

@testable import StripeEmulator

/// Every resource the emulator serves, made through the API as an SDK would, has every key of Stripe's fixture for
/// it (`stripe-fixtures3.json`), recursively, with the same JSON type. Where the emulator sends `null` and the
/// fixture a value, the difference is listed below with its reason; the test fails on any other.
@Suite("Stripe emulator: objects shaped like Stripe's")
struct EmulatorShapeTests {
    static let fixtures: [String: JSONValue] = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("StripeAPITests/Fixtures/stripe-fixtures3.json")
        guard let data = try? Data(contentsOf: url), let root = try? JSONDecoder().decode(JSONValue.self, from: data),
            case .object(let resources)? = root["resources"]
        else { return [:] }
        return resources
    }()

    /// Fields Stripe leaves `null` for the objects the emulator makes (a card payment in `payment` mode, no Connect,
    /// no shipping, no tax, no discounts), which the fixture fills because it shows every field set.
    static let deliberateNulls: [String: Set<String>] = [
        // A one-time price: no recurring interval, no quantity transform, no customer-chosen amount.
        "price": ["recurring", "transform_quantity", "custom_unit_amount"],
        "item": ["price.recurring", "price.transform_quantity", "price.custom_unit_amount", "adjustable_quantity"],
        // Made without default_price_data or package dimensions.
        "product": ["default_price", "package_dimensions"],
        // Succeeded without an error, an action, a cancellation, shipping, Connect or Managed Payments.
        "payment_intent": [
            "canceled_at", "last_payment_error", "next_action", "processing", "shipping", "transfer_data",
            "managed_payments",
        ],
        // A PaymentIntent's charge has no legacy source; no wallet, installments, 3D Secure (checked in its own test),
        // shipping or Connect transfer; no name was collected.
        "charge": [
            "source", "transfer_data", "shipping", "billing_details.name", "payment_method_details.card.wallet",
            "payment_method_details.card.installments", "payment_method_details.card.three_d_secure",
        ],
        // Completed (so `url` is null), payment mode, no consent, shipping, tax liability, currency conversion,
        // custom text, saved methods, Managed Payments or invoice.
        "checkout.session": [
            "url", "consent", "consent_collection", "after_expiration", "automatic_tax.liability",
            "collected_information",
            "currency_conversion", "custom_text.after_submit", "custom_text.shipping_address", "custom_text.submit",
            "custom_text.terms_of_service_acceptance", "invoice_creation.invoice_data.issuer",
            "invoice_creation.invoice_data.rendering_options", "managed_payments",
            "payment_method_configuration_details",
            "saved_payment_method_options", "shipping_address_collection", "shipping_cost",
        ],
        // Made with an email and a name only: no address, shipping, discount, currency (set by a first invoice).
        "customer": ["address", "shipping", "discount", "currency", "invoice_settings.rendering_options"],
        // A subscription from Checkout, set to cancel at period end (so `cancel_at`, `canceled_at` are set), not yet
        // ended; classic billing mode, no trial, no pause, no pending update, no thresholds, no tax, no Connect, no
        // Managed Payments; its price is a plain per-unit recurring one (no transform, no custom amount).
        "subscription": [
            "ended_at", "billing_cycle_anchor_config", "next_pending_invoice_item_invoice", "billing_thresholds",
            "transfer_data", "payment_settings.payment_method_options", "trial_end", "trial_start",
            "billing_mode.flexible", "managed_payments", "items.data[].billing_thresholds",
            "items.data[].plan.transform_usage", "pending_update", "automatic_tax.liability",
            "items.data[].price.transform_quantity", "items.data[].price.custom_unit_amount", "pause_collection",
            "pending_invoice_item_interval",
        ],
        // A paid subscription invoice charged automatically: no due date, next attempt, address, shipping, tax,
        // finalization error, quote, revision source, proration, custom rendering; webhooks not tracked.
        "invoice": [
            "automatic_tax.liability", "customer_address", "customer_shipping", "due_date", "from_invoice",
            "last_finalization_error", "lines.data[].parent.invoice_item_details",
            "lines.data[].parent.subscription_item_details.proration_details.credited_items", "next_payment_attempt",
            "parent.quote_details", "payment_settings.payment_method_options", "rendering", "shipping_cost",
            "shipping_details", "webhooks_delivered_at",
        ],
        // A portal session opened without a deep-link flow.
        "billing_portal.session": ["flow"],
        // A test card: no billing details collected, not generated from another payment, no wallet.
        "payment_method": [
            "billing_details.address.city", "billing_details.address.country", "billing_details.address.line1",
            "billing_details.address.postal_code", "billing_details.address.state", "billing_details.email",
            "billing_details.phone", "card.generated_from", "card.wallet",
        ],
    ]

    static func made(_ stripe: EmulatorHarness) async throws -> [String: JSONValue] {
        func json(_ reply: EmulatorHarness.Reply) throws -> JSONValue {
            #expect(reply.status == 200, "\(reply.text.prefix(400))")
            return try JSONDecoder().decode(JSONValue.self, from: Data(reply.text.utf8))
        }
        var made: [String: JSONValue] = [:]
        let product = try json(try await stripe.call(.post, "/v1/products", "name=Tea&description=Green%20tea"))
        made["product"] = product
        made["price"] = try json(
            try await stripe.call(
                .post, "/v1/prices", "currency=usd&unit_amount=1999&product=\(product["id"]!.string!)"))
        let customer = try json(try await stripe.call(.post, "/v1/customers", "email=jenny%40example.com&name=Jenny"))
        let customerId = customer["id"]!.string!
        let method = try json(
            try await stripe.call(.post, "/v1/payment_methods/pm_card_visa/attach", "customer=\(customerId)"))
        made["payment_method"] = method
        made["customer"] = try json(
            try await stripe.call(
                .post, "/v1/customers/\(customerId)",
                "invoice_settings[default_payment_method]=\(method["id"]!.string!)"))
        let intent = try json(
            try await stripe.call(
                .post, "/v1/payment_intents",
                "amount=1999&currency=usd&customer=\(customerId)&payment_method=\(method["id"]!.string!)&confirm=true&receipt_email=jenny%40example.com&description=Order%201"
            ))
        made["payment_intent"] = intent
        let chargeId = intent["latest_charge"]!.string!
        let refund = try json(try await stripe.call(.post, "/v1/refunds", "charge=\(chargeId)&amount=500"))
        made["refund"] = refund
        made["charge"] = try json(try await stripe.call(.get, "/v1/charges/\(chargeId)"))
        let charge = made["charge"]!
        made["balance_transaction"] = try json(
            try await stripe.call(.get, "/v1/balance_transactions/\(charge["balance_transaction"]!.string!)"))
        let session = try await stripe.session(
            "&cancel_url=https%3A%2F%2Fshop.test%2Fcancel&customer_email=jenny%40example.com")
        let sessionId = session.string("id")
        made["checkout.session"] = try json(
            try await stripe.call(
                .post, "/v1/test_helpers/checkout/sessions/\(sessionId)/complete", "payment_method=pm_card_visa"))
        let lines = try json(try await stripe.call(.get, "/v1/checkout/sessions/\(sessionId)/line_items"))
        if case .array(let items)? = lines["data"] { made["item"] = items.first }
        made["webhook_endpoint"] = try json(
            try await stripe.call(
                .post, "/v1/webhook_endpoints", "url=https%3A%2F%2Fshop.test%2Fhook&enabled_events[]=*&description=Shop"
            ))
        // Billing: a customer on a test clock subscribes through Checkout, then sets the subscription to cancel.
        let clock = try json(try await stripe.call(.post, "/v1/test_helpers/test_clocks", "frozen_time=1800000000"))
        made["test_helpers.test_clock"] = clock
        let monthly = try json(
            try await stripe.call(
                .post, "/v1/prices",
                "currency=usd&unit_amount=900&product=\(product["id"]!.string!)&recurring[interval]=month"))
        let subscriber = try json(
            try await stripe.call(
                .post, "/v1/customers", "email=sam%40example.com&name=Sam&test_clock=\(clock["id"]!.string!)"))
        let subscriberId = subscriber["id"]!.string!
        let subSession = try json(
            try await stripe.call(
                .post, "/v1/checkout/sessions",
                "mode=subscription&customer=\(subscriberId)&line_items[0][price]=\(monthly["id"]!.string!)&line_items[0][quantity]=1"
                    + "&success_url=https%3A%2F%2Fshop.test%2Fok&subscription_data[metadata][userId]=u1"))
        let subDone = try json(
            try await stripe.call(
                .post, "/v1/test_helpers/checkout/sessions/\(subSession["id"]!.string!)/complete",
                "payment_method=pm_card_visa"))
        let subscriptionId = subDone["subscription"]!.string!
        made["subscription"] = try json(
            try await stripe.call(.post, "/v1/subscriptions/\(subscriptionId)", "cancel_at_period_end=true"))
        let invoice = try json(try await stripe.call(.get, "/v1/invoices/\(subDone["invoice"]!.string!)"))
        made["invoice"] = invoice
        let invoicePayments = try json(
            try await stripe.call(.get, "/v1/invoice_payments", "invoice=\(invoice["id"]!.string!)"))
        made["invoice_payment"] = invoicePayments["data"]?[0]
        made["billing_portal.session"] = try json(
            try await stripe.call(
                .post, "/v1/billing_portal/sessions",
                "customer=\(subscriberId)&return_url=https%3A%2F%2Fshop.test%2Faccount"))
        let events = try json(try await stripe.call(.get, "/v1/events", "limit=1"))
        if case .array(let items)? = events["data"] { made["event"] = items.first }
        return made
    }

    /// Keys at every depth (lists counted once).
    static func count(_ value: JSONValue) -> Int {
        switch value {
        case .object(let fields): fields.count + fields.values.reduce(0) { $0 + count($1) }
        case .array(let items): items.first.map(count) ?? 0
        default: 0
        }
    }

    static func clearingMetadata(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let fields):
            var out: [String: JSONValue] = [:]
            for (key, field) in fields {
                out[key] = key == "metadata" && field != .null ? [:] : clearingMetadata(field)
            }
            return .object(out)
        case .array(let items): return .array(items.map(clearingMetadata))
        default: return value
        }
    }

    @Test("every key and JSON type of Stripe's fixture, for every resource the emulator serves")
    func shapes() async throws {
        #expect(Self.fixtures.count > 100)
        try await EmulatorHarness.run { stripe in
            let made = try await Self.made(stripe)
            var report: [String] = []
            for resource in made.keys.sorted() {
                let fixture = try #require(Self.fixtures[resource])
                var ours = try #require(made[resource])
                var fixtureShape = fixture
                if resource == "event" {
                    // The fixture's event carries a plan; the shapes of the objects in events are checked above.
                    if case .object(var f) = fixtureShape {
                        f["data"] = ["object": [:]]
                        fixtureShape = .object(f)
                    }
                    if case .object(var o) = ours {
                        o["data"] = ["object": [:]]
                        ours = .object(o)
                    }
                }
                // `metadata` is the caller's map: its keys are data, not shape.
                fixtureShape = Self.clearingMetadata(fixtureShape)
                let diff = fixtureShape.shapeDifferences(ours)
                #expect(diff.missing == [], "\(resource) lacks \(diff.missing)")
                #expect(diff.types == [], "\(resource) types differ: \(diff.types)")
                #expect(
                    Set(diff.nulls) == Self.deliberateNulls[resource] ?? [],
                    "\(resource) nulls: \(diff.nulls.map { "\"\($0)\"" }.joined(separator: ", "))")
                guard case .object(let keys) = fixture else { continue }
                report.append(
                    "\(resource): \(keys.count) top-level keys, \(Self.count(fixture)) keys in all, \(diff.missing.count) missing, "
                        + "\(diff.types.count) type differences, \(diff.nulls.count) deliberate nulls")
            }
            print(report.joined(separator: "\n"))
            #expect(made.count == 17)
        }
    }
}
