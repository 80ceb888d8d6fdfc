import Hummingbird
import TillCore

/// `/api/admin/...`: the webhook inbox and the admin console's read endpoints. Every route needs the admin role
/// (401 without a token, 403 `forbidden` for a customer).
struct AdminController {
    let database: any Database
    let processor: WebhookProcessor
    let clock: TillClock

    struct RestockRequest: Decodable {
        let quantity: Int
    }

    func addRoutes(authenticated group: RouterGroup<TillRequestContext>) {
        let admin = AdminService(database: database, clock: clock)
        group.get("/admin/webhook-events") { request, context in
            _ = try context.requireAdmin()
            let query = request.queryDictionary
            var status: WebhookEventStatus?
            if let raw = query["status"] {
                guard let known = WebhookEventStatus(rawValue: raw) else {
                    let all = WebhookEventStatus.allCases.map(\.rawValue).joined(separator: ", ")
                    throw TillError.invalid("status must be one of \(all)")
                }
                status = known
            }
            let page = try PageRequest(query: query)
            let rows = try await database.withConnection { [status] db in
                try await WebhookEventRepository().list(status: status, page: page, on: db)
            }
            return try JSONCoding.response(.ok, page.page(rows))
        }
        group.post("/admin/webhook-events/:id/replay") { _, context in
            _ = try context.requireAdmin()
            let id = try context.parameters.require("id")
            guard
                let row = try await database.withConnection({ db in
                    try await WebhookEventRepository().replay(id: id, on: db)
                })
            else {
                throw TillError.notFound("Webhook event")
            }
            processor.notify()
            return try JSONCoding.response(.accepted, row)
        }
        group.get("/admin/summary") { _, context in
            _ = try context.requireAdmin()
            return try JSONCoding.response(.ok, try await admin.summary())
        }
        group.post("/admin/products/:id/restock") { request, context in
            _ = try context.requireAdmin()
            let body = try await JSONCoding.decode(RestockRequest.self, from: request)
            let product = try await admin.restock(
                productId: try context.parameters.require("id"), quantity: body.quantity)
            return try JSONCoding.response(.ok, product)
        }
        group.get("/admin/orders") { request, context in
            _ = try context.requireAdmin()
            let query = request.queryDictionary
            return try JSONCoding.response(
                .ok, try await admin.orders(query: query, page: try PageRequest(query: query)))
        }
        group.get("/admin/orders/:id/timeline") { _, context in
            _ = try context.requireAdmin()
            return try JSONCoding.response(.ok, try await admin.orderTimeline(id: try context.parameters.require("id")))
        }
        group.get("/admin/payments/:id/timeline") { _, context in
            _ = try context.requireAdmin()
            return try JSONCoding.response(
                .ok, try await admin.paymentTimeline(id: try context.parameters.require("id")))
        }
    }
}
