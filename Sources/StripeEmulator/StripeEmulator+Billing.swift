import Foundation
import Hummingbird
import NIOCore
import StripeAPI

/// Stripe Billing's API: subscriptions, invoices, invoice payments, test clocks and Customer Portal sessions; and
/// `POST /_emulator/clock/advance`, which moves the emulator's own time.
extension StripeEmulator {
    func addBillingRoutes<Router: RouterMethods>(to v1: Router) {
        v1.get("subscriptions") { r, c in
            await self.api(r, c) { call in
                let status = try Params.oneOf(
                    call.params["status"],
                    [
                        "active", "all", "canceled", "ended", "incomplete", "incomplete_expired", "past_due", "paused",
                        "trialing", "unpaid",
                    ], param: "status")
                let customer = try Params.string(call.params["customer"], param: "customer")
                return try await self.list(call, "/v1/subscriptions") { query in
                    try await self.state.subscriptions(query, customer: customer, status: status)
                }
            }
        }
        v1.post("subscriptions") { r, c in
            await self.api(r, c) { call in try await self.state.createSubscription(call.params, call.info) }
        }
        v1.get("subscriptions/:id") { r, c in
            await self.api(r, c) { call in try await self.state.subscription(call.id) }
        }
        v1.post("subscriptions/:id") { r, c in
            await self.api(r, c) { call in try await self.state.updateSubscription(call.id, call.params, call.info) }
        }
        v1.delete("subscriptions/:id") { r, c in
            await self.api(r, c) { call in try await self.state.cancelSubscription(call.id, call.info) }
        }
        v1.get("invoices") { r, c in
            await self.api(r, c) { call in
                let status = try Params.oneOf(
                    call.params["status"], ["draft", "open", "paid", "uncollectible", "void"], param: "status")
                let customer = try Params.string(call.params["customer"], param: "customer")
                let subscription = try Params.string(call.params["subscription"], param: "subscription")
                return try await self.list(call, "/v1/invoices") { query in
                    try await self.state.invoices(query, customer: customer, subscription: subscription, status: status)
                }
            }
        }
        v1.get("invoices/:id") { r, c in await self.api(r, c) { call in try await self.state.invoice(call.id) } }
        // The lists an invoice's `lines.url` and a subscription's `items.url` name.
        v1.get("invoices/:id/lines") { r, c in
            await self.api(r, c) { call in
                let lines = try await self.state.invoice(call.id).fields["lines"]?["data"]
                return try await self.list(call, "/v1/invoices/\(call.id)/lines") { query in
                    try query.page(of: lines?.items ?? [], id: { $0["id"]?.string })
                }
            }
        }
        v1.get("subscription_items") { r, c in
            await self.api(r, c) { call in
                guard let id = try Params.string(call.params["subscription"], param: "subscription") else {
                    throw EmulatorError.missing("subscription")
                }
                let items = try await self.state.subscription(id).fields["items"]?["data"]
                return try await self.list(call, "/v1/subscription_items?subscription=\(id)") { query in
                    try query.page(of: items?.items ?? [], id: { $0["id"]?.string })
                }
            }
        }
        v1.get("invoice_payments") { r, c in
            await self.api(r, c) { call in
                try await self.list(call, "/v1/invoice_payments") { query in
                    try await self.state.invoicePayments(
                        query, invoice: call.params["invoice"]?.string)
                }
            }
        }
        v1.get("invoice_payments/:id") { r, c in
            await self.api(r, c) { call in try await self.state.invoicePayment(call.id) }
        }
        v1.post("test_helpers/test_clocks") { r, c in
            await self.api(r, c) { call in try await self.state.createTestClock(call.params) }
        }
        v1.get("test_helpers/test_clocks") { r, c in
            await self.api(r, c) { call in
                try await self.list(call, "/v1/test_helpers/test_clocks") { query in
                    try await self.state.testClocks.page(query)
                }
            }
        }
        v1.get("test_helpers/test_clocks/:id") { r, c in
            await self.api(r, c) { call in try await self.state.testClock(call.id) }
        }
        v1.delete("test_helpers/test_clocks/:id") { r, c in
            await self.api(r, c) { call in try await self.state.deleteTestClock(call.id) }
        }
        v1.post("test_helpers/test_clocks/:id/advance") { r, c in
            await self.api(r, c) { call in try await self.state.advanceTestClock(call.id, call.params) }
        }
        v1.post("billing_portal/sessions") { r, c in
            await self.api(r, c) { call in try await self.state.createPortalSession(call.params) }
        }
    }

    struct ClockAdvance: Decodable {
        let seconds: Int
    }

    /// `POST /_emulator/clock/advance {"seconds": N}` (1 s to 10 years, any `sk_test_` key): moves the emulator's own
    /// time, renewing and retrying what falls due; answers `{"now": T}`.
    func addClockRoute<Router: RouterMethods>(to router: Router) {
        router.group("_emulator").post("clock/advance") { request, _ in
            guard Self.hasSecretKey(request) else {
                return Self.json(401, ["error": "an sk_test_ key is needed (Authorization: Bearer sk_test_...)"])
            }
            var request = request
            let body = (try? await request.collectBody(upTo: 64 * 1024)) ?? ByteBuffer()
            guard let advance = try? JSONDecoder().decode(ClockAdvance.self, from: Data(body.readableBytesView)),
                (1...(10 * 366 * 86_400)).contains(advance.seconds)
            else {
                return Self.json(400, ["error": "expected {\"seconds\": N} with N from 1 to 316224000 (ten years)"])
            }
            let now = await self.state.advanceOwnClock(seconds: advance.seconds)
            return Self.json(200, ["now": now])
        }
    }
}
