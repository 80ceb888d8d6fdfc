import Hummingbird
import TillCore

struct PaymentController {
    let payments: PaymentService
    let subscriptions: SubscriptionService

    /// `{amount?}`. Any other key is refused: a misspelt `amount` must not become a refund of everything.
    struct RefundRequest: Decodable {
        let amount: Int?

        enum CodingKeys: String, CodingKey { case amount }

        init(from decoder: any Decoder) throws {
            try JSONCoding.refuseUnknownKeys(
                decoder, allowed: ["amount"], takes: "a refund takes only amount (leave it out to refund what is left)")
            amount = try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent(Int.self, forKey: .amount)
        }
    }

    func addRoutes(authenticated group: RouterGroup<TillRequestContext>) {
        group.post("/orders/:id/checkout") { _, context in
            let (created, session) = try await payments.checkout(
                orderId: try context.parameters.require("id"), identity: try context.requireIdentity())
            return try JSONCoding.response(created ? .created : .ok, session)
        }
        group.post("/orders/:id/payment-intent") { _, context in
            let (created, intent) = try await payments.paymentIntent(
                orderId: try context.parameters.require("id"), identity: try context.requireIdentity())
            return try JSONCoding.response(created ? .created : .ok, intent)
        }
        group.post("/plans/:id/checkout") { _, context in
            let identity = try context.requireIdentity()
            let plan = try await payments.activePlan(id: try context.parameters.require("id"))
            if plan.isRecurring {
                let (created, session) = try await subscriptions.checkout(plan: plan, identity: identity)
                return try JSONCoding.response(created ? .created : .ok, session)
            }
            let (created, session) = try await payments.checkout(plan: plan, identity: identity)
            return try JSONCoding.response(created ? .created : .ok, session)
        }
        group.get("/orders/:id/payment") { _, context in
            try JSONCoding.response(
                .ok,
                try await payments.orderPayments(
                    orderId: try context.parameters.require("id"), identity: try context.requireIdentity()))
        }
        group.get("/payments") { request, context in
            let query = request.queryDictionary
            return try JSONCoding.response(
                .ok,
                try await payments.list(
                    identity: try context.requireIdentity(), query: query, page: try PageRequest(query: query)))
        }
        group.get("/payments/:id") { _, context in
            try JSONCoding.response(
                .ok,
                try await payments.payment(
                    id: try context.parameters.require("id"), identity: try context.requireIdentity()))
        }
        group.post("/payments/:id/sync") { _, context in
            try JSONCoding.response(
                .ok,
                try await payments.sync(
                    id: try context.parameters.require("id"), identity: try context.requireIdentity()))
        }
        group.post("/payments/:id/accept") { _, context in
            _ = try context.requireAdmin()
            return try JSONCoding.response(
                .ok, try await payments.acceptReview(id: try context.parameters.require("id")))
        }
        group.post("/payments/:id/refund") { request, context in
            _ = try context.requireAdmin()
            // The body is read whatever the framing (Content-Length or chunked): an amount must never be missed.
            let body = try await JSONCoding.decodeIfPresent(RefundRequest.self, from: request)
            if let requested = body?.amount, requested <= 0 {
                throw TillError.invalid("amount must be a positive integer")
            }
            let amount = body?.amount
            return try JSONCoding.response(
                .accepted, try await payments.refund(id: try context.parameters.require("id"), amount: amount))
        }
    }
}
