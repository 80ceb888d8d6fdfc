import Foundation
import StripeAPI
import Testing

@_spi(Bench) @testable import TillServer

extension API {
    /// A user with an order of `quantity` of a fresh product.
    func orderSetup(unitAmount: Int = 1999, inventory: Int = 10, quantity: Int = 2, currency: String = "usd")
        async throws -> (user: String, admin: String, product: String, order: Reply)
    {
        let admin = try await adminToken()
        let product = try await createProduct(
            admin: admin, unitAmount: unitAmount, currency: currency, inventory: inventory)
        let (user, _) = try await register()
        let order = try await order(user, [(product, quantity)])
        #expect(order.status == 201)
        return (user, admin, product, order)
    }

    func orderStatus(_ token: String, _ orderId: String) async throws -> String {
        try await call(.get, "/api/orders/\(orderId)", token: token).string("status")
    }

    func payment(_ token: String, _ paymentId: String) async throws -> Reply {
        try await call(.get, "/api/payments/\(paymentId)", token: token)
    }

    /// Pays a session as the hosted page would, with the emulator's test helper.
    func pay(session: String, with method: String = "pm_card_visa") async throws -> Reply {
        try await stripe(
            .post, "/v1/test_helpers/checkout/sessions/\(session)/complete", form: "payment_method=\(method)")
    }

    func waitForOrder(_ token: String, _ orderId: String, toBe status: String, seconds: Double = 10) async throws {
        try await eventually(seconds, "order \(orderId) to be \(status)") {
            try await orderStatus(token, orderId) == status
        }
    }

    /// POSTs a Stripe-shaped event signed with Till's webhook secret.
    func deliver(_ event: Event, secret: String) async throws -> Reply {
        try await deliver(
            payload: String(decoding: try StripeJSON.encoder(pretty: true).encode(event), as: UTF8.self), secret: secret
        )
    }

    /// POSTs any payload, signed with Till's webhook secret.
    func deliver(payload: String, secret: String) async throws -> Reply {
        let header = WebhookSignature.header(
            payload: Data(payload.utf8), secret: secret, timestamp: Int(Date().timeIntervalSince1970))
        return try await call(.post, "/api/webhooks/stripe", body: payload, headers: ["Stripe-Signature": header])
    }

    /// Until the order has a payment stored (a checkout's, before its call to Stripe is answered).
    func waitForPayment(_ token: String, _ orderId: String) async throws {
        try await eventually(10, "order \(orderId) to have a payment") {
            let reply = try await call(.get, "/api/orders/\(orderId)/payment", token: token)
            return !((reply["payments"] as? [Any]) ?? []).isEmpty
        }
    }

    /// The emulator's Checkout Session or PaymentIntent (`kind`: `checkout/sessions`, `payment_intents`) made for
    /// an order, found by its metadata.
    func stripeObject(_ kind: String, orderId: String) async throws -> [String: Any]? {
        try await stripe(.get, "/v1/\(kind)", form: "limit=100").data.first {
            ($0["metadata"] as? [String: Any])?["orderId"] as? String == orderId
        }
    }

    func fault(_ json: String) async throws {
        let reply = try await call(.post, "/_stripe/_emulator/faults", body: json)
        #expect(reply.status == 200, "\(reply.text)")
    }

    /// Faults still armed (none once they have all fired).
    func armedFaults() async throws -> Int {
        try await call(.get, "/_stripe/_emulator/faults").json.count
    }
}
