import Foundation
import Testing

@_spi(Bench) @testable import TillServer

@Suite("Orders")
struct OrderTests {
    @Test(
        "an order reserves stock, computes the amount on the server, and cancel restores it",
        arguments: Backend.available)
    func orderAndCancel(backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let admin = try await api.adminToken()
            let tea = try await api.createProduct(admin: admin, name: "Tea", unitAmount: 1999, inventory: 5)
            let (user, userId) = try await api.register()
            let order = try await api.order(user, [(tea, 2)])
            #expect(order.status == 201)
            #expect(order.string("status") == "PENDING")
            #expect(order.int("amount") == 3998)
            #expect(order.string("currency") == "usd")
            #expect(order.string("userId") == userId)
            #expect(order.int("amountRefunded") == 0)
            let items = try #require(order["items"] as? [[String: Any]])
            #expect(items.count == 1)
            #expect(items[0]["name"] as? String == "Tea")
            #expect(items[0]["unitAmount"] as? Int == 1999)
            #expect(try await api.inventory(tea) == 3)

            let fetched = try await api.call(.get, "/api/orders/\(order.string("id"))", token: user)
            #expect(fetched.status == 200)
            #expect(fetched.text == order.text)

            let cancelled = try await api.call(.post, "/api/orders/\(order.string("id"))/cancel", token: user)
            #expect(cancelled.status == 200)
            #expect(cancelled.string("status") == "CANCELLED")
            #expect(cancelled["cancelledAt"] as? String != nil)
            #expect(try await api.inventory(tea) == 5)

            let again = try await api.call(.post, "/api/orders/\(order.string("id"))/cancel", token: user)
            #expect(again.status == 409)
            #expect(again.errorCode == "order_not_payable")
            #expect(try await api.inventory(tea) == 5)
        }
    }

    @Test("the client cannot set the price: unknown fields are ignored", arguments: Backend.available)
    func serverPrice(backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let admin = try await api.adminToken()
            let tea = try await api.createProduct(admin: admin, unitAmount: 1999)
            let (user, _) = try await api.register()
            let reply = try await api.call(
                .post, "/api/orders", token: user,
                body: #"{"amount":1,"items":[{"productId":"\#(tea)","quantity":1,"unitAmount":1}]}"#)
            #expect(reply.status == 201)
            #expect(reply.int("amount") == 1999)
        }
    }

    @Test("if any item lacks stock, nothing is reserved", arguments: Backend.available)
    func allOrNothing(backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let admin = try await api.adminToken()
            let a = try await api.createProduct(admin: admin, name: "A", inventory: 5)
            let b = try await api.createProduct(admin: admin, name: "B", inventory: 1)
            let (user, _) = try await api.register()
            let reply = try await api.order(user, [(a, 2), (b, 2)])
            #expect(reply.status == 409)
            #expect(reply.errorCode == "insufficient_inventory")
            #expect(reply.errorMessage?.contains("B") == true)
            #expect(try await api.inventory(a) == 5)
            #expect(try await api.inventory(b) == 1)
            #expect(try await api.call(.get, "/api/orders", token: user).data.isEmpty)
        }
    }

    @Test("200 concurrent orders for a product with stock 50: exactly 50 succeed", arguments: Backend.available)
    func noOversell(backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let admin = try await api.adminToken()
            let product = try await api.createProduct(admin: admin, inventory: 50)
            let statuses = try await api.concurrentOrders(200, of: [(product, 1)], users: 10)
            #expect(statuses.filter { $0 == 201 }.count == 50)
            #expect(statuses.filter { $0 == 409 }.count == 150)
            #expect(try await api.inventory(product) == 0)
            let all = try await api.call(.get, "/api/orders?limit=100", token: admin)
            #expect(all.data.count == 50)
        }
    }

    @Test(
        "40 concurrent orders of two products, one with stock 10: exactly 10 succeed and the other's stock is kept",
        arguments: Backend.available)
    func noPartialReservation(backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let admin = try await api.adminToken()
            let plenty = try await api.createProduct(admin: admin, name: "Plenty", inventory: 100)
            let scarce = try await api.createProduct(admin: admin, name: "Scarce", inventory: 10)
            // Most of them pass the stock read before any is written, so the refusals come from the transaction's
            // conditional update of the second item, after the first was taken.
            let statuses = try await api.concurrentOrders(40, of: [(plenty, 1), (scarce, 1)], users: 5)
            #expect(statuses.filter { $0 == 201 }.count == 10)
            #expect(statuses.filter { $0 == 409 }.count == 30)
            #expect(try await api.inventory(scarce) == 0)
            #expect(try await api.inventory(plenty) == 90)
        }
    }

    @Test("Idempotency-Key: same body replays the first answer; another body is 422", arguments: Backend.available)
    func idempotency(backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let admin = try await api.adminToken()
            let tea = try await api.createProduct(admin: admin, inventory: 10)
            let (user, _) = try await api.register()
            let first = try await api.order(user, [(tea, 2)], key: "order-1")
            let replay = try await api.order(user, [(tea, 2)], key: "order-1")
            #expect(first.status == 201)
            #expect(replay.status == 201)
            #expect(replay.text == first.text)
            #expect(try await api.inventory(tea) == 8)

            let reused = try await api.order(user, [(tea, 3)], key: "order-1")
            #expect(reused.status == 422)
            #expect(reused.errorCode == "idempotency_key_reused")
            #expect(try await api.inventory(tea) == 8)

            // Keys belong to a user: another user's same key is a new order.
            let (other, _) = try await api.register()
            let theirs = try await api.order(other, [(tea, 2)], key: "order-1")
            #expect(theirs.status == 201)
            #expect(theirs.string("id") != first.string("id"))
        }
    }

    @Test("concurrent requests with one Idempotency-Key make one order", arguments: Backend.available)
    func concurrentIdempotency(backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let admin = try await api.adminToken()
            let tea = try await api.createProduct(admin: admin, inventory: 100)
            let (user, _) = try await api.register()
            let replies = try await withThrowingTaskGroup(of: Reply.self) { group in
                for _ in 0..<20 { group.addTask { try await api.order(user, [(tea, 1)], key: "same-key") } }
                return try await group.reduce(into: [Reply]()) { $0.append($1) }
            }
            #expect(replies.allSatisfy { $0.status == 201 })
            #expect(Set(replies.map { $0.string("id") }).count == 1)
            #expect(try await api.inventory(tea) == 99)
        }
    }

    @Test("a failed order's answer is replayed for its key too", arguments: Backend.available)
    func idempotentFailure(backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let admin = try await api.adminToken()
            let tea = try await api.createProduct(admin: admin, inventory: 1)
            let (user, _) = try await api.register()
            let first = try await api.order(user, [(tea, 2)], key: "k")
            #expect(first.status == 409)
            _ = try await api.call(.patch, "/api/products/\(tea)", token: admin, body: #"{"inventory":5}"#)
            let replay = try await api.order(user, [(tea, 2)], key: "k")
            #expect(replay.status == 409)
            #expect(replay.text == first.text)
            #expect(try await api.inventory(tea) == 5)
        }
    }

    @Test("another user's order is 404 on every order route; an admin sees it", arguments: Backend.available)
    func ownership(backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let admin = try await api.adminToken()
            let tea = try await api.createProduct(admin: admin)
            let (alice, aliceId) = try await api.register()
            let (mallory, _) = try await api.register()
            let order = try await api.order(alice, [(tea, 1)]).string("id")
            let read = try await api.call(.get, "/api/orders/\(order)", token: mallory)
            #expect(read.status == 404)
            #expect(read.errorCode == "not_found")
            #expect(try await api.call(.post, "/api/orders/\(order)/cancel", token: mallory).status == 404)
            #expect(try await api.call(.get, "/api/orders", token: mallory).data.isEmpty)
            #expect(try await api.call(.get, "/api/orders?startingAfter=\(order)", token: mallory).status == 400)
            #expect(try await api.call(.get, "/api/orders/\(order)", token: admin).status == 200)
            let filtered = try await api.call(.get, "/api/orders?userId=\(aliceId)", token: admin)
            #expect(filtered.data.map { $0["id"] as? String } == [order])
            #expect(try await api.inventory(tea) == 9)
        }
    }

    @Test(
        "invalid orders are 400 and reserve nothing",
        arguments: [
            #"{"items":[]}"#, #"{"items":[{"productId":"PRODUCT","quantity":0}]}"#,
            #"{"items":[{"productId":"PRODUCT","quantity":-1}]}"#,
            #"{"items":[{"productId":"PRODUCT","quantity":1.5}]}"#,
            #"{"items":[{"productId":"missing","quantity":1}]}"#, #"{"items":[{"productId":"PRODUCT"}]}"#, #"{}"#,
            #"{"items":"PRODUCT"}"#,
        ])
    func invalidOrders(template: String) async throws {
        try await withTill(.sqlite) { api, _ in
            let admin = try await api.adminToken()
            let tea = try await api.createProduct(admin: admin, inventory: 10)
            let (user, _) = try await api.register()
            let reply = try await api.call(
                .post, "/api/orders", token: user, body: template.replacingOccurrences(of: "PRODUCT", with: tea))
            #expect(reply.status == 400, "\(reply.text)")
            #expect(reply.errorCode == "invalid_request")
            #expect(try await api.inventory(tea) == 10)
        }
    }

    @Test("items in two currencies are refused", arguments: Backend.available)
    func mixedCurrencies(backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let admin = try await api.adminToken()
            let usd = try await api.createProduct(admin: admin, currency: "usd")
            let eur = try await api.createProduct(admin: admin, currency: "eur")
            let (user, _) = try await api.register()
            let reply = try await api.order(user, [(usd, 1), (eur, 1)])
            #expect(reply.status == 400)
            #expect(reply.errorMessage?.contains("currency") == true)
            #expect(try await api.inventory(usd) == 10)
        }
    }

    @Test("a JPY order totals in whole yen", arguments: Backend.available)
    func yenOrder(backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let admin = try await api.adminToken()
            let mochi = try await api.createProduct(
                admin: admin, name: "Mochi", unitAmount: 500, currency: "jpy", inventory: 10)
            let (user, _) = try await api.register()
            let reply = try await api.order(user, [(mochi, 3)])
            #expect(reply.status == 201)
            #expect(reply.int("amount") == 1500)
            #expect(reply.string("currency") == "jpy")
        }
    }

    @Test("a total below Stripe's minimum charge is refused", arguments: Backend.available)
    func minimumCharge(backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let admin = try await api.adminToken()
            let sticker = try await api.createProduct(admin: admin, name: "Sticker", unitAmount: 10, inventory: 10)
            let (user, _) = try await api.register()
            let reply = try await api.order(user, [(sticker, 2)])
            #expect(reply.status == 400)
            #expect(reply.errorMessage?.contains("minimum") == true)
            #expect(try await api.order(user, [(sticker, 5)]).status == 201)
        }
    }

    @Test("orders list newest first with cursor pagination", arguments: Backend.available)
    func listOrders(backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let admin = try await api.adminToken()
            let tea = try await api.createProduct(admin: admin, inventory: 100)
            let (user, _) = try await api.register()
            var ids: [String] = []
            for _ in 0..<3 {
                ids.append(try await api.order(user, [(tea, 1)]).string("id"))
                try await Task.sleep(for: .milliseconds(3))  // distinct creation times
            }
            let page1 = try await api.call(.get, "/api/orders?limit=2", token: user)
            #expect(page1.data.count == 2)
            #expect(page1["hasMore"] as? Bool == true)
            let last = try #require(page1.data.last?["id"] as? String)
            let page2 = try await api.call(.get, "/api/orders?limit=2&startingAfter=\(last)", token: user)
            #expect(page2.data.count == 1)
            #expect(page2["hasMore"] as? Bool == false)
            let all = (page1.data + page2.data).compactMap { $0["id"] as? String }
            #expect(all == Array(ids.reversed()))
            #expect(page1.data.allSatisfy { ($0["items"] as? [[String: Any]])?.count == 1 })
        }
    }
}
