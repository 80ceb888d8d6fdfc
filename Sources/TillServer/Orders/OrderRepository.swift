import SQLKit
import TillCore

struct OrderRepository: Sendable {
    func insert(_ order: Order, on db: any SQLDatabase) async throws {
        try await db.raw(
            """
            INSERT INTO orders (id, user_id, status, amount, currency, amount_refunded, created_at, updated_at)
            VALUES (\(bind: order.id), \(bind: order.userId), \(bind: order.status.rawValue), \(bind: order.amount),
                    \(bind: order.currency), 0, \(bind: order.createdAt), \(bind: order.updatedAt))
            """
        ).run()
        let rows: [SQLQueryString] = order.items.enumerated().map { index, item in
            "(\(bind: order.id), \(bind: index), \(bind: item.productId), \(bind: item.name), \(bind: item.quantity), \(bind: item.unitAmount))"
        }
        try await db.raw(
            "INSERT INTO order_items (order_id, position, product_id, name, quantity, unit_amount) VALUES "
                + rows.joined(separator: ", ")
        ).run()
    }

    /// PostgreSQL, an order of one item: takes its stock and stores the order in one statement, or does nothing when
    /// the product is inactive or short. Returns whether the order was placed. In autocommit, the product row is
    /// locked only while this statement runs, not across a round trip to Till and back.
    func insertReserving(_ order: Order, on db: any SQLDatabase) async throws -> Bool {
        precondition(order.items.count == 1, "one statement reserves one product")
        let item = order.items[0]
        return try await db.raw(
            """
            WITH reserved AS (
                UPDATE products SET inventory = inventory - \(bind: item.quantity), updated_at = \(bind: order.createdAt)
                WHERE id = \(bind: item.productId) AND active = 1 AND inventory >= \(bind: item.quantity)
                RETURNING id
            ), placed AS (
                INSERT INTO orders (id, user_id, status, amount, currency, amount_refunded, created_at, updated_at)
                SELECT \(bind: order.id), \(bind: order.userId), \(bind: order.status.rawValue), \(bind: order.amount),
                    \(bind: order.currency), 0, \(bind: order.createdAt), \(bind: order.updatedAt)
                FROM reserved
                RETURNING id
            )
            INSERT INTO order_items (order_id, position, product_id, name, quantity, unit_amount)
            SELECT id, 0, \(bind: item.productId), \(bind: item.name), \(bind: item.quantity), \(bind: item.unitAmount) FROM placed
            RETURNING order_id
            """
        ).first() != nil
    }

    /// The order with its items; `userId` limits it to that owner (another owner's order is simply not found).
    func find(id: String, userId: String?, on db: any SQLDatabase) async throws -> Order? {
        var query: SQLQueryString = "SELECT \(unsafeRaw: Order.columns) FROM orders WHERE id = \(bind: id)"
        if let userId { query += " AND user_id = \(bind: userId)" }
        guard var order = try await db.raw(query).first().map(Order.init(row:)) else { return nil }
        order.items = try await items(orderIds: [id], on: db)[id] ?? []
        return order
    }

    /// Orders newest first, with their items in one more query (never one per order).
    func list(userId: String?, page: PageRequest, on db: any SQLDatabase) async throws -> [Order] {
        var query: SQLQueryString = "SELECT \(unsafeRaw: Order.columns) FROM orders WHERE 1 = 1"
        if let userId { query += " AND user_id = \(bind: userId)" }
        query += page.cursorClause(table: "orders")
        query += " ORDER BY created_at DESC, id DESC LIMIT \(literal: page.limit + 1)"
        var orders = try await db.raw(query).all().map(Order.init(row:))
        let items = try await items(orderIds: orders.map(\.id), on: db)
        for index in orders.indices { orders[index].items = items[orders[index].id] ?? [] }
        return orders
    }

    func items(orderIds: [String], on db: any SQLDatabase) async throws -> [String: [OrderItem]] {
        if orderIds.isEmpty { return [:] }
        let rows = try await db.raw(
            """
            SELECT order_id, product_id, name, quantity, unit_amount FROM order_items
            WHERE order_id IN (\(binds: orderIds)) ORDER BY order_id, position
            """
        ).all()
        var result: [String: [OrderItem]] = [:]
        for row in rows {
            let item = OrderItem(
                productId: try row.string("product_id"), name: try row.string("name"),
                quantity: try row.int("quantity"), unitAmount: try row.int("unit_amount"))
            result[try row.string("order_id"), default: []].append(item)
        }
        return result
    }

    /// The order's refunded amount follows its payment's (down too, when a refund failed), with the status TillCore
    /// decided for it.
    func recordRefund(id: String, amountRefunded: Int, status: OrderStatus, now: Int, on db: any SQLDatabase)
        async throws
    {
        try await db.raw(
            """
            UPDATE orders SET amount_refunded = \(bind: amountRefunded), updated_at = \(bind: now), status = \(bind: status.rawValue)
            WHERE id = \(bind: id) AND status IN (\(unsafeRaw: SQLList.of(\OrderStatus.isPaid)))
              AND \(bind: amountRefunded) <= amount
            """
        ).run()
    }

    /// `from` → `PAID` for each of `ids` still in `from`, in one statement; returns those it moved. On SQLite,
    /// `+status` keeps the planner on the primary key: on the pending index it would walk every pending order.
    func markPaid(ids: [String], from: OrderStatus, now: Int, kind: DatabaseKind, on db: any SQLDatabase) async throws
        -> Set<String>
    {
        guard !ids.isEmpty else { return [] }
        return Set(
            try await db.raw(
                """
                UPDATE orders SET status = 'PAID', paid_at = \(bind: now), cancelled_at = NULL, updated_at = \(bind: now)
                WHERE id IN (\(binds: ids)) AND \(unsafeRaw: kind == .sqlite ? "+status" : "status") = \(bind: from.rawValue)
                RETURNING id
                """
            ).all(decodingColumn: "id", as: String.self))
    }

    /// Puts back a cancelled order that `markPaid(from: .cancelled)` moved, when its stock turned out to be gone.
    func restoreCancelled(_ order: Order, on db: any SQLDatabase) async throws {
        try await db.raw(
            """
            UPDATE orders SET status = 'CANCELLED', paid_at = NULL, cancelled_at = \(bind: order.cancelledAt),
                updated_at = \(bind: order.updatedAt)
            WHERE id = \(bind: order.id)
            """
        ).run()
    }

    /// Pending orders created before `cutoff` and after the cursor `(createdAt, id)`, oldest first, leaving out those
    /// a payment holds open (money in flight or under review): they wait for that payment, not for the clock.
    func pendingOlderThan(
        _ cutoff: Int, after cursor: (createdAt: Int, id: String)?, limit: Int, on db: any SQLDatabase
    ) async throws -> [(createdAt: Int, id: String)] {
        var query: SQLQueryString =
            "SELECT id, created_at FROM orders WHERE status = 'PENDING' AND created_at < \(bind: cutoff)"
        if let cursor {
            query +=
                " AND (created_at > \(bind: cursor.createdAt) OR (created_at = \(bind: cursor.createdAt) AND id > \(bind: cursor.id)))"
        }
        query += """
             AND NOT EXISTS (SELECT 1 FROM payments WHERE payments.order_id = orders.id AND \(unsafeRaw: Self.heldOpen))
             ORDER BY created_at, id LIMIT \(literal: limit)
            """
        return try await db.raw(query).all().map { (try $0.int("created_at"), try $0.string("id")) }
    }

    /// A payment of the order holds it open (`PaymentStatus.holdsOrderOpen`): money in flight or under review.
    static let heldOpen = "payments.status IN (\(SQLList.of(\PaymentStatus.holdsOrderOpen)))"

    /// How many orders of the user are `PENDING`.
    func pendingCount(userId: String, on db: any SQLDatabase) async throws -> Int {
        try await db.raw("SELECT COUNT(*) AS n FROM orders WHERE user_id = \(bind: userId) AND status = 'PENDING'")
            .first(decodingColumn: "n", as: Int.self) ?? 0
    }

    /// `PENDING` → `CANCELLED`, their stock back on the shelf, for each of `ids` still pending that no payment holds
    /// open (money in flight, or under review waiting for an admin): the one place an order is cancelled (by its
    /// owner, by its payment ending, by the expiry sweep). One statement for the orders (locked in id order on
    /// PostgreSQL), then the stock they held released product by product in id order, like every stock change. Runs
    /// inside the caller's transaction; returns the orders it cancelled.
    func cancelReleasingStock(ids: [String], now: Int, kind: DatabaseKind, on db: any SQLDatabase) async throws -> Set<
        String
    > {
        guard !ids.isEmpty else { return [] }
        try await db.lockInOrder("orders", ids: ids, kind: kind)
        let cancelled = Set(
            try await db.raw(
                """
                UPDATE orders SET status = 'CANCELLED', cancelled_at = \(bind: now), updated_at = \(bind: now)
                WHERE id IN (\(binds: ids)) AND status = 'PENDING'
                  AND NOT EXISTS (SELECT 1 FROM payments WHERE payments.order_id = orders.id AND \(unsafeRaw: Self.heldOpen))
                RETURNING id
                """
            ).all(decodingColumn: "id", as: String.self))
        guard !cancelled.isEmpty else { return [] }
        var released: [String: Int] = [:]
        for items in try await items(orderIds: Array(cancelled), on: db).values {
            for item in items { released[item.productId, default: 0] += item.quantity }
        }
        let catalog = CatalogRepository()
        for (productId, quantity) in released.sorted(by: { $0.key < $1.key }) {
            try await catalog.release(productId: productId, quantity: quantity, now: now, on: db)
        }
        return cancelled
    }

    /// Items in the one global order in which transactions lock product rows (by product id), so that two
    /// transactions touching the same products never wait on each other in a cycle.
    static func lockOrder(_ items: [OrderItem]) -> [OrderItem] {
        items.sorted { $0.productId < $1.productId }
    }
}
