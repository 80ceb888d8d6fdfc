import AsyncHTTPClient
import Foundation
import NIOCore
import StripeAPI
import Testing

@_spi(Bench) @testable import TillServer

#if canImport(Glibc)
    import Glibc
#endif

/// The holes a security review found, each closed: what an attacker tried, and what they get now.
@Suite("Hardening")
struct HardeningTests {
    // MARK: A missing Stripe key

    @Test("without a key the emulator is on only when Till is reachable from this machine alone")
    func emulatorRule() throws {
        #expect(try AppConfig(values: [:]).usesStripeEmulator)
        #expect(try AppConfig(values: ["HOST": "::1", "PUBLIC_BASE_URL": "http://127.0.0.1:9000"]).usesStripeEmulator)
        for values in [
            ["HOST": "0.0.0.0"],
            ["PUBLIC_BASE_URL": "https://shop.example.com"],
            ["HOST": "0.0.0.0", "PUBLIC_BASE_URL": "https://shop.example.com"],
            ["STRIPE_EMULATOR": "0"],
            ["STRIPE_EMULATOR": "yes"],
            ["STRIPE_EMULATOR": "1", "STRIPE_SECRET_KEY": "sk_test_x"],
        ] {
            #expect(throws: ConfigError.self, "\(values)") { try AppConfig(values: values) }
        }
        let error = try #require(throws: ConfigError.self) { try AppConfig(values: ["HOST": "0.0.0.0"]) }
        #expect(error.description.contains("STRIPE_SECRET_KEY") && error.description.contains("STRIPE_EMULATOR=1"))
        // Asked for explicitly, or with a key: no error.
        #expect(try AppConfig(values: ["HOST": "0.0.0.0", "STRIPE_EMULATOR": "1"]).usesStripeEmulator)
        #expect(try !AppConfig(values: ["HOST": "0.0.0.0", "STRIPE_SECRET_KEY": "sk_test_x"]).usesStripeEmulator)
        #expect(try AppConfig(values: [:]).host == "127.0.0.1")
    }

    @Test("LOG_LEVEL, limits and trusted proxies are validated with the rest")
    func moreSettings() throws {
        let error = try #require(throws: ConfigError.self) {
            try AppConfig(values: [
                "LOG_LEVEL": "loud", "MAX_PENDING_ORDERS_PER_USER": "-1", "REGISTRATIONS_PER_ADDRESS_PER_HOUR": "x",
                "TRUSTED_PROXIES": "10.0.0.1,proxy.example.com",
            ])
        }
        #expect(error.problems.count == 4)
        let config = try AppConfig(values: ["LOG_LEVEL": "ERROR", "TRUSTED_PROXIES": "10.0.0.1, ::1"])
        #expect(config.logLevel == .error)
        #expect(config.trustedProxies == ["10.0.0.1", "::1"])
        #expect(config.maxPendingOrdersPerUser == 20 && config.registrationsPerAddressPerHour == 30)
    }

    // MARK: Logins and registrations

    @Test("200 concurrent wrong logins for one email: at most 5 reach bcrypt, the rest are 429 with Retry-After")
    func concurrentGuesses() async throws {
        try await withTill(.sqlite) { api, _ in
            _ = try await api.register("victim@example.com", password: "right-password")
            let replies = try await withThrowingTaskGroup(of: Reply.self) { group in
                for index in 0..<200 {
                    group.addTask {
                        try await api.call(
                            .post, "/api/auth/login",
                            body: #"{"email":"victim@example.com","password":"guess-\#(index)-x"}"#)
                    }
                }
                return try await group.reduce(into: [Reply]()) { $0.append($1) }
            }
            let limited = replies.filter { $0.status == 429 }
            #expect(replies.count - limited.count <= 5)
            #expect(
                limited.allSatisfy { $0.errorCode == "rate_limited" && Int($0.headers[.retryAfter] ?? "") ?? 0 > 0 })
        }
    }

    @Test(
        "an attacker's failures lock only their own address out of the account; X-Forwarded-For counts only from a trusted proxy"
    )
    func lockoutIsNotAWeapon() async throws {
        try await withTill(.sqlite, configure: { $0.trustedProxies = ["127.0.0.1"] }) { api, _ in
            _ = try await api.register("owner@example.com", password: "right-password")
            let wrong = #"{"email":"owner@example.com","password":"wrong-password"}"#
            let right = #"{"email":"owner@example.com","password":"right-password"}"#
            for _ in 0..<5 {
                #expect(
                    try await api.call(
                        .post, "/api/auth/login", body: wrong, headers: ["X-Forwarded-For": "203.0.113.9"]
                    ).status == 401)
            }
            let attacker = try await api.call(
                .post, "/api/auth/login", body: right, headers: ["X-Forwarded-For": "203.0.113.9"])
            #expect(attacker.status == 429)
            let first = Int(attacker.headers[.retryAfter] ?? "") ?? 0
            #expect(first > 0 && first <= 61)
            // The owner, elsewhere, still signs in.
            #expect(
                try await api.call(.post, "/api/auth/login", body: right, headers: ["X-Forwarded-For": "198.51.100.7"])
                    .status == 200)
            // A client cannot pick its address by writing the header itself in front of the proxy's hop.
            let forged = try await api.call(
                .post, "/api/auth/login", body: right, headers: ["X-Forwarded-For": "198.51.100.7, 203.0.113.9"])
            #expect(forged.status == 429)
        }
    }

    @Test("client addresses have one spelling, and an IPv6 host counts as its /64")
    func clientAddresses() {
        #expect(ClientAddressMiddleware.normalized("::ffff:10.0.0.5") == "10.0.0.5")
        #expect(ClientAddressMiddleware.normalized("1.2.3.4:5123") == "1.2.3.4")
        #expect(ClientAddressMiddleware.normalized("[2001:DB8:0::1]") == "2001:db8::1")
        #expect(
            ClientAddressMiddleware.limitKey("2001:db8:0:0:1::5")
                == ClientAddressMiddleware.limitKey("2001:db8::9:9:9:9"))
        #expect(ClientAddressMiddleware.limitKey("2001:db8:0:1::5") != ClientAddressMiddleware.limitKey("2001:db8::9"))
        #expect(ClientAddressMiddleware.limitKey("10.0.0.5") == "10.0.0.5")
        let trusted: Set = ["10.0.0.1"]
        #expect(ClientAddressMiddleware.client(forwardedFor: ["6.6.6.6, 1.2.3.4:80"], trusted: trusted) == "1.2.3.4")
        #expect(ClientAddressMiddleware.client(forwardedFor: ["1.2.3.4", "10.0.0.1"], trusted: trusted) == "1.2.3.4")
        #expect(ClientAddressMiddleware.client(forwardedFor: ["not-an-address"], trusted: trusted) == nil)
    }

    @Test("the lockout grows with each new lockout of the same key, and memory stays bounded")
    func progressiveLockout() {
        var limits = LoginRateLimiter.Limits()
        limits.maxEntries = 1000
        let limiter = LoginRateLimiter(limits: limits)
        var now = 0
        var waits: [Int] = []
        for _ in 0..<3 {
            for _ in 0..<5 { #expect(limiter.admit(email: "a@b.co", address: "10.0.0.1", now: now) == nil) }
            let wait = limiter.admit(email: "a@b.co", address: "10.0.0.1", now: now) ?? 0
            waits.append(wait)
            now += wait
        }
        #expect(waits == [60_000, 120_000, 240_000])
        for index in 0..<5000 {
            _ = limiter.admit(email: "u\(index)@b.co", address: "10.1.\(index / 250).\(index % 250)", now: now)
        }
        #expect(limiter.count <= 1000)
    }

    @Test(
        "a NUL in a body or a query value is 400, in a path 404, on both databases",
        arguments: Backend.available)
    func nulCharacters(backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let register = try await api.call(
                .post, "/api/auth/register", body: #"{"email":"a\u0000b@example.com","password":"password-123"}"#)
            #expect(register.status == 400 && register.errorCode == "invalid_request")
            // An escaped backslash before "u0000" is text, not a NUL.
            #expect(!JSONCoding.containsEscapedNUL(Array(#"{"name":"a\\u0000"}"#.utf8)))
            #expect(JSONCoding.containsEscapedNUL(Array(#"{"name":"a\\\u0000"}"#.utf8)))
            #expect(JSONCoding.containsEscapedNUL(Array(#"{"name":"\u0000"}"#.utf8)))
            #expect(!JSONCoding.containsEscapedNUL(Array(#"{"name":"\u0001\u000"}"#.utf8)))
            let (user, _) = try await api.register("nul@example.com", password: "password-123")
            let order = try await api.call(
                .post, "/api/orders", token: user, body: #"{"items":[{"productId":"\u0000","quantity":1}]}"#)
            #expect(order.status == 400 && order.errorCode == "invalid_request")
            for path in ["/api/products?startingAfter=%00", "/api/orders?startingAfter=a%00b"] {
                let reply = try await api.call(.get, path, token: user)
                #expect(reply.status == 400 && reply.errorCode == "invalid_request", "\(path)")
            }
            for path in ["/api/orders/%00", "/api/payments/a%00b", "/api/products/%00"] {
                let reply = try await api.call(.get, path, token: user)
                #expect(reply.status == 404 && reply.errorCode == "not_found", "\(path)")
            }
            // Any query value, read or not, and for an admin's filters too: alike on both databases.
            #expect(try await api.call(.get, "/api/auth/me?x=%00", token: user).status == 400)
            let admin = try await api.adminToken()
            for path in [
                "/api/orders?userId=%00", "/api/payments?sessionId=a%00", "/api/admin/webhook-events?status=%00",
            ] {
                let reply = try await api.call(.get, path, token: admin)
                #expect(reply.status == 400 && reply.errorCode == "invalid_request", "\(path)")
            }
            let login = try await api.call(
                .post, "/api/auth/login", body: #"{"email":"nul@example.com\u0000","password":"password-123"}"#)
            #expect(login.status == 400)
        }
    }

    @Test("registrations are limited per address, a taken email is refused, and a NUL in a password is refused")
    func registrations() async throws {
        try await withTill(.sqlite, configure: { $0.registrationsPerAddressPerHour = 3 }) { api, _ in
            for index in 0..<3 {
                let reply = try await api.call(
                    .post, "/api/auth/register", body: #"{"email":"r\#(index)@example.com","password":"password-123"}"#)
                #expect(reply.status == 201)
            }
            let over = try await api.call(
                .post, "/api/auth/register", body: #"{"email":"r9@example.com","password":"password-123"}"#)
            #expect(over.status == 429 && over.errorCode == "rate_limited")
            #expect(Int(over.headers[.retryAfter] ?? "") ?? 0 > 3000)
        }
        try await withTill(.sqlite) { api, _ in
            let nul = try await api.call(
                .post, "/api/auth/register", body: #"{"email":"n@example.com","password":"password\u0000tail"}"#)
            #expect(nul.status == 400 && nul.errorCode == "invalid_request")
            _ = try await api.register("n@example.com", password: "password")
            // bcrypt would stop at the NUL and accept the stored password's prefix: the NUL is refused first.
            let login = try await api.call(
                .post, "/api/auth/login", body: #"{"email":"n@example.com","password":"password\u0000anything"}"#)
            #expect(login.status == 400 && login.string("token").isEmpty)
            let again = try await api.call(
                .post, "/api/auth/register", body: #"{"email":"N@example.com","password":"other-password"}"#)
            #expect(again.status == 409 && again.errorCode == "email_taken")
        }
    }

    @Test(
        "a demoted or deleted admin loses the admin routes without waiting for the token to expire",
        arguments: Backend.available)
    func demotion(backend: Backend) async throws {
        try await withTill(backend, configure: { $0.roleCacheMillis = 200 }) { api, till in
            let admin = try await api.adminToken()
            #expect(try await api.call(.get, "/api/admin/webhook-events", token: admin).status == 200)
            try await till.database.withConnection { db in
                try await db.raw("UPDATE users SET role = 'customer' WHERE email = \(bind: adminEmail)").run()
            }
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await api.call(.get, "/api/admin/webhook-events", token: admin).status == 403)
            try await till.database.withConnection { db in
                try await db.raw("DELETE FROM users WHERE email = \(bind: adminEmail)").run()
            }
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await api.call(.get, "/api/auth/me", token: admin).status == 401)
        }
    }

    @Test(
        "an account the operator makes an admin (or whose password they set) refuses its earlier tokens; an unchanged admin keeps them",
        arguments: Backend.available)
    func promotionRevokesTokens(backend: Backend) async throws {
        try await withTill(backend) { api, till in
            let email = "staff-\(UUID().uuidString.prefix(8))@example.com"
            let (squatter, _) = try await api.register(email)
            #expect(try await api.call(.get, "/api/admin/summary", token: squatter).status == 403)
            // A login that read the account before the promotion and signs after it commits (bcrypt ran meanwhile).
            let before = try #require(
                try await till.database.withConnection { db in
                    try await UserRepository().find(email: Validation.normalizedEmail(email), on: db)
                })
            let readAt = till.clock.nowMillis()
            try await Task.sleep(for: .milliseconds(5))
            try await till.auth.ensureAdmin(email: email, password: "operator-password-1")
            let late = try await till.auth.token(for: before, at: readAt)
            #expect(try await api.call(.get, "/api/admin/summary", token: late).status == 401)
            // The registrant's token did not become an admin's: it no longer works at all.
            #expect(try await api.call(.get, "/api/admin/summary", token: squatter).status == 401)
            #expect(try await api.call(.get, "/api/auth/me", token: squatter).status == 401)
            let login = try await api.call(
                .post, "/api/auth/login", body: #"{"email":"\#(email)","password":"operator-password-1"}"#)
            let admin = login.string("token")
            #expect(try await api.call(.get, "/api/admin/summary", token: admin).status == 200)
            // The next start with the same ADMIN_EMAIL and ADMIN_PASSWORD changes nothing: the admin stays signed in.
            try await till.auth.ensureAdmin(email: email, password: "operator-password-1")
            #expect(try await api.call(.get, "/api/admin/summary", token: admin).status == 200)
            // A new password from the operator signs every session out.
            try await till.auth.ensureAdmin(email: email, password: "operator-password-2")
            #expect(try await api.call(.get, "/api/admin/summary", token: admin).status == 401)
        }
    }

    // MARK: Money

    @Test("a refund's amount is read from a chunked body", arguments: Backend.available)
    func chunkedRefund(backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let (user, admin, _, order) = try await api.orderSetup(unitAmount: 1000, quantity: 1)
            let orderId = order.string("id")
            let checkout = try await api.call(.post, "/api/orders/\(orderId)/checkout", token: user)
            _ = try await api.pay(session: checkout.string("sessionId"))
            try await api.waitForOrder(user, orderId, toBe: "PAID")
            var request = HTTPClientRequest(url: api.baseURL + "/api/payments/\(checkout.string("paymentId"))/refund")
            request.method = .POST
            request.headers.add(name: "Authorization", value: "Bearer \(admin)")
            request.headers.add(name: "Content-Type", value: "application/json")
            // A misspelt amount is refused, not read as "refund everything".
            let typo = try await api.call(
                .post, "/api/payments/\(checkout.string("paymentId"))/refund", token: admin, body: #"{"amout":100}"#)
            #expect(typo.status == 400 && typo.errorCode == "invalid_request")
            // No Content-Length: the body goes chunked.
            request.body = .bytes(Array(#"{"amount":100}"#.utf8), length: .unknown)
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
            #expect(response.status.code == 202)
            try await eventually(10, "the partial refund") {
                try await api.orderStatus(user, orderId) == "PARTIALLY_REFUNDED"
            }
            #expect(try await api.call(.get, "/api/orders/\(orderId)", token: user).int("amountRefunded") == 100)
        }
    }

    @Test(
        "one account cannot hold more than MAX_PENDING_ORDERS_PER_USER pending orders, even all at once",
        arguments: Backend.available)
    func hoarding(backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let admin = try await api.adminToken()
            let product = try await api.createProduct(admin: admin, inventory: 1000)
            let (hoarder, _) = try await api.register()
            let statuses = try await withThrowingTaskGroup(of: Reply.self) { group in
                for _ in 0..<40 { group.addTask { try await api.order(hoarder, [(product, 1)]) } }
                return try await group.reduce(into: [Reply]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0.status == 201 }.count == 20)
            #expect(statuses.filter { $0.status == 429 }.allSatisfy { $0.errorCode == "too_many_pending_orders" })
            #expect(statuses.allSatisfy { [201, 429].contains($0.status) })
            #expect(try await api.inventory(product) == 980)
            // Another customer is not held back by the hoarder.
            let (other, _) = try await api.register()
            #expect(try await api.order(other, [(product, 1)]).status == 201)
        }
    }

    @Test("one expiry pass cancels a backlog far larger than a page", arguments: Backend.available)
    func expiryBacklog(backend: Backend) async throws {
        try await withTill(
            backend,
            configure: {
                $0.orderTTLSeconds = 1
                $0.maxPendingOrdersPerUser = 0
            }
        ) { api, till in
            let admin = try await api.adminToken()
            let product = try await api.createProduct(admin: admin, inventory: 450)
            let (user, _) = try await api.register()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<450 {
                    group.addTask {
                        let status = try await api.order(user, [(product, 1)]).status
                        #expect(status == 201)
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await api.inventory(product) == 0)
            try await Task.sleep(for: .milliseconds(1100))
            _ = try await till.reconcile()
            #expect(try await api.inventory(product) == 450)
        }
    }

    @Test("money under review keeps its order: the sweep and the owner cannot cancel it", arguments: Backend.available)
    func reviewIsNotCancelled(backend: Backend) async throws {
        try await withTill(backend, configure: { $0.orderTTLSeconds = 1 }) { api, till in
            let (user, _, product, order) = try await api.orderSetup(unitAmount: 1999, inventory: 5, quantity: 2)
            let orderId = order.string("id")
            let checkout = try await api.call(.post, "/api/orders/\(orderId)/checkout", token: user)
            let paymentId = checkout.string("paymentId")
            let options = TestEvents.Options(
                orderId: orderId, paymentId: paymentId, sessionId: checkout.string("sessionId"),
                paymentIntentId: TestEvents.randomId("pi"), chargeId: TestEvents.randomId("ch"), amount: 5)
            let event = try TestEvents.make(type: "checkout.session.completed", options: options)
            #expect(try await api.deliver(event, secret: till.webhookSecrets[0]).status == 200)
            try await eventually(10, "the payment to need review") {
                try await api.payment(user, paymentId).string("status") == "REQUIRES_REVIEW"
            }
            try await Task.sleep(for: .milliseconds(1100))
            _ = try await till.reconcile()
            #expect(try await api.orderStatus(user, orderId) == "PENDING")
            #expect(try await api.inventory(product) == 3)
            let cancel = try await api.call(.post, "/api/orders/\(orderId)/cancel", token: user)
            #expect(cancel.status == 409 && cancel.errorCode == "order_not_payable")
            #expect(try await api.inventory(product) == 3)
            // An admin accepts what was taken: the order is delivered.
            let admin = try await api.adminToken()
            #expect(try await api.call(.post, "/api/payments/\(paymentId)/accept", token: user).status == 403)
            let accepted = try await api.call(.post, "/api/payments/\(paymentId)/accept", token: admin)
            #expect(accepted.status == 200 && accepted.string("status") == "SUCCEEDED")
            #expect(try await api.orderStatus(user, orderId) == "PAID")
            let again = try await api.call(.post, "/api/payments/\(paymentId)/accept", token: admin)
            #expect(again.status == 409 && again.errorCode == "payment_not_under_review")
        }
    }

    @Test(
        "an admin refunds money under review in full at Stripe: the order is let go and its stock comes back",
        arguments: Backend.available)
    func reviewRefunded(backend: Backend) async throws {
        try await withTill(backend) { api, till in
            let (user, admin, product, orderId, paymentId, options) = try await underReview(api, till)
            let partial = try await api.call(
                .post, "/api/payments/\(paymentId)/refund", token: admin, body: #"{"amount":100}"#)
            #expect(partial.status == 400)
            let refund = try await api.call(.post, "/api/payments/\(paymentId)/refund", token: admin)
            #expect(refund.status == 202 && refund.string("status") == "REFUNDED")
            #expect(try await api.orderStatus(user, orderId) == "CANCELLED")
            #expect(try await api.inventory(product) == 5)
            let refunds = try await api.stripe(.get, "/v1/refunds", form: "payment_intent=\(options.paymentIntentId!)")
            #expect((refunds["data"] as? [[String: Any]])?.first?["amount"] as? Int == 700)
        }
    }

    @Test(
        "more money than the order, accepted, then refunded in full (no amount, or the admin page's amount left): all Stripe took goes back",
        arguments: Backend.available, [nil, #"{"amount":3998}"#])
    func acceptedOverpaymentRefundedInFull(backend: Backend, body: String?) async throws {
        try await withTill(backend) { api, till in
            let (user, admin, _, orderId, paymentId, options) = try await underReview(api, till, taken: 5000)
            #expect(try await api.call(.post, "/api/payments/\(paymentId)/accept", token: admin).status == 200)
            #expect(try await api.orderStatus(user, orderId) == "PAID")
            let refund = try await api.call(.post, "/api/payments/\(paymentId)/refund", token: admin, body: body)
            #expect(refund.status == 202)
            // Stripe gave back the 5,000 it took, not the order's 3,998 (which kept 1,002 without an order).
            let refunds = try await api.stripe(.get, "/v1/refunds", form: "payment_intent=\(options.paymentIntentId!)")
            #expect((refunds["data"] as? [[String: Any]])?.first?["amount"] as? Int == 5000)
            try await eventually(10, "the refund recorded") {
                try await api.payment(user, paymentId).string("status") == "REFUNDED"
            }
        }
    }

    @Test(
        "money under review refunded at Stripe meanwhile cannot be accepted; the admin's refund then ends it",
        arguments: Backend.available)
    func reviewRefundedAtStripe(backend: Backend) async throws {
        try await withTill(backend) { api, till in
            let (user, admin, product, orderId, paymentId, reviewed) = try await underReview(api, till)
            var options = reviewed
            // Support gives the money back from Stripe's dashboard.
            _ = try await api.stripe(.post, "/v1/refunds", form: "payment_intent=\(options.paymentIntentId!)")
            options.amountRefunded = 700
            _ = try await api.deliver(
                try TestEvents.make(type: "charge.refunded", options: options), secret: till.webhookSecrets[0])
            try await eventually(10, "the refund to be recorded") {
                try await api.payment(user, paymentId).int("amountRefunded") == 700
            }
            let accept = try await api.call(.post, "/api/payments/\(paymentId)/accept", token: admin)
            #expect(accept.status == 409)
            #expect(try await api.orderStatus(user, orderId) == "PENDING")
            let refund = try await api.call(.post, "/api/payments/\(paymentId)/refund", token: admin)
            #expect(refund.status == 202 && refund.string("status") == "REFUNDED")
            #expect(try await api.orderStatus(user, orderId) == "CANCELLED")
            #expect(try await api.inventory(product) == 5)
        }
    }

    @Test(
        "admins accepting and refunding the same money under review at once: one of them wins, never both",
        arguments: Backend.available)
    func acceptRacesRefund(backend: Backend) async throws {
        try await withTill(backend) { api, till in
            for _ in 0..<4 {
                let (user, admin, product, orderId, paymentId, options) = try await underReview(api, till)
                let replies = try await withThrowingTaskGroup(of: (String, Int).self) { group in
                    for index in 0..<6 {
                        let action = index.isMultiple(of: 2) ? "accept" : "refund"
                        group.addTask {
                            (
                                action,
                                try await api.call(.post, "/api/payments/\(paymentId)/\(action)", token: admin).status
                            )
                        }
                    }
                    return try await group.reduce(into: [(String, Int)]()) { $0.append($1) }
                }
                // Accepted: the order was delivered, and a refund that came after the acceptance is a refund of a
                // paid payment (all Stripe took goes back; the order stays delivered). Refunded under review: the
                // order is cancelled and its stock back. Never an order both delivered and cancelled.
                let accepted = replies.contains { $0 == ("accept", 200) }
                let refunds = try await api.stripe(
                    .get, "/v1/refunds", form: "payment_intent=\(options.paymentIntentId!)")
                #expect(accepted || refunds.data.count == 1, "\(replies)")
                #expect(replies.allSatisfy { $0.1 < 500 || $0.1 == 502 }, "\(replies)")
                let status = try await api.orderStatus(user, orderId)
                #expect(accepted ? ["PAID", "PARTIALLY_REFUNDED", "REFUNDED"].contains(status) : status == "CANCELLED")
                #expect(try await api.inventory(product) == (accepted ? 3 : 5))
            }
        }
    }

    @Test(
        "an order cancelled while Stripe makes its intent or session: 409, and the object is ended at Stripe",
        arguments: Backend.available)
    func cancelWhileCreating(backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            for route in ["payment-intent", "checkout"] {
                let (user, _, product, order) = try await api.orderSetup(inventory: 5, quantity: 2)
                let orderId = order.string("id")
                // Long enough for the cancel to commit first even on a loaded machine; otherwise the session is made,
                // then ended by the cancel, and the request answers 201, which is the other race.
                try await api.fault(#"{"target":"latency","delayMillis":1500}"#)
                async let created = api.call(.post, "/api/orders/\(orderId)/\(route)", token: user)
                try await api.waitForPayment(user, orderId)
                let cancel = try await api.call(.post, "/api/orders/\(orderId)/cancel", token: user)
                #expect(cancel.status == 200 && cancel.string("status") == "CANCELLED", "\(cancel.text)")
                let reply = try await created
                #expect(reply.status == 409 && reply.errorCode == "order_not_payable", "\(route): \(reply.text)")
                #expect(try await api.call(.delete, "/_stripe/_emulator/faults").status == 200)
                let listed = try await api.call(.get, "/api/orders/\(orderId)/payment", token: user)
                let made = (listed["payments"] as? [[String: Any]])?.first
                let (kind, ended) =
                    route == "checkout" ? ("checkout/sessions", "expired") : ("payment_intents", "canceled")
                let mine = try await api.stripeObject(kind, orderId: orderId)
                #expect(mine?["status"] as? String == ended, "\(String(describing: mine))")
                #expect(made?["status"] as? String == "CANCELED")
                #expect(try await api.orderStatus(user, orderId) == "CANCELLED")
                #expect(try await api.inventory(product) == 5)
            }
        }
    }

    @Test(
        "a payment started while its order was being cancelled, unseen by the cancel, records nothing and ends its object",
        arguments: Backend.available)
    func orderCancelledUnderAPayment(backend: Backend) async throws {
        try await withTill(backend) { api, till in
            let (user, _, product, order) = try await api.orderSetup(inventory: 5, quantity: 2)
            let orderId = order.string("id")
            try await api.fault(#"{"target":"latency","delayMillis":1500}"#)
            async let created = api.call(.post, "/api/orders/\(orderId)/payment-intent", token: user)
            try await api.waitForPayment(user, orderId)
            // The cancel as it would commit had it read the order's payments before this one was stored.
            _ = try await till.database.transaction { db in
                try await OrderRepository().cancelReleasingStock(
                    ids: [orderId], now: till.clock.nowMillis(), kind: till.database.kind, on: db)
            }
            let reply = try await created
            #expect(reply.status == 409 && reply.errorCode == "order_not_payable", "\(reply.text)")
            #expect(try await api.call(.delete, "/_stripe/_emulator/faults").status == 200)
            let mine = try await api.stripeObject("payment_intents", orderId: orderId)
            #expect(mine?["status"] as? String == "canceled", "\(String(describing: mine))")
            let payments = try await api.call(.get, "/api/orders/\(orderId)/payment", token: user)
            #expect((payments["payments"] as? [[String: Any]])?.first?["status"] as? String == "CANCELED")
            #expect(try await api.orderStatus(user, orderId) == "CANCELLED")
            #expect(try await api.inventory(product) == 5)
        }
    }

    @Test(
        "a dispute and then a refund of one payment in one batch: both applied (the refund's write expects the flag)",
        arguments: Backend.available)
    func disputeThenRefundInOneBatch(backend: Backend) async throws {
        try await withTill(backend) { api, till in
            let (user, _, _, order) = try await api.orderSetup()
            let orderId = order.string("id")
            let checkout = try await api.call(.post, "/api/orders/\(orderId)/checkout", token: user)
            let paymentId = checkout.string("paymentId")
            let paid = try await api.pay(session: checkout.string("sessionId"))
            try await api.waitForOrder(user, orderId, toBe: "PAID")
            var options = TestEvents.Options(
                orderId: orderId, paymentId: paymentId, sessionId: checkout.string("sessionId"),
                paymentIntentId: paid.string("payment_intent"), amount: 3998)
            options.amountRefunded = 1000
            let items = try ["charge.dispute.created", "charge.refunded"].map { type in
                let event = try TestEvents.make(type: type, options: options)
                let fields = try StripeFacts.EventFields.decode(try StripeJSON.encoder().encode(event))
                return SettlementService.Item(eventId: event.id, subject: StripeFacts.from(fields))
            }
            _ = try await till.database.transaction { db in try await till.settlement.apply(items, on: db) }
            let payment = try await api.payment(user, paymentId)
            #expect(payment.string("status") == "PARTIALLY_REFUNDED" && payment.int("amountRefunded") == 1000)
            #expect(try await api.orderStatus(user, orderId) == "PARTIALLY_REFUNDED")
        }
    }

    @Test(
        "a customer looping on the billing portal or subscription checkouts spends at most 30 Stripe calls a minute; then 429"
    )
    func stripeCallBudget() async throws {
        try await withTill(.sqlite) { api, _ in
            let (user, _) = try await api.register()
            for _ in 0..<StripeCallBudget.perMinute {
                #expect(try await api.call(.post, "/api/billing-portal", token: user).status == 201)
            }
            let over = try await api.call(.post, "/api/billing-portal", token: user)
            #expect(over.status == 429 && over.errorCode == "rate_limited")
            #expect((1...60).contains(Int(over.headers[.retryAfter] ?? "") ?? 0))
            // Switching a subscription checkout to another plan shares the budget (it ends a session and opens
            // another); the first checkout, and a second click on it, do not spend it.
            let plan = try await api.recurringPlan()
            let yearly = try await api.recurringPlan(interval: "year")
            #expect(try await api.call(.post, "/api/plans/\(plan)/checkout", token: user).status == 201)
            #expect(try await api.call(.post, "/api/plans/\(plan)/checkout", token: user).status == 200)
            let switched = try await api.call(.post, "/api/plans/\(yearly)/checkout", token: user)
            #expect(switched.status == 429 && switched.errorCode == "rate_limited")
            // Another customer has a budget of its own; an admin is not counted.
            let (other, _) = try await api.register()
            #expect(try await api.call(.post, "/api/billing-portal", token: other).status == 201)
            let admin = try await api.adminToken()
            for _ in 0...StripeCallBudget.perMinute {
                #expect(try await api.call(.post, "/api/billing-portal", token: admin).status == 201)
            }
        }
    }

    @Test("a client looping on sync reaches Stripe at most once an interval per payment")
    func syncThrottle() async throws {
        try await withTill(.sqlite, configure: { $0.syncIntervalMillis = 60_000 }) { api, _ in
            let (user, _, _, order) = try await api.orderSetup(unitAmount: 1000, quantity: 1)
            let checkout = try await api.call(.post, "/api/orders/\(order.string("id"))/checkout", token: user)
            let paymentId = checkout.string("paymentId")
            let first = try await api.call(.post, "/api/payments/\(paymentId)/sync", token: user)
            #expect(first.string("status") == "INITIATED")
            try await api.fault(#"{"target":"webhooks","mode":"drop","count":10}"#)
            _ = try await api.pay(session: checkout.string("sessionId"))
            // Paid at Stripe, but this payment was read back within the interval: the stored state answers.
            for _ in 0..<5 {
                let again = try await api.call(.post, "/api/payments/\(paymentId)/sync", token: user)
                #expect(again.status == 200 && again.string("status") == "INITIATED")
            }
        }
    }

    // MARK: Concurrency

    @Test(
        "concurrent multi-item orders over shuffled products, with cancels and checkouts racing them: no 5xx, stock exact",
        arguments: Backend.available)
    func orderStorm(backend: Backend) async throws {
        try await withTill(backend) { api, _ in
            let admin = try await api.adminToken()
            var products: [String] = []
            for index in 0..<6 {
                products.append(try await api.createProduct(admin: admin, name: "P\(index)", inventory: 300))
            }
            var users: [String] = []
            for _ in 0..<6 { users.append(try await api.register().token) }
            let catalog = products
            let tokens = users
            // Each worker: orders of 2 to 4 products in a random order, then cancels, pays or leaves each at random.
            let outcomes = try await withThrowingTaskGroup(of: [(status: Int, kept: [(String, Int)])].self) { group in
                for worker in 0..<24 {
                    group.addTask {
                        var results: [(status: Int, kept: [(String, Int)])] = []
                        let token = tokens[worker % tokens.count]
                        for _ in 0..<8 {
                            let items = catalog.shuffled().prefix(Int.random(in: 2...4)).map {
                                ($0, Int.random(in: 1...3))
                            }
                            let order = try await api.order(token, items)
                            results.append((order.status, []))
                            guard order.status == 201 else { continue }
                            let id = order.string("id")
                            switch Int.random(in: 0..<3) {
                            case 0:
                                let cancel = try await api.call(.post, "/api/orders/\(id)/cancel", token: token)
                                results.append((cancel.status, cancel.status == 200 ? [] : items))
                            case 1:
                                let checkout = try await api.call(.post, "/api/orders/\(id)/checkout", token: token)
                                results.append((checkout.status, items))
                            default:
                                results.append((200, items))
                            }
                        }
                        return results
                    }
                }
                return try await group.reduce(into: [(status: Int, kept: [(String, Int)])]()) { $0 += $1 }
            }
            let failures = outcomes.filter { $0.status >= 500 }
            #expect(failures.count == 0, "answers 5xx")
            // 429: a buyer past the cap on pending orders, which stays on (its lock is part of the lock order).
            #expect(outcomes.allSatisfy { [200, 201, 409, 429].contains($0.status) })
            var held: [String: Int] = [:]
            for outcome in outcomes {
                for (product, quantity) in outcome.kept { held[product, default: 0] += quantity }
            }
            for product in catalog {
                #expect(try await api.inventory(product) == 300 - (held[product] ?? 0), "stock of \(product)")
            }
        }
    }

    // MARK: Connections and bounded state

    @Test("an idle connection is closed by the server")
    func idleTimeout() async throws {
        try await withTill(.sqlite, configure: { $0.idleTimeoutSeconds = 1 }) { api, _ in
            let port = Int(URLComponents(string: api.baseURL)!.port!)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            #expect(withLoopback(port, { connect(fd, $0, $1) }) == 0)
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let started = ContinuousClock.now
            var byte: UInt8 = 0
            let read = recv(fd, &byte, 1, 0)
            #expect(read == 0, "the server closes the connection")
            #expect(ContinuousClock.now - started < .seconds(4))
        }
    }

    @Test("the embedded emulator answers a wrong method as Stripe does, and Till's own routes as Till does")
    func wrongMethods() async throws {
        try await withTill(.sqlite) { api, _ in
            let stripe = try await api.stripe(.put, "/v1/payment_intents")
            #expect(stripe.status == 404)
            #expect((stripe["error"] as? [String: Any])?["type"] as? String == "invalid_request_error")
            let till = try await api.call(.put, "/api/products")
            #expect(till.status == 404 && till.errorCode == "not_found")
        }
    }

    @Test("idempotency keys older than a day are forgotten by the reconciler", arguments: Backend.available)
    func idempotencyExpiry(backend: Backend) async throws {
        try await withTill(backend) { api, till in
            let (user, _, product, _) = try await api.orderSetup()
            #expect(try await api.order(user, [(product, 1)], key: "old-key").status == 201)
            #expect(try await api.order(user, [(product, 1)], key: "new-key").status == 201)
            let dayAgo = Int(Date().timeIntervalSince1970 * 1000) - 24 * 3600 * 1000 - 1000
            try await till.database.withConnection { db in
                try await db.raw("UPDATE idempotency_keys SET created_at = \(bind: dayAgo) WHERE idem_key = 'old-key'")
                    .run()
            }
            _ = try await till.reconcile()
            let keys = try await till.database.withConnection { db in
                try await db.raw("SELECT idem_key FROM idempotency_keys ORDER BY idem_key").all(
                    decodingColumn: "idem_key", as: String.self)
            }
            #expect(keys == ["new-key"])
        }
    }
}

/// An order of 2 × 1999 whose payment is under review: Stripe really took `taken` (700) for it (a PaymentIntent made
/// at the emulator), and the signed `checkout.session.completed` saying so has been settled.
private func underReview(_ api: API, _ till: Till, taken: Int = 700) async throws -> (
    user: String, admin: String, product: String, orderId: String, paymentId: String, options: TestEvents.Options
) {
    let (user, admin, product, order) = try await api.orderSetup(unitAmount: 1999, inventory: 5, quantity: 2)
    let orderId = order.string("id")
    let checkout = try await api.call(.post, "/api/orders/\(orderId)/checkout", token: user)
    let paymentId = checkout.string("paymentId")
    let intent = try await api.stripe(
        .post, "/v1/payment_intents", form: "amount=\(taken)&currency=usd&payment_method=pm_card_visa&confirm=true")
    #expect(intent.string("status") == "succeeded")
    let options = TestEvents.Options(
        orderId: orderId, paymentId: paymentId, sessionId: checkout.string("sessionId"),
        paymentIntentId: intent.string("id"), amount: taken)
    let event = try TestEvents.make(type: "checkout.session.completed", options: options)
    #expect(try await api.deliver(event, secret: till.webhookSecrets[0]).status == 200)
    try await eventually(10, "the payment to need review") {
        try await api.payment(user, paymentId).string("status") == "REQUIRES_REVIEW"
    }
    return (user, admin, product, orderId, paymentId, options)
}
