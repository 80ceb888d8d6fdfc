import Foundation
import SQLKit
import StripeAPI
import TillCore

/// The admin console's queries: aggregates for the dashboard, the order search, the stored webhook events that
/// mention an order or a payment, and restocking (the one write: an increment, so it never undoes a reservation).
struct AdminRepository: Sendable {
    /// Sums of payments that succeeded in a window, per currency (gross, and what was refunded of it since).
    struct PaidTotal: Encodable, Sendable {
        let currency: String
        let amount: Int
        let refunded: Int
        let count: Int
    }

    /// Served by `payments_succeeded` (migration 4), which covers every column read: a range scan of the window.
    func paid(from: Int, to: Int, on db: any SQLDatabase) async throws -> [PaidTotal] {
        try await db.raw(
            """
            SELECT currency, CAST(SUM(amount) AS BIGINT) AS amount, CAST(SUM(amount_refunded) AS BIGINT) AS refunded,
                COUNT(*) AS n
            FROM payments WHERE succeeded_at >= \(bind: from) AND succeeded_at < \(bind: to)
            GROUP BY currency ORDER BY currency
            """
        ).all().map {
            PaidTotal(
                currency: try $0.string("currency"), amount: try $0.int("amount"),
                refunded: try $0.int("refunded"), count: try $0.int("n"))
        }
    }

    /// Orders per status, from the counts the triggers of migration 7 keep (and, on PostgreSQL, the changes not
    /// folded into them yet).
    func orderCounts(on db: any SQLDatabase) async throws -> [String: Int] {
        var counts = Dictionary(uniqueKeysWithValues: OrderStatus.allCases.map { ($0.rawValue, 0) })
        for row in try await db.raw(
            """
            SELECT status, CAST(SUM(n) AS BIGINT) AS n FROM (
                SELECT status, n FROM order_status_counts UNION ALL SELECT status, delta FROM order_status_deltas) t
            GROUP BY status
            """
        ).all() {
            counts[try row.string("status")] = try row.int("n")
        }
        return counts
    }

    /// Folds PostgreSQL's appended changes into the counts (the reconciler does, every pass). Two instances at once
    /// fold each change once: a change deleted by one is skipped by the other.
    func foldOrderCounts(on db: any SQLDatabase) async throws {
        try await db.raw(
            """
            WITH d AS (DELETE FROM order_status_deltas RETURNING status, delta),
                s AS (SELECT status, SUM(delta) AS n FROM d GROUP BY status)
            UPDATE order_status_counts SET n = order_status_counts.n + s.n FROM s
            WHERE order_status_counts.status = s.status
            """
        ).run()
    }

    /// Failed events are in the partial index `webhook_events_queue`, whose condition SQLite needs word for word.
    func failedWebhookCount(on db: any SQLDatabase) async throws -> Int {
        try await db.raw(
            "SELECT COUNT(*) AS n FROM webhook_events WHERE \(WebhookEventRepository.queued) AND status = 'failed'"
        ).first(decodingColumn: "n", as: Int.self) ?? 0
    }

    func lowStock(threshold: Int, limit: Int, on db: any SQLDatabase) async throws -> [Product] {
        try await db.raw(
            """
            SELECT \(unsafeRaw: Product.columns) FROM products WHERE active = 1 AND inventory <= \(bind: threshold)
            ORDER BY inventory, name LIMIT \(literal: limit)
            """
        ).all().map(Product.init(row:))
    }

    /// Adds `quantity` to a product's stock in one statement: reservations made meanwhile stay reserved, which a
    /// read-then-`PATCH inventory` would undo. `nil` when the product does not exist or the stock would pass the cap.
    func restock(productId: String, quantity: Int, cap: Int, now: Int, on db: any SQLDatabase) async throws -> Product?
    {
        try await db.raw(
            """
            UPDATE products SET inventory = inventory + \(bind: quantity), updated_at = \(bind: now)
            WHERE id = \(bind: productId) AND inventory <= \(bind: cap - quantity)
            RETURNING \(unsafeRaw: Product.columns)
            """
        ).first().map(Product.init(row:))
    }

    func productExists(_ id: String, on db: any SQLDatabase) async throws -> Bool {
        try await db.raw("SELECT id FROM products WHERE id = \(bind: id)").first() != nil
    }

    struct OrderFilter: Sendable {
        var status: String?
        var email: String?
        var id: String?
        var from: Int?
        var to: Int?
    }

    /// Orders newest first with their customer's email (one more query for the items of the page). Each filter
    /// has an index that yields the newest first: `orders_status`, `orders_user_created`, `orders_created`.
    func orders(_ filter: OrderFilter, page: PageRequest, on db: any SQLDatabase) async throws -> [AdminOrder] {
        var query: SQLQueryString = """
            SELECT o.id, o.user_id, o.status, o.amount, o.currency, o.amount_refunded, o.created_at, o.updated_at,
                o.paid_at, o.cancelled_at, u.email AS user_email
            FROM orders o LEFT JOIN users u ON u.id = o.user_id WHERE 1 = 1
            """
        if let status = filter.status { query += " AND o.status = \(bind: status)" }
        if let email = filter.email { query += " AND o.user_id IN (SELECT id FROM users WHERE email = \(bind: email))" }
        if let id = filter.id { query += " AND o.id = \(bind: id)" }
        if let from = filter.from { query += " AND o.created_at >= \(bind: from)" }
        if let to = filter.to { query += " AND o.created_at < \(bind: to)" }
        if let after = page.startingAfter {
            try await page.checkCursor(in: "orders", on: db)
            query += " AND (o.created_at, o.id) < (SELECT created_at, id FROM orders WHERE id = \(bind: after))"
        }
        query += " ORDER BY o.created_at DESC, o.id DESC LIMIT \(literal: page.limit + 1)"
        let rows = try await db.raw(query).all()
        var orders = try rows.map {
            AdminOrder(order: try Order(row: $0), userEmail: try $0.optionalString("user_email"))
        }
        let items = try await OrderRepository().items(orderIds: orders.map(\.order.id), on: db)
        for index in orders.indices { orders[index].order.items = items[orders[index].order.id] ?? [] }
        return orders
    }

    func order(id: String, on db: any SQLDatabase) async throws -> AdminOrder? {
        guard let order = try await OrderRepository().find(id: id, userId: nil, on: db) else { return nil }
        return AdminOrder(order: order, userEmail: try await email(userId: order.userId, on: db))
    }

    func email(userId: String, on db: any SQLDatabase) async throws -> String? {
        try await db.raw("SELECT email FROM users WHERE id = \(bind: userId)").first(
            decodingColumn: "email", as: String.self)
    }

    /// A stored webhook event with its raw payload, for the timeline.
    struct StoredEvent: Sendable {
        let row: WebhookEventRepository.Row
        let receivedAt: Int
        let payload: String
    }

    /// Stored events received in `[from, to]` whose payload holds one of `ids` as a JSON string (quotes included,
    /// so `pi_1` does not find `pi_12`). The window keeps this a range of `webhook_events_received` rather than a
    /// scan of the inbox; the caller bounds it by the records' own times.
    func events(mentioning ids: [String], from: Int, to: Int, limit: Int = 200, on db: any SQLDatabase) async throws
        -> [StoredEvent]
    {
        let ids = ids.filter { !$0.isEmpty }
        guard !ids.isEmpty else { return [] }
        let patterns: [SQLQueryString] = ids.map { "payload LIKE \(bind: "%\"" + $0 + "\"%")" }
        let rows = try await db.raw(
            """
            SELECT id, type, status, attempts, last_error, received_at, processed_at, payload FROM webhook_events
            WHERE received_at >= \(bind: from) AND received_at <= \(bind: to) AND (\(patterns.joined(separator: " OR ")))
            ORDER BY received_at, id LIMIT \(literal: limit)
            """
        ).all()
        return try rows.map {
            StoredEvent(
                row: try WebhookEventRepository.Row(row: $0), receivedAt: try $0.int("received_at"),
                payload: try $0.string("payload"))
        }
    }
}

/// `order` in the contract plus the customer's email.
@_spi(Bench) public struct AdminOrder: Encodable, Sendable {
    var order: Order
    let userEmail: String?

    enum CodingKeys: String, CodingKey { case userEmail }

    @_spi(Bench) public func encode(to encoder: any Encoder) throws {
        try order.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(userEmail, forKey: .userEmail)
    }
}
