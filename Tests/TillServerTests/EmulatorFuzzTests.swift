import Foundation
import HTTPTypes
import StripeAPI
import Testing

@testable import StripeEmulator

/// Random bodies against every route: malformed, deep, huge, wrong types, huge and negative numbers, `NaN`, unknown
/// ids. Every answer must be a 2xx or a 4xx in Stripe's error shape, and the process must stay up (a trap would end
/// the test run). Seeded, so a failure can be replayed; `EMULATOR_FUZZ_ROUNDS` (default 150 a seed) runs longer.
@Suite("Stripe emulator fuzz")
struct EmulatorFuzzTests {

    static let names = [
        "amount", "currency", "unit_amount", "quantity", "price", "product", "product_data", "price_data", "line_items",
        "mode", "success_url", "cancel_url", "metadata", "expires_at", "payment_method", "confirm", "capture_method",
        "limit", "starting_after", "expand", "payment_intent", "charge", "url", "enabled_events", "name", "email",
        "customer", "return_url", "automatic_payment_methods", "enabled", "invoice_settings", "default_payment_method",
        "amount_to_capture", "reason", "description", "payment_intent_data", "client_reference_id", "type",
        "recurring", "interval", "interval_count", "subscription_data", "cancel_at_period_end", "frozen_time",
        "test_clock", "subscription", "invoice", "status",
    ]

    static let values = [
        "", "0", "1", "-1", "1999", "99999999", "100000000", "9223372036854775807", "-9223372036854775808",
        "99999999999999999999999999", "1.5", "1e3", "1e400", "NaN", "nan", "Infinity", "-Infinity", "0x10", "true",
        "false",
        "usd", "jpy", "kwd", "USD", "xyz", "payment", "subscription", "setup", "manual", "automatic_async",
        "pm_card_visa", "pm_card_chargeDeclined", "pm_card_authenticationRequired", "pm_nope", "pi_nope", "ch_nope",
        "cs_test_nope", "price_nope", "prod_nope", "cus_nope", "txn_nope", "javascript:alert(1)",
        "https://shop.test/ok",
        "http://", "<script>alert(1)</script>", "%", "%zz", "%ff%fe", "😀", "latest_charge", "customer",
        "data.balance_transaction", "payment_intent.latest_charge", "nope.nope", "day", "week", "month", "year",
        "all", "past_due", "canceled", "latest_invoice", "data.payment.payment_intent", "253402300799",
        "253402300800", "sub_nope", "in_nope", "clock_nope",
    ]

    static let routes: [(HTTPRequest.Method, String)] = [
        (.post, "/v1/payment_intents"), (.get, "/v1/payment_intents"), (.get, "/v1/payment_intents/{pi}"),
        (.post, "/v1/payment_intents/{pi}"), (.post, "/v1/payment_intents/{pi}/confirm"),
        (.post, "/v1/payment_intents/{pi}/cancel"), (.post, "/v1/payment_intents/{pi}/capture"),
        (.post, "/v1/checkout/sessions"), (.get, "/v1/checkout/sessions"), (.get, "/v1/checkout/sessions/{cs}"),
        (.get, "/v1/checkout/sessions/{cs}/line_items"), (.post, "/v1/checkout/sessions/{cs}/expire"),
        (.post, "/v1/test_helpers/checkout/sessions/{cs}/complete"), (.post, "/v1/products"), (.get, "/v1/products"),
        (.get, "/v1/products/{prod}"), (.post, "/v1/prices"), (.get, "/v1/prices"), (.get, "/v1/prices/{price}"),
        (.post, "/v1/refunds"), (.get, "/v1/refunds"), (.get, "/v1/refunds/{re}"), (.get, "/v1/charges/{ch}"),
        (.get, "/v1/charges"), (.get, "/v1/events"), (.get, "/v1/events/{evt}"), (.post, "/v1/webhook_endpoints"),
        (.get, "/v1/webhook_endpoints"), (.get, "/v1/webhook_endpoints/{we}"), (.delete, "/v1/webhook_endpoints/{we}"),
        (.post, "/v1/customers"), (.get, "/v1/customers"), (.get, "/v1/customers/{cus}"),
        (.post, "/v1/customers/{cus}"),
        (.get, "/v1/payment_methods/{pm}"), (.post, "/v1/payment_methods/{pm}/attach"),
        (.get, "/v1/balance_transactions/{txn}"), (.get, "/v1/balance_transactions"),
        (.get, "/v1/subscriptions"), (.get, "/v1/subscriptions/{sub}"), (.post, "/v1/subscriptions/{sub}"),
        (.delete, "/v1/subscriptions/{sub}"), (.get, "/v1/invoices"), (.get, "/v1/invoices/{in}"),
        (.get, "/v1/invoice_payments"), (.post, "/v1/test_helpers/test_clocks"),
        (.get, "/v1/test_helpers/test_clocks/{clock}"), (.post, "/v1/test_helpers/test_clocks/{clock}/advance"),
        (.post, "/v1/billing_portal/sessions"),
    ]

    func key(_ rng: inout SplitMix) -> String {
        var key = Self.names.randomElement(using: &rng)!
        if Int.random(in: 0..<10, using: &rng) == 0 {
            key = String((0..<Int.random(in: 0...12, using: &rng)).map { _ in "ab[]=%&x".randomElement(using: &rng)! })
        }
        let depth = [0, 0, 0, 1, 1, 2, 3, 5, 9, 10, 11, 30].randomElement(using: &rng)!
        for _ in 0..<depth {
            key += [
                "[]", "[0]", "[1]", "[-1]", "[99999999999999999999]", "[\(Self.names.randomElement(using: &rng)!)]",
                "[", "]",
            ]
            .randomElement(using: &rng)!
        }
        return key
    }

    func value(_ rng: inout SplitMix, ids: [String: String]) -> String {
        switch Int.random(in: 0..<20, using: &rng) {
        case 0: return String(repeating: "9", count: Int.random(in: 1...5000, using: &rng))
        case 1: return String(Int.random(in: Int.min...Int.max, using: &rng))
        case 2: return ids.values.randomElement(using: &rng) ?? ""
        default: return formEscape(Self.values.randomElement(using: &rng)!)
        }
    }

    func body(_ rng: inout SplitMix, ids: [String: String]) -> String {
        switch Int.random(in: 0..<25, using: &rng) {
        case 0: return "a" + String(repeating: "[]", count: Int.random(in: 11...50_000, using: &rng)) + "=1"
        case 1: return (0..<Int.random(in: 900...1500, using: &rng)).map { "k\($0)=v" }.joined(separator: "&")
        case 2: return String(repeating: "&=&==&[", count: Int.random(in: 1...3000, using: &rng))
        case 3:
            return String(
                (0..<Int.random(in: 0...400, using: &rng)).map { _ in
                    Character(Unicode.Scalar(UInt8.random(in: 0...255, using: &rng)))
                })
        default:
            return (0..<Int.random(in: 0...14, using: &rng)).map { _ in "\(key(&rng))=\(value(&rng, ids: ids))" }
                .joined(separator: "&")
        }
    }

    @Test("random requests to every route answer 2xx or a 4xx in Stripe's error shape", arguments: [1, 2, 3, 4])
    func fuzz(seed: UInt64) async throws {
        try await EmulatorHarness.run { stripe in
            var rng = SplitMix(seed: seed)
            // Real objects, so that bodies reach past the id lookups.
            var ids: [String: String] = [:]
            ids["prod"] = try await stripe.call(.post, "/v1/products", "name=Tea").string("id")
            ids["price"] = try await stripe.call(
                .post, "/v1/prices", "currency=usd&unit_amount=500&product=\(ids["prod"]!)"
            ).string("id")
            ids["pi"] = try await stripe.call(.post, "/v1/payment_intents", "amount=1000&currency=usd").string("id")
            let paid = try await stripe.call(
                .post, "/v1/payment_intents", "amount=1000&currency=usd&payment_method=pm_card_visa&confirm=true")
            ids["ch"] = paid.string("latest_charge")
            ids["cs"] = try await stripe.session().string("id")
            ids["we"] = try await stripe.call(
                .post, "/v1/webhook_endpoints", "url=https%3A%2F%2Fshop.test%2Fhook&enabled_events[]=*"
            ).string("id")
            ids["re"] = try await stripe.call(.post, "/v1/refunds", "payment_intent=\(paid.string("id"))&amount=1")
                .string("id")
            // Billing: a subscription on a test clock.
            ids["clock"] = try await stripe.call(.post, "/v1/test_helpers/test_clocks", "frozen_time=1800000000")
                .string("id")
            let monthly = try await stripe.call(
                .post, "/v1/prices", "currency=usd&unit_amount=500&product=\(ids["prod"]!)&recurring[interval]=day"
            ).string("id")
            let subscriber = try await stripe.call(.post, "/v1/customers", "test_clock=\(ids["clock"]!)").string("id")
            let subSession = try await stripe.call(
                .post, "/v1/checkout/sessions",
                "mode=subscription&customer=\(subscriber)&line_items[0][price]=\(monthly)&line_items[0][quantity]=1&success_url=https%3A%2F%2Fshop.test%2Fok"
            ).string("id")
            let subscribed = try await stripe.call(
                .post, "/v1/test_helpers/checkout/sessions/\(subSession)/complete", "payment_method=pm_card_visa")
            ids["sub"] = subscribed.string("subscription")
            ids["in"] = subscribed.string("invoice")
            ids["evt"] = try await stripe.call(.get, "/v1/events", "limit=1").json.flatMap {
                ($0["data"] as? [[String: Any]])?.first?["id"] as? String
            }
            var statuses: [Int: Int] = [:]
            let rounds = ProcessInfo.processInfo.environment["EMULATOR_FUZZ_ROUNDS"].flatMap { Int($0) } ?? 150
            for _ in 0..<rounds {
                let (method, template) = Self.routes.randomElement(using: &rng)!
                var path = template
                for (name, id) in ids {
                    let use = Int.random(in: 0..<4, using: &rng) == 0 ? "\(name)_nope%00" : id
                    path = path.replacingOccurrences(of: "{\(name)}", with: use)
                }
                path = path.replacingOccurrences(
                    of: "{pm}", with: ["pm_card_visa", "pm_nope", "pm_card_mastercard"].randomElement(using: &rng)!)
                path = path.replacingOccurrences(of: "{cus}", with: "cus_nope").replacingOccurrences(
                    of: "{txn}", with: "txn_nope")
                let form = body(&rng, ids: ids)
                let reply = try await stripe.call(method, path, form)
                statuses[reply.status, default: 0] += 1
                #expect(
                    (200..<500).contains(reply.status),
                    "\(method) \(path) \(form.prefix(300)) → \(reply.status) \(reply.text.prefix(300))")
                if reply.status >= 400 {
                    #expect(reply.isStripeError, "\(method) \(path) \(form.prefix(300)) → \(reply.text.prefix(300))")
                }
            }
            // Still serving, and still right.
            let after = try await stripe.call(
                .post, "/v1/payment_intents", "amount=1999&currency=usd&payment_method=pm_card_visa&confirm=true")
            #expect(after.status == 200)
            #expect(after.string("status") == "succeeded")
            #expect((statuses[400] ?? 0) > 0)
        }
    }

    @Test("a body over 1 MiB is a 413 in Stripe's shape")
    func hugeBody() async throws {
        try await EmulatorHarness.run { stripe in
            let reply = try await stripe.call(
                .post, "/v1/products", "name=" + String(repeating: "x", count: 1 << 20 + 10))
            #expect(reply.status == 413)
            #expect(reply.isStripeError)
        }
    }
}
