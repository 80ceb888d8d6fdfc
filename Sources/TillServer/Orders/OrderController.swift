import Foundation
import HTTPTypes
import Hummingbird

struct OrderController {
    let orders: OrderService

    func addRoutes(authenticated group: RouterGroup<TillRequestContext>) {
        group.post("/orders") { request, context in
            let identity = try context.requireIdentity()
            let body = try await JSONCoding.decode(OrderService.CreateOrderRequest.self, from: request)
            let key = request.headers[.idempotencyKey]
            let stored = try await orders.create(userId: identity.userId, request: body, idempotencyKey: key)
            return JSONCoding.response(.init(code: stored.status), json: Data(stored.body.utf8))
        }
        group.get("/orders") { request, context in
            let identity = try context.requireIdentity()
            let query = request.queryDictionary
            let page = try PageRequest(query: query)
            return try JSONCoding.response(
                .ok, try await orders.list(identity: identity, userFilter: query["userId"], page: page))
        }
        group.get("/orders/:id") { _, context in
            let identity = try context.requireIdentity()
            return try JSONCoding.response(
                .ok, try await orders.order(id: try context.parameters.require("id"), identity: identity))
        }
        group.post("/orders/:id/cancel") { _, context in
            let identity = try context.requireIdentity()
            return try JSONCoding.response(
                .ok, try await orders.cancel(id: try context.parameters.require("id"), identity: identity))
        }
    }
}

extension HTTPField.Name {
    static let idempotencyKey = HTTPField.Name("Idempotency-Key")!
}
