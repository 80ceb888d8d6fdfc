import Foundation
import Logging
import SQLKit
@_spi(Bench) import TillServer

/// `till bench-summary`: fills a database with a year of orders (once; a second run reuses them) and prints how
/// long the admin dashboard's summary and the order search take on it. A measurement to read, not a test.
public enum AdminSummaryBenchmark {
    public static func run(database config: DatabaseConfig, orders target: Int, runs: Int, logger: Logger) async throws
        -> String
    {
        let database = try await DatabaseOpener.open(config, logger: logger)
        do {
            try await Migrations.run(on: database, logger: logger)
            let existing = try await database.withConnection { db in
                try await db.raw("SELECT COUNT(*) AS n FROM orders").first(decodingColumn: "n", as: Int.self) ?? 0
            }
            var lines: [String] = []
            if existing < target {
                let started = ContinuousClock.now
                try await fill(database, from: existing, to: target)
                lines.append("filled \(target - existing) orders in \(Int((ContinuousClock.now - started).seconds)) s")
            }
            let total = try await database.withConnection { db in
                try await db.raw("SELECT COUNT(*) AS n FROM orders").first(decodingColumn: "n", as: Int.self) ?? 0
            }
            lines.append("\(total) orders, \(database.kind)")
            let service = AdminService(database: database, clock: .system)
            var summary: AdminService.Summary?
            lines.append(
                try await measure("GET /api/admin/summary", runs: runs) { summary = try await service.summary() })
            lines.append(
                try await measure("GET /api/admin/orders (newest 20)", runs: runs) {
                    _ = try await service.orders(query: [:], page: PageRequest())
                })
            lines.append(
                try await measure("GET /api/admin/orders?status=REFUNDED", runs: runs) {
                    _ = try await service.orders(query: ["status": "REFUNDED"], page: PageRequest())
                })
            lines.append(
                try await measure("GET /api/admin/orders?email=", runs: runs) {
                    _ = try await service.orders(query: ["email": "bench-7@example.com"], page: PageRequest())
                })
            if let summary {
                let encoder = JSONEncoder()
                encoder.outputFormatting = .sortedKeys
                lines.append("summary: " + String(decoding: try encoder.encode(summary.ordersByStatus), as: UTF8.self))
            }
            await database.close()
            return lines.joined(separator: "\n")
        } catch {
            await database.close()
            throw error
        }
    }

    static func measure(_ name: String, runs: Int, _ body: () async throws -> Void) async throws -> String {
        try await body()  // warm the caches once
        var times: [Double] = []
        for _ in 0..<max(runs, 1) {
            let start = ContinuousClock.now
            try await body()
            times.append((ContinuousClock.now - start).seconds * 1000)
        }
        times.sort()
        func at(_ q: Double) -> String {
            String(format: "%.1f", times[min(times.count - 1, Int(Double(times.count) * q))])
        }
        return "\(name): median \(at(0.5)) ms, p95 \(at(0.95)) ms, max \(at(1)) ms (\(times.count) runs)"
    }

    /// Orders spread over the last 365 days (so today and this week hold their share), in a mix of statuses, with a
    /// payment for every order that was paid; 1,000 customers, a few failed webhook events.
    static func fill(_ database: any Database, from start: Int, to target: Int) async throws {
        let now = TillClock.system.nowMillis()
        let year = 365 * AdminService.day
        let users = 1000
        try await database.transaction { db in
            let rows: [SQLQueryString] = (0..<users).map {
                "(\(bind: "bench-user-\($0)"), \(bind: "bench-\($0)@example.com"), 'x', 'customer', 0)"
            }
            try await db.raw(
                "INSERT INTO users (id, email, password_hash, role, created_at) VALUES " + rows.joined(separator: ", ")
                    + " ON CONFLICT (id) DO NOTHING"
            ).run()
            for n in 0..<100 {
                try await db.raw(
                    """
                    INSERT INTO webhook_events (id, type, payload, status, attempts, last_error, received_at)
                    VALUES (\(bind: "evt_bench_\(n)"), 'checkout.session.completed', '{}', 'failed', 10, 'bench', \(bind: now - n * 1000))
                    ON CONFLICT (id) DO NOTHING
                    """
                ).run()
            }
        }
        let statuses = [
            "PAID", "PAID", "PAID", "PAID", "PAID", "PAID", "PARTIALLY_REFUNDED", "REFUNDED", "CANCELLED", "CANCELLED",
            "PENDING",
        ]
        let currencies = ["usd", "usd", "usd", "eur", "eur", "jpy"]
        let batch = 500
        var next = start
        while next < target {
            let end = min(next + batch, target)
            try await database.transaction { [next] db in
                var orders: [SQLQueryString] = []
                var payments: [SQLQueryString] = []
                for n in next..<end {
                    var random = SplitMix(seed: UInt64(n))
                    let id = "bench-order-\(n)"
                    let status = statuses[Int(random.next() % UInt64(statuses.count))]
                    let currency = currencies[Int(random.next() % UInt64(currencies.count))]
                    let amount = 500 + Int(random.next() % 20000)
                    let created = now - Int(random.next() % UInt64(year))
                    let refunded = status == "REFUNDED" ? amount : status == "PARTIALLY_REFUNDED" ? amount / 2 : 0
                    let paid = ["PAID", "PARTIALLY_REFUNDED", "REFUNDED"].contains(status)
                    let user = "bench-user-\(Int(random.next() % UInt64(users)))"
                    orders.append(
                        """
                        (\(bind: id), \(bind: user), \(bind: status), \(bind: amount), \(bind: currency), \(bind: refunded), \
                        \(bind: created), \(bind: created + 60_000), \(bind: paid ? created + 60_000 : nil), \
                        \(bind: status == "CANCELLED" ? created + 1_800_000 : nil))
                        """)
                    if paid {
                        let paymentStatus = status == "PAID" ? "SUCCEEDED" : status
                        payments.append(
                            """
                            (\(bind: "bench-payment-\(n)"), 'order', 'checkout', \(bind: id), \(bind: user), \(bind: amount), \
                            \(bind: currency), \(bind: paymentStatus), \(bind: refunded), 1, \(bind: created), \(bind: created + 60_000), \
                            \(bind: created + 60_000))
                            """)
                    }
                }
                try await db.raw(
                    """
                    INSERT INTO orders (id, user_id, status, amount, currency, amount_refunded, created_at, updated_at, paid_at, cancelled_at)
                    VALUES
                    """ + " " + orders.joined(separator: ", ")
                ).run()
                if !payments.isEmpty {
                    try await db.raw(
                        """
                        INSERT INTO payments (id, kind, method, order_id, user_id, amount, currency, status, amount_refunded,
                            fulfilled, created_at, updated_at, succeeded_at)
                        VALUES
                        """ + " " + payments.joined(separator: ", ")
                    ).run()
                }
            }
            next = end
        }
        if database.kind == .postgres {
            try await database.withConnection { db in try await db.raw("VACUUM ANALYZE").run() }
        } else {
            try await database.withConnection { db in try await db.raw("ANALYZE").run() }
        }
    }

    /// A small deterministic generator, so a refill makes the same rows.
    struct SplitMix {
        var state: UInt64
        init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 }
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }
}
