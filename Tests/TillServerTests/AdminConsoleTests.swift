import Foundation
import HTTPTypes
import StripeAPI
import Testing
import TillCore

@_spi(Bench) @testable import TillServer

/// The admin console's API (`/api/admin/...`) and what its pages are served with.
@Suite("Admin console")
struct AdminConsoleTests {
    @Test(
        "the dashboard's kept counts equal counting the orders, before and after the reconciler folds them",
        arguments: Backend.available)
    func keptCountsEqualCounting(backend: Backend) async throws {
        try await withTill(backend) { api, till in
            let admin = try await api.adminToken()
            let product = try await api.createProduct(admin: admin, inventory: 50)
            let (user, _) = try await api.register()
            var orders: [String] = []
            for _ in 0..<6 { orders.append(try await api.order(user, [(product, 1)]).string("id")) }
            for orderId in orders.prefix(2) {
                let checkout = try await api.call(.post, "/api/orders/\(orderId)/checkout", token: user)
                #expect(try await api.pay(session: checkout.string("sessionId")).status == 200)
                try await api.waitForOrder(user, orderId, toBe: "PAID")
            }
            for orderId in orders[2..<4] {
                #expect(try await api.call(.post, "/api/orders/\(orderId)/cancel", token: user).status == 200)
            }
            func counted() async throws -> [String: Int] {
                let rows = try await till.database.withConnection { db in
                    try await db.raw("SELECT status, COUNT(*) AS n FROM orders GROUP BY status").all().map {
                        (try $0.string("status"), try $0.int("n"))
                    }
                }
                var counts = Dictionary(uniqueKeysWithValues: OrderStatus.allCases.map { ($0.rawValue, 0) })
                for (status, n) in rows { counts[status] = n }
                return counts
            }
            let expected = ["PENDING": 2, "PAID": 2, "PARTIALLY_REFUNDED": 0, "REFUNDED": 0, "CANCELLED": 2]
            #expect(try await counted() == expected)
            let kept = try await api.call(.get, "/api/admin/summary", token: admin)["ordersByStatus"] as? [String: Int]
            #expect(kept == expected)
            _ = try await till.reconciler.pass()
            let folded =
                try await api.call(.get, "/api/admin/summary", token: admin)["ordersByStatus"] as? [String: Int]
            #expect(folded == expected)
            let unfolded = try await till.database.withConnection { db in
                try await db.raw("SELECT COUNT(*) AS n FROM order_status_deltas").first(
                    decodingColumn: "n", as: Int.self)
            }
            #expect(unfolded == 0)
        }
    }

    @Test(
        "summary, order search and timelines show a paid, partly refunded order and a failed webhook",
        arguments: Backend.available)
    func summaryAndTimeline(backend: Backend) async throws {
        try await withTill(backend) { api, till in
            let (ann, admin, _, order) = try await api.orderSetup(unitAmount: 1999, quantity: 2)
            let orderId = order.string("id")
            let checkout = try await api.call(.post, "/api/orders/\(orderId)/checkout", token: ann)
            let paymentId = checkout.string("paymentId")
            _ = try await api.pay(session: checkout.string("sessionId"))
            try await api.waitForOrder(ann, orderId, toBe: "PAID")

            let tea = try await api.createProduct(
                admin: admin, name: "Sencha", unitAmount: 500, currency: "jpy", inventory: 4)
            let bobEmail = "bob-\(UUID().uuidString.prefix(6).lowercased())@example.com"
            let bob = try await api.register(bobEmail)
            let pending = try await api.order(bob.token, [(tea, 1)])
            #expect(pending.status == 201)

            let refund = try await api.call(
                .post, "/api/payments/\(paymentId)/refund", token: admin, body: #"{"amount":1000}"#)
            #expect(refund.status == 202)
            try await api.waitForOrder(ann, orderId, toBe: "PARTIALLY_REFUNDED")

            let summary = try await api.call(.get, "/api/admin/summary", token: admin)
            #expect(summary.status == 200, "\(summary.text)")
            for period in ["today", "week"] {
                let paid = (summary[period] as? [String: Any])?["paid"] as? [[String: Any]] ?? []
                #expect(paid.count == 1, "\(period): \(paid)")
                #expect(paid.first?["currency"] as? String == "usd")
                #expect(paid.first?["amount"] as? Int == 3998)
                #expect(paid.first?["refunded"] as? Int == 1000)
                #expect(paid.first?["count"] as? Int == 1)
            }
            let counts = summary["ordersByStatus"] as? [String: Int] ?? [:]
            #expect(counts == ["PENDING": 1, "PAID": 0, "PARTIALLY_REFUNDED": 1, "REFUNDED": 0, "CANCELLED": 0])
            let lowStock = summary["lowStock"] as? [[String: Any]] ?? []
            #expect(lowStock.map { $0["name"] as? String } == ["Sencha"])
            #expect(lowStock.first?["inventory"] as? Int == 3)
            #expect(summary.int("failedWebhooks") == 0)

            // The search: newest first, each filter narrows, pages follow the cursor.
            let all = try await api.call(.get, "/api/admin/orders", token: admin)
            #expect(all.data.map { $0["id"] as? String } == [pending.string("id"), orderId])
            #expect(all.data.last?["userEmail"] as? String != nil)
            let refunded = try await api.call(.get, "/api/admin/orders?status=PARTIALLY_REFUNDED", token: admin)
            #expect(refunded.data.map { $0["id"] as? String } == [orderId])
            #expect((refunded.data.first?["items"] as? [[String: Any]])?.first?["quantity"] as? Int == 2)
            let byEmail = try await api.call(.get, "/api/admin/orders?email=\(bobEmail.uppercased())", token: admin)
            #expect(byEmail.data.map { $0["id"] as? String } == [pending.string("id")])
            #expect(try await api.call(.get, "/api/admin/orders?id=\(orderId)", token: admin).data.count == 1)
            let today = Timestamps.rfc3339(till.clock.nowMillis()).prefix(10)
            let tomorrow = Timestamps.rfc3339(till.clock.nowMillis() + AdminService.day).prefix(10)
            let yesterday = Timestamps.rfc3339(till.clock.nowMillis() - AdminService.day).prefix(10)
            #expect(
                try await api.call(.get, "/api/admin/orders?from=\(today)&to=\(today)", token: admin).data.count == 2)
            #expect(try await api.call(.get, "/api/admin/orders?from=\(tomorrow)", token: admin).data.isEmpty)
            #expect(try await api.call(.get, "/api/admin/orders?to=\(yesterday)", token: admin).data.isEmpty)
            let first = try await api.call(.get, "/api/admin/orders?limit=1", token: admin)
            #expect(first["hasMore"] as? Bool == true)
            let second = try await api.call(
                .get, "/api/admin/orders?limit=1&startingAfter=\(pending.string("id"))", token: admin)
            #expect(second.data.map { $0["id"] as? String } == [orderId])
            #expect(second["hasMore"] as? Bool == false)
            for bad in ["status=SHIPPED", "from=yesterday", "to=2026-13-01", "limit=0", "startingAfter=nope"] {
                let reply = try await api.call(.get, "/api/admin/orders?\(bad)", token: admin)
                #expect(reply.status == 400, "\(bad)")
                #expect(reply.errorCode == "invalid_request")
            }
            let events = try await api.call(.get, "/api/admin/webhook-events?startingAfter=nope", token: admin)
            #expect(events.status == 400 && events.errorCode == "invalid_request")

            // The order's story, in order, from its rows and the webhook events that name it.
            let story = try await api.call(.get, "/api/admin/orders/\(orderId)/timeline", token: admin)
            #expect(story.status == 200, "\(story.text)")
            let timeline = story["timeline"] as? [[String: Any]] ?? []
            let kinds = timeline.compactMap { $0["kind"] as? String }
            for kind in ["order_created", "session_opened", "webhook", "payment_succeeded", "order_paid", "refund"] {
                #expect(kinds.contains(kind), "no \(kind) in \(kinds)")
            }
            #expect(kinds.first == "order_created")
            let times = timeline.compactMap { $0["at"] as? String }
            #expect(times == times.sorted())
            let completed = timeline.first { $0["eventType"] as? String == "checkout.session.completed" }
            #expect((completed?["stripeEventId"] as? String)?.hasPrefix("evt_") == true)
            #expect(completed?["eventStatus"] as? String == "processed")
            #expect(completed?["paymentId"] as? String == paymentId)
            #expect(
                timeline.contains {
                    $0["kind"] as? String == "refund" && $0["amount"] as? Int == 1000
                        && $0["currency"] as? String == "usd"
                })
            #expect(kinds.firstIndex(of: "order_paid")! < kinds.lastIndex(of: "refund")!)
            #expect((story["payments"] as? [[String: Any]])?.map { $0["id"] as? String } == [paymentId])
            #expect((story["order"] as? [String: Any])?["status"] as? String == "PARTIALLY_REFUNDED")

            let paymentStory = try await api.call(.get, "/api/admin/payments/\(paymentId)/timeline", token: admin)
            #expect(paymentStory.status == 200, "\(paymentStory.text)")
            let refunds = paymentStory["refunds"] as? [[String: Any]] ?? []
            #expect(refunds.map { $0["amount"] as? Int } == [1000])
            #expect((refunds.first?["id"] as? String)?.hasPrefix("re_") == true)
            #expect(paymentStory.string("chargeId").hasPrefix("ch_"))
            #expect(paymentStory["userEmail"] as? String != nil)

            // A webhook Till cannot read is counted as failed.
            let broken =
                #"{"id":"evt_admin_broken","object":"event","type":"checkout.session.completed","created":1,"data":{"object":{"id":5}}}"#
            let signature = WebhookSignature.header(
                payload: Data(broken.utf8), secret: till.webhookSecrets[0], timestamp: Int(Date().timeIntervalSince1970)
            )
            #expect(
                try await api.call(
                    .post, "/api/webhooks/stripe", body: broken, headers: ["Stripe-Signature": signature]
                ).status == 200)
            try await eventually(10, "the broken event to fail") {
                try await api.call(.get, "/api/admin/summary", token: admin).int("failedWebhooks") == 1
            }
        }
    }

    @Test("the admin routes answer 401 without a token, 403 forbidden to a customer, 404 for an unknown id")
    func adminOnly() async throws {
        try await withTill(.sqlite) { api, _ in
            let (customer, _) = try await api.register()
            let admin = try await api.adminToken()
            let paths = [
                "/api/admin/summary", "/api/admin/orders", "/api/admin/orders/x/timeline",
                "/api/admin/payments/x/timeline",
            ]
            for path in paths {
                let anonymous = try await api.call(.get, path)
                #expect(anonymous.status == 401, "\(path)")
                #expect(anonymous.errorCode == "unauthorized")
                let refused = try await api.call(.get, path, token: customer)
                #expect(refused.status == 403, "\(path)")
                #expect(refused.errorCode == "forbidden")
                #expect(refused.errorMessage?.isEmpty == false)
            }
            for path in paths.suffix(2) {
                let missing = try await api.call(.get, path, token: admin)
                #expect(missing.status == 404)
                #expect(missing.errorCode == "not_found")
            }
        }
    }

    @Test("restock adds to the stock left after reservations, and only an admin can", arguments: Backend.available)
    func restock(backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let (customer, admin, product, _) = try await api.orderSetup(inventory: 5, quantity: 2)
            #expect(try await api.inventory(product) == 3)
            let restocked = try await api.call(
                .post, "/api/admin/products/\(product)/restock", token: admin, body: #"{"quantity":10}"#)
            #expect(restocked.status == 200, "\(restocked.text)")
            #expect(restocked.int("inventory") == 13)
            #expect(try await api.inventory(product) == 13)
            let refused = try await api.call(
                .post, "/api/admin/products/\(product)/restock", token: customer, body: #"{"quantity":10}"#)
            #expect(refused.status == 403)
            for body in [#"{"quantity":0}"#, #"{"quantity":-1}"#, #"{"quantity":1000000000}"#, #"{"quantity":"9"}"#] {
                let bad = try await api.call(.post, "/api/admin/products/\(product)/restock", token: admin, body: body)
                #expect(bad.status == 400, "\(body): \(bad.text)")
                #expect(bad.errorCode == "invalid_request")
            }
            #expect(try await api.inventory(product) == 13)
            let missing = try await api.call(
                .post, "/api/admin/products/nope/restock", token: admin, body: #"{"quantity":1}"#)
            #expect(missing.status == 404)
        }
    }

    @Test("pages get each currency's digits from the server, and files are served with an ETag and the strict CSP")
    func assets() async throws {
        try await withTill(.sqlite) { api, _ in
            let config = try await api.call(.get, "/api/config")
            let digits = config["currencies"] as? [String: Int] ?? [:]
            #expect(digits["usd"] == 2 && digits["jpy"] == 0 && digits["kwd"] == 3 && digits["isk"] == 2)
            let script = try await api.call(.get, "/assets/till.js")
            #expect(script.status == 200)
            #expect(script.headers[.contentType] == "text/javascript; charset=utf-8")
            #expect(!script.text.contains("\"kwd\""), "the JavaScript keeps no copy of the currency rules")
            let etag = try #require(script.headers[.eTag])
            let again = try await api.call(.get, "/assets/till.js", headers: ["If-None-Match": etag])
            #expect(again.status == 304)
            #expect(again.text.isEmpty)
            for path in ["/admin", "/admin/orders/abc", "/admin/webhooks", "/"] {
                let page = try await api.call(.get, path)
                #expect(page.status == 200, "\(path)")
                #expect(page.headers[.contentType] == "text/html; charset=utf-8")
                #expect(page.headers[HTTPField.Name("Content-Security-Policy")!]?.contains("script-src 'self'") == true)
                #expect(!page.text.contains("<script>"), "no inline script in \(path)")
                // The shared top is filled in when the files are loaded.
                #expect(!page.text.contains("<!--include") && !page.text.contains("{{title}}"), "\(path)")
                #expect(page.text.contains("<header class=\"top\">"), "\(path)")
            }
            #expect(try await api.call(.get, "/admin/webhooks").text.contains("<title>Webhooks · Till admin</title>"))
            #expect(try await api.call(.get, "/account").text.contains("<title>Account · Till</title>"))
            #expect(
                try await api.call(.get, "/checkout/cancel").text.contains("<title>Checkout cancelled · Till</title>"))
            #expect(!(try await api.call(.get, "/admin/orders").text.contains("{{")))
            #expect(try await api.call(.get, "/admin/orders").text.contains("/assets/admin-orders.js"))
        }
    }
}
