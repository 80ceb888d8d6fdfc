import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SQLKit
import StripeAPI

/// `till bench`: load against a running Till, measured from outside. Seeds orders with open Checkout Sessions through
/// the API, sends signed `checkout.session.completed` events on many connections (a share of them duplicated),
/// and reports acknowledgement and settlement rates, latency, the server's memory, and the exactly-once check
/// (read from the database directly).
public struct Benchmark: Sendable {
    public struct Options: Sendable {
        public var baseURL: String
        public var database: DatabaseConfig
        public var secret: String
        public var adminEmail: String
        public var adminPassword: String
        public var events: Int
        public var connections: Int
        public var duplicateShare: Double
        public var serverPID: Int?
        /// Events per second to offer; 0 sends as fast as the connections allow.
        public var rate: Int

        public init(baseURL: String, database: DatabaseConfig, secret: String, adminEmail: String, adminPassword: String,
                    events: Int, connections: Int, duplicateShare: Double, serverPID: Int?, rate: Int) {
            self.baseURL = baseURL
            self.database = database
            self.secret = secret
            self.adminEmail = adminEmail
            self.adminPassword = adminPassword
            self.events = events
            self.connections = connections
            self.duplicateShare = duplicateShare
            self.serverPID = serverPID
            self.rate = rate
        }
    }

    let options: Options
    let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(
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

    actor Samples {
        var latencies: [Double] = []
        var statuses: [Int: Int] = [:]
        func add(_ latency: Double, _ status: Int) {
            latencies.append(latency)
            statuses[status, default: 0] += 1
        }
    }

    public func webhooks() async throws -> String {
        var lines: [String] = []
        let admin = try await call(.POST, "/api/auth/login", body: #"{"email":"\#(options.adminEmail)","password":"\#(options.adminPassword)"}"#)
        guard let adminToken = admin.json["token"] as? String else { throw BenchError("admin login failed: \(admin.status)") }
        let product = try await call(.POST, "/api/products", token: adminToken,
            body: #"{"name":"Bench tea","unitAmount":500,"currency":"usd","inventory":\#(options.events)}"#)
        guard let productId = product.json["id"] as? String else { throw BenchError("product: \(product.status)") }
        let users = 20
        var tokens: [String] = []
        for index in 0..<users {
            let reply = try await call(.POST, "/api/auth/register", body: #"{"email":"bench-\#(UUID().uuidString.prefix(8))-\#(index)@bench.test","password":"bench-password"}"#)
            guard let token = reply.json["token"] as? String else { throw BenchError("register: \(reply.status)") }
            tokens.append(token)
        }
        let seeded = SeedStore()
        let seedStart = ContinuousClock.now
        let userTokens = tokens
        try await parallel(options.events, concurrency: 32) { index in
            let token = userTokens[index % users]
            let order = try await call(.POST, "/api/orders", token: token, body: #"{"items":[{"productId":"\#(productId)","quantity":1}]}"#)
            guard let orderId = order.json["id"] as? String else { throw BenchError("order: \(order.status)") }
            let checkout = try await call(.POST, "/api/orders/\(orderId)/checkout", token: token)
            guard let paymentId = checkout.json["paymentId"] as? String, let sessionId = checkout.json["sessionId"] as? String else {
                throw BenchError("checkout: \(checkout.status)")
            }
            await seeded.add(.init(orderId: orderId, paymentId: paymentId, sessionId: sessionId))
        }
        let seedSeconds = (ContinuousClock.now - seedStart).seconds
        lines.append(String(format: "seeded %d orders with open Checkout Sessions in %.1f s", options.events, seedSeconds))

        // Build and sign every delivery up front (a share of them twice), then shuffle.
        let now = Int(Date().timeIntervalSince1970)
        var deliveries: [(body: ByteBuffer, signature: String)] = []
        for seed in await seeded.items {
            let event = try TestEvents.make(
                type: "checkout.session.completed",
                options: .init(orderId: seed.orderId, paymentId: seed.paymentId, sessionId: seed.sessionId, amount: 500), now: now)
            let payload = try StripeJSON.encoder().encode(event)
            let delivery = (ByteBuffer(bytes: payload), WebhookSignature.header(payload: payload, secret: options.secret, timestamp: now))
            deliveries.append(delivery)
            if Double.random(in: 0..<1) < options.duplicateShare { deliveries.append(delivery) }
        }
        deliveries.shuffle()
        let total = deliveries.count
        let samples = Samples()
        let url = options.baseURL + "/api/webhooks/stripe"
        let cpuBefore = Self.processCPUSeconds()
        let start = ContinuousClock.now
        let rate = options.rate
        let all = deliveries
        let settledAt = SettleWatch()
        let watcher = Task { try await watchSettlement(expected: options.events, start: start, into: settledAt) }
        try await parallel(total, concurrency: options.connections) { index in
            if rate > 0 {
                let due = start + .nanoseconds(Int64(Double(index) / Double(rate) * 1e9))
                if ContinuousClock.now < due { try await Task.sleep(until: due, clock: .continuous) }
            }
            var request = HTTPClientRequest(url: url)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "Stripe-Signature", value: all[index].signature)
            request.body = .bytes(all[index].body)
            let sent = ContinuousClock.now
            let response = try await http.execute(request, timeout: .seconds(60))
            _ = try await response.body.collect(upTo: 1 << 16)
            await samples.add((ContinuousClock.now - sent).seconds, Int(response.status.code))
        }
        let ackSeconds = (ContinuousClock.now - start).seconds
        let generatorCPU = Self.processCPUSeconds() - cpuBefore
        let rssUnderLoad = options.serverPID.flatMap { Self.memory(pid: $0, field: "VmHWM") }
        try await watcher.value
        let settleSeconds = await settledAt.seconds ?? .nan

        let latencies = await samples.latencies.sorted()
        let statuses = await samples.statuses
        func percentile(_ p: Double) -> Double { latencies.isEmpty ? .nan : latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] * 1000 }
        lines.append(String(format: "sent %d deliveries (%d events, %.0f%% duplicates) on %d connections%@",
                            total, options.events, options.duplicateShare * 100, options.connections, rate > 0 ? " at \(rate)/s offered" : ""))
        lines.append(String(format: "acknowledged: %.0f events/s (%.2f s); statuses %@", Double(total) / ackSeconds, ackSeconds, "\(statuses)"))
        lines.append(String(format: "ack latency: p50 %.2f ms, p99 %.2f ms, max %.2f ms", percentile(0.5), percentile(0.99), (latencies.last ?? .nan) * 1000))
        lines.append(String(format: "settled: %.0f events/s (last order PAID after %.2f s)", Double(options.events) / settleSeconds, settleSeconds))
        lines.append(String(format: "load generator CPU: %.1f s over %.1f s (%.0f%% of one core)", generatorCPU, ackSeconds, generatorCPU / ackSeconds * 100))
        if let rssUnderLoad { lines.append("server peak RSS: \(rssUnderLoad / 1024) MB") }
        lines.append(try await verify())
        return lines.joined(separator: "\n")
    }

    func watchSettlement(expected: Int, start: ContinuousClock.Instant, into watch: SettleWatch) async throws {
        let database = try await DatabaseOpener.open(options.database, logger: .init(label: "bench"))
        defer { Task { await database.close() } }
        let deadline = ContinuousClock.now + .seconds(600)
        while ContinuousClock.now < deadline {
            let paid = try await database.withConnection { db in
                try await db.raw("SELECT COUNT(*) AS n FROM orders WHERE status = 'PAID'").first(decodingColumn: "n", as: Int.self) ?? 0
            }
            if paid >= expected {
                await watch.set((ContinuousClock.now - start).seconds)
                return
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw BenchError("not every order was paid within 10 minutes")
    }

    func verify() async throws -> String {
        let database = try await DatabaseOpener.open(options.database, logger: .init(label: "bench"))
        defer { Task { await database.close() } }
        return try await database.withConnection { db in
            func count(_ sql: String) async throws -> Int {
                try await db.raw(SQLQueryString(sql)).first(decodingColumn: "n", as: Int.self) ?? -1
            }
            let paid = try await count("SELECT COUNT(*) AS n FROM orders WHERE status = 'PAID'")
            let events = try await count("SELECT COUNT(*) AS n FROM webhook_events")
            let succeeded = try await count("SELECT COUNT(*) AS n FROM payments WHERE status = 'SUCCEEDED' AND fulfilled = 1")
            let odd = try await count("SELECT COUNT(*) AS n FROM payments WHERE status <> 'SUCCEEDED'")
            let unprocessed = try await count("SELECT COUNT(*) AS n FROM webhook_events WHERE status <> 'processed'")
            let ok = paid == options.events && events == options.events && succeeded == options.events && odd == 0 && unprocessed == 0
            return "exactly-once: \(ok ? "OK" : "FAILED"): orders PAID \(paid), distinct events stored \(events), payments SUCCEEDED \(succeeded), payments in another status \(odd), events not processed \(unprocessed)"
        }
    }

    /// 1,000 concurrent orders of one product with stock 100 from 50 users.
    public func oversell(orders: Int = 1000, stock: Int = 100, users: Int = 50) async throws -> String {
        let admin = try await call(.POST, "/api/auth/login", body: #"{"email":"\#(options.adminEmail)","password":"\#(options.adminPassword)"}"#)
        guard let adminToken = admin.json["token"] as? String else { throw BenchError("admin login failed") }
        let product = try await call(.POST, "/api/products", token: adminToken,
            body: #"{"name":"Scarce","unitAmount":500,"currency":"usd","inventory":\#(stock)}"#)
        guard let productId = product.json["id"] as? String else { throw BenchError("product") }
        var tokens: [String] = []
        for index in 0..<users {
            let reply = try await call(.POST, "/api/auth/register", body: #"{"email":"oversell-\#(UUID().uuidString.prefix(8))-\#(index)@bench.test","password":"bench-password"}"#)
            tokens.append(reply.json["token"] as? String ?? "")
        }
        let samples = Samples()
        let all = tokens
        let start = ContinuousClock.now
        try await parallel(orders, concurrency: orders) { index in
            let reply = try await call(.POST, "/api/orders", token: all[index % users], body: #"{"items":[{"productId":"\#(productId)","quantity":1}]}"#)
            await samples.add(0, reply.status)
        }
        let seconds = (ContinuousClock.now - start).seconds
        let statuses = await samples.statuses
        let left = try await call(.GET, "/api/products/\(productId)").json["inventory"] as? Int ?? -1
        let sold = statuses[201] ?? 0
        return String(format: "oversell: %d concurrent orders for stock %d from %d users in %.2f s = %.0f orders/s; sold %d, refused %d, stock left %d: %@",
                      orders, stock, users, seconds, Double(orders) / seconds, sold, statuses[409] ?? 0, left,
                      sold == stock && left == 0 ? "exactly \(stock) sold" : "WRONG")
    }

    public func shutdown() async {
        try? await http.shutdown()
    }

    /// This process's user and system CPU time.
    static func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
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
    func add(_ seed: Seed) { items.append(seed) }
}

actor SettleWatch {
    var seconds: Double?
    func set(_ value: Double) { seconds = value }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

#if canImport(Glibc)
import Glibc
#endif
