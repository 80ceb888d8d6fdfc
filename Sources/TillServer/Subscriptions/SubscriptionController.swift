import Hummingbird
import TillCore

struct SubscriptionController {
    let subscriptions: SubscriptionService

    /// `{atPeriodEnd?}` (default `true`). Any other key is refused: a misspelt flag must not cancel now.
    struct CancelRequest: Decodable {
        let atPeriodEnd: Bool

        enum CodingKeys: String, CodingKey { case atPeriodEnd }

        init(from decoder: any Decoder) throws {
            try JSONCoding.refuseUnknownKeys(
                decoder, allowed: ["atPeriodEnd"], takes: "a cancellation takes only atPeriodEnd")
            atPeriodEnd =
                try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent(Bool.self, forKey: .atPeriodEnd)
                ?? true
        }
    }

    func addRoutes(authenticated group: RouterGroup<TillRequestContext>) {
        group.get("/subscriptions") { request, context in
            let query = request.queryDictionary
            return try JSONCoding.response(
                .ok,
                try await subscriptions.list(
                    identity: try context.requireIdentity(), query: query, page: try PageRequest(query: query)))
        }
        group.get("/subscriptions/:id") { _, context in
            try JSONCoding.response(
                .ok,
                try await subscriptions.subscription(
                    id: try context.parameters.require("id"), identity: try context.requireIdentity()))
        }
        group.get("/subscriptions/:id/invoices") { _, context in
            try JSONCoding.response(
                .ok,
                try await subscriptions.invoices(
                    id: try context.parameters.require("id"), identity: try context.requireIdentity()))
        }
        group.post("/subscriptions/:id/cancel") { request, context in
            let body = try await JSONCoding.decodeIfPresent(CancelRequest.self, from: request)
            return try JSONCoding.response(
                .ok,
                try await subscriptions.cancel(
                    id: try context.parameters.require("id"), atPeriodEnd: body?.atPeriodEnd ?? true,
                    identity: try context.requireIdentity()))
        }
        group.post("/subscriptions/:id/resume") { _, context in
            try JSONCoding.response(
                .ok,
                try await subscriptions.resume(
                    id: try context.parameters.require("id"), identity: try context.requireIdentity()))
        }
        group.post("/subscriptions/:id/sync") { _, context in
            try JSONCoding.response(
                .ok,
                try await subscriptions.sync(
                    id: try context.parameters.require("id"), identity: try context.requireIdentity()))
        }
        group.post("/billing-portal") { _, context in
            try JSONCoding.response(.created, try await subscriptions.portal(identity: try context.requireIdentity()))
        }
    }
}
