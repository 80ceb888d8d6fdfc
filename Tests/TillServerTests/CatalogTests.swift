import Testing

@_spi(Bench) @testable import TillServer

@Suite("Catalog")
struct CatalogTests {
    @Test("an admin creates, lists, reads and updates products", arguments: Backend.available)
    func productLifecycle(backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let admin = try await api.adminToken()
            let created = try await api.call(
                .post, "/api/products", token: admin,
                body:
                    #"{"name":"Green tea","description":"Loose leaf","unitAmount":1250,"currency":"EUR","inventory":7}"#
            )
            #expect(created.status == 201)
            #expect(created.string("currency") == "eur")
            #expect(created.int("unitAmount") == 1250)
            #expect(created["active"] as? Bool == true)
            let id = created.string("id")

            let list = try await api.call(.get, "/api/products")
            #expect(list.status == 200)
            #expect(list.data.map { $0["id"] as? String } == [id])
            #expect(list["hasMore"] as? Bool == false)

            let patched = try await api.call(
                .patch, "/api/products/\(id)", token: admin, body: #"{"unitAmount":1500,"inventory":3}"#)
            #expect(patched.status == 200)
            #expect(patched.int("unitAmount") == 1500)
            #expect(patched.int("inventory") == 3)
            #expect(patched.string("name") == "Green tea")
            // A field an update cannot change, or a misspelt one, is refused and changes nothing.
            for body in [#"{"currency":"eur"}"#, #"{"inventroy":9,"unitAmount":1}"#] {
                let refused = try await api.call(.patch, "/api/products/\(id)", token: admin, body: body)
                #expect(refused.status == 400 && refused.errorCode == "invalid_request", "\(body)")
            }
            let unchanged = try await api.call(.get, "/api/products/\(id)", token: admin)
            #expect(unchanged.int("unitAmount") == 1500 && unchanged.string("currency") == created.string("currency"))

            _ = try await api.call(.patch, "/api/products/\(id)", token: admin, body: #"{"active":false}"#)
            #expect(try await api.call(.get, "/api/products").data.isEmpty)
            #expect(try await api.call(.get, "/api/products", token: admin).data.count == 1)
            // One by id, as in the list: hidden from everyone but an admin.
            #expect(try await api.call(.get, "/api/products/\(id)").status == 404)
            #expect(
                try await api.call(.get, "/api/products/\(id)", token: try await api.register().token).status == 404)
            #expect(try await api.call(.get, "/api/products/\(id)", token: admin).status == 200)
            #expect(try await api.call(.get, "/api/products/missing").status == 404)
        }
    }

    @Test("catalog writes need an admin: 401 anonymous, 403 customer", arguments: Backend.available)
    func adminOnly(backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let body = #"{"name":"x","unitAmount":100,"currency":"usd","inventory":1}"#
            #expect(try await api.call(.post, "/api/products", body: body).status == 401)
            let (customer, _) = try await api.register()
            let forbidden = try await api.call(.post, "/api/products", token: customer, body: body)
            #expect(forbidden.status == 403)
            #expect(forbidden.errorCode == "forbidden")
            let plan = #"{"name":"Pro","unitAmount":900,"currency":"usd","credits":100}"#
            #expect(try await api.call(.post, "/api/plans", token: customer, body: plan).status == 403)
            #expect(try await api.call(.get, "/api/products").data.isEmpty)
        }
    }

    @Test(
        "invalid products are 400 with a clear message and nothing is created",
        arguments: [
            (
                #"{"name":"x","unitAmount":19.99,"currency":"usd","inventory":1}"#,
                "unitAmount must be a whole number (amounts are integers in the currency's minor unit)"
            ),
            (#"{"name":"x","unitAmount":"1999","currency":"usd","inventory":1}"#, "unitAmount"),
            (#"{"name":"x","unitAmount":0,"currency":"usd","inventory":1}"#, "unitAmount"),
            (#"{"name":"x","unitAmount":-5,"currency":"usd","inventory":1}"#, "unitAmount"),
            (#"{"name":"x","unitAmount":5005,"currency":"kwd","inventory":1}"#, "multiple of 10"),
            (#"{"name":"x","unitAmount":100,"currency":"xyz","inventory":1}"#, "currency"),
            (#"{"name":"x","unitAmount":100,"currency":"usd","inventory":-1}"#, "inventory"),
            (#"{"name":"","unitAmount":100,"currency":"usd","inventory":1}"#, "name"),
            (#"{"unitAmount":100,"currency":"usd","inventory":1}"#, "name"),
            (#"{"name":"x","unitAmount":100,"currency":"usd","inventory":1.5}"#, "inventory must be a whole number"),
            (#"{"name":"x","unitAmount":100,"currency":"usd","inventory":1e30}"#, "inventory is too large"),
            ("null", "JSON object"), ("[]", "JSON object"),
        ])
    func invalidProducts(body: String, mention: String) async throws {
        try await withTill(.sqlite) { api, _ in
            let admin = try await api.adminToken()
            let reply = try await api.call(.post, "/api/products", token: admin, body: body)
            #expect(reply.status == 400)
            #expect(reply.errorCode == "invalid_request")
            #expect(reply.errorMessage?.contains(mention) == true, "\(reply.text)")
            if mention.hasPrefix("inventory") {  // minor units are mentioned for money only
                #expect(reply.errorMessage?.contains("minor unit") == false, "\(reply.text)")
            }
            #expect(try await api.call(.get, "/api/products", token: admin).data.isEmpty)
        }
    }

    @Test("a JPY price is whole yen and a KWD price has three decimals", arguments: Backend.available)
    func currencies(backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let admin = try await api.adminToken()
            let yen = try await api.call(
                .post, "/api/products", token: admin,
                body: #"{"name":"Mochi","unitAmount":500,"currency":"jpy","inventory":1}"#)
            #expect(yen.status == 201)
            #expect(yen.int("unitAmount") == 500)
            let kwd = try await api.call(
                .post, "/api/products", token: admin,
                body: #"{"name":"Dates","unitAmount":5000,"currency":"kwd","inventory":1}"#)
            #expect(kwd.status == 201)
        }
    }

    @Test("plans: admin creates, everyone lists active plans", arguments: Backend.available)
    func plans(backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let admin = try await api.adminToken()
            let plan = try await api.call(
                .post, "/api/plans", token: admin,
                body: #"{"name":"Pro","unitAmount":900,"currency":"usd","credits":100}"#)
            #expect(plan.status == 201)
            #expect(plan.int("credits") == 100)
            #expect(plan.json.keys.contains("stripePriceId"))
            let list = try await api.call(.get, "/api/plans")
            #expect(list.data.map { $0["id"] as? String } == [plan.string("id")])
            let bad = try await api.call(
                .post, "/api/plans", token: admin,
                body: #"{"name":"Free","unitAmount":900,"currency":"usd","credits":0}"#)
            #expect(bad.status == 400)
            let badPrice = try await api.call(
                .post, "/api/plans", token: admin,
                body: #"{"name":"P","unitAmount":900,"currency":"usd","credits":5,"stripePriceId":"prod_1"}"#)
            #expect(badPrice.status == 400)
        }
    }

    @Test("lists page with limit and startingAfter, newest first", arguments: Backend.available)
    func pagination(backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let admin = try await api.adminToken()
            var ids: [String] = []
            for index in 0..<5 {
                ids.append(try await api.createProduct(admin: admin, name: "P\(index)"))
                try await Task.sleep(for: .milliseconds(3))  // distinct creation times, so "newest first" is one order
            }
            let first = try await api.call(.get, "/api/products?limit=2")
            #expect(first.data.count == 2)
            #expect(first["hasMore"] as? Bool == true)
            var seen = first.data.compactMap { $0["id"] as? String }
            var cursor = seen.last!
            while true {
                let next = try await api.call(.get, "/api/products?limit=2&startingAfter=\(cursor)")
                seen += next.data.compactMap { $0["id"] as? String }
                guard next["hasMore"] as? Bool == true else { break }
                cursor = seen.last!
            }
            #expect(seen == Array(ids.reversed()))
            #expect(try await api.call(.get, "/api/products?limit=0").status == 400)
            #expect(try await api.call(.get, "/api/products?limit=101").status == 400)
            #expect(try await api.call(.get, "/api/products?startingAfter=nope").status == 400)
        }
    }
}
