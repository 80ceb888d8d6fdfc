import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SQLKit
import StripeAPI
import TillServer

/// `till bench`: the parts of Benchmarks/run that need Till's code. `prepare` seeds orders with open Checkout Sessions
/// through the API and writes signed `checkout.session.completed` deliveries for wrk to send; `settle` waits for the
/// last order to be paid and checks exactly-once in the database; `checkout` times clients creating orders and their
/// Checkout Sessions; `oversell-prepare` and `oversell-check` set up and check a race of orders for scarce stock.
public struct Benchmark: Sendable {
    public struct Options: Sendable {
        public var baseURL: String
        public var database: DatabaseConfig
        public var secret: String
        public var adminEmail: String
        public var adminPassword: String
        public var events: Int
        public var duplicateShare: Double
        public var serverPID: Int?

        public init(
            baseURL: String, database: DatabaseConfig, secret: String, adminEmail: String, adminPassword: String,
            events: Int, duplicateShare: Double, serverPID: Int?
        ) {
            self.baseURL = baseURL
            self.database = database
            self.secret = secret
            self.adminEmail = adminEmail
            self.adminPassword = adminPassword
            self.events = events
            self.duplicateShare = duplicateShare
            self.serverPID = serverPID
        }
    }

    let options: Options
    let http = HTTPClient(
        eventLoopGroupProvider: .singleton,
        configuration: .init(
            connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 512)))

    public init(options: Options) {
        self.options = options
    }

    struct Reply {
        let status: Int
        let json: [String: Any]
    }

    func call(_ method: HTTPMethod, _ path: String, token: String? = nil, body: String? = nil) async throws -> Reply {
        var request = HTTPClientRequest(url: options.baseURL + path)
        request.method = method
        request.headers.add(name: "Content-Type", value: "application/json")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await http.execute(request, timeout: .seconds(60))
        let bytes = try await response.body.collect(upTo: 1 << 24)
        let json = (try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView))) as? [String: Any] ?? [:]
        return Reply(status: Int(response.status.code), json: json)
    }

    /// Runs with `concurrency` workers over `count` jobs.
    func parallel(_ count: Int, concurrency: Int, _ job: @escaping @Sendable (Int) async throws -> Void) async throws {
        let next = Counter()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<max(1, min(concurrency, count)) {
                group.addTask {
                    while let index = await next.take(below: count) { try await job(index) }
                }
            }
            try await group.waitForAll()
        }
    }

    actor Counter {
        var value = 0
        func take(below limit: Int) -> Int? {
            guard value < limit else { return nil }
            defer { value += 1 }
            return value
        }
    }

    /// A new product at 5.00 USD with `inventory` in stock, made by the admin; returns its id.
    func newProduct(name: String, inventory: Int) async throws -> String {
        let admin = try await call(
            .POST, "/api/auth/login",
            body: #"{"email":"\#(options.adminEmail)","password":"\#(options.adminPassword)"}"#)
        guard let adminToken = admin.json["token"] as? String else {
            throw BenchError("admin login failed: \(admin.status)")
        }
        let product = try await call(
            .POST, "/api/products", token: adminToken,
            body: #"{"name":"\#(name)","unitAmount":500,"currency":"usd","inventory":\#(inventory)}"#)
        guard let productId = product.json["id"] as? String else { throw BenchError("product: \(product.status)") }
        return productId
    }

    /// `count` newly registered customers' tokens.
    func newCustomers(_ count: Int, prefix: String) async throws -> [String] {
        var tokens: [String] = []
        for index in 0..<count {
            let reply = try await call(
                .POST, "/api/auth/register",
                body:
                    #"{"email":"\#(prefix)-\#(UUID().uuidString.prefix(8))-\#(index)@bench.test","password":"bench-password"}"#
            )
            guard let token = reply.json["token"] as? String else { throw BenchError("register: \(reply.status)") }
            tokens.append(token)
        }
        return tokens
    }

    /// One order and its Checkout Session, as a shop's client makes them: `POST /api/orders`, then
    /// `POST /api/orders/:id/checkout`.
    func orderAndSession(token: String, productId: String) async throws -> SeedStore.Seed {
        let order = try await call(
            .POST, "/api/orders", token: token, body: #"{"items":[{"productId":"\#(productId)","quantity":1}]}"#)
        guard let orderId = order.json["id"] as? String else {
            throw BenchError("order: \(order.status) \(order.json)")
        }
        let checkout = try await call(.POST, "/api/orders/\(orderId)/checkout", token: token)
        guard let paymentId = checkout.json["paymentId"] as? String,
            let sessionId = checkout.json["sessionId"] as? String
        else {
            throw BenchError("checkout: \(checkout.status) \(checkout.json)")
        }
        return .init(orderId: orderId, paymentId: paymentId, sessionId: sessionId)
    }

    /// Seeds `events` orders with open Checkout Sessions through the API, then writes one signed delivery a line
    /// (`Stripe-Signature`, a tab, the JSON body) in random order, for wrk to send. Each event is a whole
    /// `checkout.session.completed` as Stripe sends it (`stripeShaped`). A share of them is delivered a second time,
    /// 1 to 200 positions after the first, as Stripe's retries arrive.
    public func prepare(file: String) async throws -> String {
        let productId = try await newProduct(name: "Bench tea", inventory: options.events)
        let users = 20
        let tokens = try await newCustomers(users, prefix: "bench")
        let seeded = SeedStore()
        let seedStart = ContinuousClock.now
        let userTokens = tokens
        try await parallel(options.events, concurrency: 32) { index in
            let seed = try await orderAndSession(token: userTokens[index % users], productId: productId)
            await seeded.add(seed, at: ContinuousClock.now)
        }
        let seedSeconds = (ContinuousClock.now - seedStart).seconds
        let now = Int(Date().timeIntervalSince1970) + 60  // signed for when wrk will send them
        var placed: [(position: Double, line: String)] = []
        var bytes = 0
        for (index, seed) in await seeded.items.shuffled().enumerated() {
            let event = try Self.stripeShaped(seed, amount: 500, now: now)
            let payload = try StripeJSON.encode(event)
            bytes += payload.count
            let line =
                WebhookSignature.header(payload: payload, secret: options.secret, timestamp: now) + "\t"
                + String(decoding: payload, as: UTF8.self)
            placed.append((Double(index), line))
            if Double.random(in: 0..<1) < options.duplicateShare {
                placed.append((Double(index + Int.random(in: 1...200)) + 0.5, line))
            }
        }
        let lines = placed.sorted { $0.position < $1.position }.map(\.line)
        try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let stepRates = await seeded.rates(from: seedStart, step: 5000)
        return String(
            format:
                "seeded %d orders with open Checkout Sessions in %.1f s (%.0f/s; by 5,000: %@/s); wrote %d signed deliveries (%d duplicates, up to 200 late), %.0f bytes an event",
            options.events, seedSeconds, Double(options.events) / seedSeconds, stepRates, lines.count,
            lines.count - options.events, Double(bytes) / Double(max(options.events, 1)))
    }

    /// The checkout scenario: `clients` concurrent clients each create an order and its Checkout Session, `count`
    /// pairs in all. With `latencyMillis`, the embedded emulator answers every API call that much later (its
    /// `latency` setting, cleared afterwards), as calls to the real Stripe take time.
    public func checkout(clients: Int, count: Int, latencyMillis: Int) async throws -> String {
        let clients = min(max(clients, 1), 1000)
        let count = min(max(count, 1), 1_000_000)
        if latencyMillis > 0 { try await setLatency(latencyMillis) }
        let productId = try await newProduct(name: "Checkout tea", inventory: count)
        let tokens = try await newCustomers(20, prefix: "checkout")
        let times = TimeStore()
        let start = ContinuousClock.now
        do {
            try await parallel(count, concurrency: clients) { index in
                let began = ContinuousClock.now
                _ = try await orderAndSession(token: tokens[index % tokens.count], productId: productId)
                await times.add((ContinuousClock.now - began).seconds * 1000)
            }
        } catch {
            if latencyMillis > 0 { try? await setLatency(0) }
            throw error
        }
        let seconds = (ContinuousClock.now - start).seconds
        if latencyMillis > 0 { try await setLatency(0) }
        let sorted = await times.values.sorted()
        func at(_ q: Double) -> Double {
            sorted.isEmpty ? .nan : sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))]
        }
        return String(
            format:
                "checkout: %d clients, Stripe latency %d ms: %d orders+sessions in %.2f s = %.0f/s; p50 %.1f ms, p99 %.1f ms",
            clients, latencyMillis, count, seconds, Double(count) / seconds, at(0.5), at(0.99))
    }

    /// The embedded emulator's latency setting (`/_stripe/_emulator/faults`); 0 clears it.
    func setLatency(_ millis: Int) async throws {
        let reply =
            millis > 0
            ? try await call(
                .POST, "/_stripe/_emulator/faults", body: #"{"target":"latency","delayMillis":\#(millis)}"#)
            : try await call(.DELETE, "/_stripe/_emulator/faults")
        guard reply.status == 200 else {
            throw BenchError("emulator latency: \(reply.status) (is the emulator embedded?)")
        }
    }

    /// A `checkout.session.completed` for a seeded order as Stripe sends it: every key of Stripe's
    /// `checkout.session` (those of Stripe's fixture), with the values of a paid card checkout, about 2.5 KB.
    static func stripeShaped(_ seed: SeedStore.Seed, amount: Int, now: Int) throws -> Event {
        var event = try TestEvents.make(
            type: "checkout.session.completed",
            options: .init(
                orderId: seed.orderId, paymentId: seed.paymentId, sessionId: seed.sessionId, amount: amount,
                customerEmail: "jenny.rosen@example.com"),
            now: now)
        guard case .checkoutSession(var s) = event.data.object else { return event }
        s.successUrl = "https://shop.example.com/checkout/success?session_id={CHECKOUT_SESSION_ID}"
        s.cancelUrl = "https://shop.example.com/checkout/cancel?orderId=\(seed.orderId)"
        s.afterExpiration = nil
        s.automaticTax = ["enabled": false, "liability": nil, "provider": nil, "status": nil]
        s.consent = nil
        s.consentCollection = nil
        s.customText = [
            "after_submit": nil, "shipping_address": nil, "submit": nil, "terms_of_service_acceptance": nil,
        ]
        s.customerCreation = "if_required"
        var details = CheckoutSession.CustomerDetails(email: "jenny.rosen@example.com", name: "Jenny Rosen")
        details.address = [
            "city": "South San Francisco", "country": "US", "line1": "354 Oyster Point Blvd", "line2": nil,
            "postal_code": "94080", "state": "CA",
        ]
        details.taxIds = []
        s.customerDetails = details
        s.invoiceCreation = [
            "enabled": false,
            "invoice_data": [
                "account_tax_ids": nil, "custom_fields": nil, "description": nil, "footer": nil, "issuer": nil,
                "metadata": [:], "rendering_options": nil,
            ],
        ]
        s.paymentMethodConfigurationDetails = ["id": .string(TestEvents.randomId("pmc")), "parent": nil]
        s.paymentMethodOptions = ["card": ["request_three_d_secure": "automatic"]]
        s.paymentMethodTypes = ["card", "link"]
        s.savedPaymentMethodOptions = [
            "allow_redisplay_filters": ["always"], "payment_method_remove": "disabled", "payment_method_save": nil,
        ]
        s.totalDetails = ["amount_discount": 0, "amount_shipping": 0, "amount_tax": 0]
        s.uiMode = "hosted"
        s.adaptivePricing = ["enabled": true]
        s.discounts = []
        s.collectedInformation = ["business_name": nil, "individual_name": nil, "shipping_details": nil]
        s.permissions = nil
        s.walletOptions = nil
        s.managedPayments = ["enabled": false]
        s.locale = "auto"
        event.data.object = .checkoutSession(s)
        return event
    }

    /// Waits until every seeded order is PAID, counting from `startedAt` (seconds since 1970, when sending began),
    /// then checks exactly-once in the database. Orders and payments made before `seededAfter` (seconds since 1970,
    /// when seeding began), such as the checkout scenario's, are left out.
    public func settle(startedAt: Double, seededAfter: Double = 0) async throws -> String {
        let seeded = Int(seededAfter * 1000)
        let database = try await DatabaseOpener.open(options.database, logger: .init(label: "bench"))
        defer { Task { await database.close() } }
        let deadline = ContinuousClock.now + .seconds(600)
        let since = Int(startedAt * 1000)
        // Polls how many orders are still PENDING (an index range that shrinks as they are paid, so the poll costs
        // the server little); the time comes from the last paid_at, not from when the poll noticed.
        var lastPaid: Int?
        while ContinuousClock.now < deadline {
            let pending = try await database.withConnection { db in
                try await db.raw(
                    "SELECT COUNT(*) AS n FROM orders WHERE status = 'PENDING' AND created_at >= \(bind: seeded)"
                ).first(decodingColumn: "n", as: Int.self) ?? 0
            }
            if pending == 0 {
                lastPaid = try await database.withConnection { db in
                    try await db.raw(
                        "SELECT MAX(paid_at) AS last FROM orders WHERE status = 'PAID' AND paid_at >= \(bind: since)"
                    )
                    .first(decodingColumn: "last", as: Int?.self) ?? nil
                }
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        let seconds = lastPaid.map { Double($0) / 1000 - startedAt } ?? .nan
        let rss =
            options.serverPID.flatMap { Self.memory(pid: $0, field: "VmHWM") }.map {
                "; server peak RSS \($0 / 1024) MB"
            } ?? ""
        // Acknowledgements, as the server stored them: the span from the first stored event to the last.
        let span = try await database.withConnection { db in
            try await db.raw(
                "SELECT MIN(received_at) AS first, MAX(received_at) AS last, COUNT(*) AS n FROM webhook_events WHERE received_at >= \(bind: Int(startedAt * 1000))"
            ).first()
        }
        let stored = try span?.decode(column: "n", as: Int.self) ?? 0
        let first = try span?.decode(column: "first", as: Int?.self) ?? nil
        let last = try span?.decode(column: "last", as: Int?.self) ?? nil
        let ackSeconds = Double((last ?? 0) - (first ?? 0)) / 1000
        return String(
            format: "acknowledged: %.0f new events/s (%d stored in %.2f s)\n", Double(stored) / ackSeconds, stored,
            ackSeconds)
            + String(
                format: "settled: %.0f events/s (last order PAID %.2f s after sending began)%@\n",
                Double(options.events) / seconds, seconds, rss)
            + (try await verify(since: Int(startedAt * 1000), seeded: seeded))
    }

    /// Exactly-once, for what happened since `since` (milliseconds since 1970).
    func verify(since: Int, seeded: Int) async throws -> String {
        let database = try await DatabaseOpener.open(options.database, logger: .init(label: "bench"))
        defer { Task { await database.close() } }
        return try await database.withConnection { db in
            func count(_ sql: String) async throws -> Int {
                try await db.raw(SQLQueryString(sql)).first(decodingColumn: "n", as: Int.self) ?? -1
            }
            let paid = try await count("SELECT COUNT(*) AS n FROM orders WHERE status = 'PAID' AND paid_at >= \(since)")
            let events = try await count("SELECT COUNT(*) AS n FROM webhook_events WHERE received_at >= \(since)")
            let succeeded = try await count(
                "SELECT COUNT(*) AS n FROM payments WHERE status = 'SUCCEEDED' AND fulfilled = 1 AND succeeded_at >= \(since)"
            )
            let odd = try await count(
                "SELECT COUNT(*) AS n FROM payments WHERE status <> 'SUCCEEDED' AND created_at >= \(seeded)")
            let unprocessed = try await count("SELECT COUNT(*) AS n FROM webhook_events WHERE status <> 'processed'")
            let ok =
                paid == options.events && events == options.events && succeeded == options.events && odd == 0
                && unprocessed == 0
            return
                "exactly-once: \(ok ? "OK" : "FAILED"): orders PAID \(paid), distinct events stored \(events), payments SUCCEEDED \(succeeded), payments in another status \(odd), events not processed \(unprocessed)"
        }
    }

    /// One round of the oversell scenario: a new product with `stock`, `users` new customers, and a file of `orders`
    /// order requests for one unit each (the customer's token, a tab, the JSON body; one a line) for wrk to send
    /// at once (Benchmarks/orders.lua). Returns the product's id.
    public func oversellPrepare(file: String, orders: Int = 1000, stock: Int = 100, users: Int = 50) async throws
        -> String
    {
        let productId = try await newProduct(name: "Scarce", inventory: stock)
        let tokens = try await newCustomers(users, prefix: "oversell")
        let body = #"{"items":[{"productId":"\#(productId)","quantity":1}]}"#
        let lines = (0..<orders).map { tokens[$0 % users] + "\t" + body }
        try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        return productId
    }

    /// After a round: the units of the product that orders hold, and its stock left, from the database.
    public func oversellCheck(productId: String, stock: Int = 100) async throws -> String {
        let database = try await DatabaseOpener.open(options.database, logger: .init(label: "bench"))
        defer { Task { await database.close() } }
        let (sold, left) = try await database.withConnection { db in
            let sold =
                try await db.raw(
                    "SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT) AS n FROM order_items WHERE product_id = \(bind: productId)"
                )
                .first(decodingColumn: "n", as: Int.self) ?? -1
            let left =
                try await db.raw("SELECT inventory AS n FROM products WHERE id = \(bind: productId)")
                .first(decodingColumn: "n", as: Int.self) ?? -1
            return (sold, left)
        }
        return "sold \(sold), stock left \(left): " + (sold == stock && left == 0 ? "exactly \(stock) sold" : "WRONG")
    }

    public func shutdown() async {
        try? await http.shutdown()
    }

    /// A `/proc/PID/status` memory field, in kB.
    public static func memory(pid: Int, field: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        }
        return nil
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

actor SeedStore {
    struct Seed: Sendable {
        let orderId: String
        let paymentId: String
        let sessionId: String
    }
    var items: [Seed] = []
    var times: [ContinuousClock.Instant] = []
    func add(_ seed: Seed, at time: ContinuousClock.Instant) {
        items.append(seed)
        times.append(time)
    }

    /// The rate of each `step` items in turn, from `start`: whether it stays flat as they accumulate.
    func rates(from start: ContinuousClock.Instant, step: Int) -> String {
        var rates: [String] = []
        var previous = start
        var index = step - 1
        while index < times.count {
            rates.append(String(format: "%.0f", Double(step) / (times[index] - previous).seconds))
            previous = times[index]
            index += step
        }
        return rates.joined(separator: " / ")
    }
}

actor TimeStore {
    var values: [Double] = []
    func add(_ value: Double) { values.append(value) }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
