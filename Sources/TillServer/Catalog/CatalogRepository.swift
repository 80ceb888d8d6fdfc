import SQLKit

/// Products (with their stock) and plans.
struct CatalogRepository: Sendable {
    func insert(_ p: Product, on db: any SQLDatabase) async throws {
        try await db.raw(
            """
            INSERT INTO products (id, name, description, unit_amount, currency, inventory, active, created_at, updated_at)
            VALUES (\(bind: p.id), \(bind: p.name), \(bind: p.description), \(bind: p.unitAmount), \(bind: p.currency),
                    \(bind: p.inventory), \(bind: p.active ? 1 : 0), \(bind: p.createdAt), \(bind: p.createdAt))
            """
        ).run()
    }

    struct ProductPatch: Sendable {
        var name: String?
        var description: String?
        var unitAmount: Int?
        var inventory: Int?
        var active: Bool?
    }

    /// Applies the given fields in one statement; `nil` when there is no such product.
    func update(productId: String, _ patch: ProductPatch, now: Int, on db: any SQLDatabase) async throws -> Product? {
        try await db.raw(
            """
            UPDATE products SET
                name = COALESCE(\(bind: patch.name), name),
                description = COALESCE(\(bind: patch.description), description),
                unit_amount = COALESCE(\(bind: patch.unitAmount), unit_amount),
                inventory = COALESCE(\(bind: patch.inventory), inventory),
                active = COALESCE(\(bind: patch.active.map { $0 ? 1 : 0 }), active),
                updated_at = \(bind: now)
            WHERE id = \(bind: productId)
            RETURNING \(unsafeRaw: Product.columns)
            """
        ).first().map(Product.init(row:))
    }

    func product(id: String, on db: any SQLDatabase) async throws -> Product? {
        try await db.raw("SELECT \(unsafeRaw: Product.columns) FROM products WHERE id = \(bind: id)")
            .first().map(Product.init(row:))
    }

    func products(ids: [String], on db: any SQLDatabase) async throws -> [Product] {
        if ids.isEmpty { return [] }
        return try await db.raw("SELECT \(unsafeRaw: Product.columns) FROM products WHERE id IN (\(binds: ids))")
            .all().map(Product.init(row:))
    }

    func products(activeOnly: Bool, page: PageRequest, on db: any SQLDatabase) async throws -> [Product] {
        try await db.raw(
            "SELECT \(unsafeRaw: Product.columns) FROM products WHERE 1 = 1"
                + (activeOnly ? " AND active = 1" : "")
                + page.cursorClause(table: "products")
                + " ORDER BY created_at DESC, id DESC LIMIT \(literal: page.limit + 1)"
        ).all().map(Product.init(row:))
    }

    /// Takes `quantity` from stock if, and only if, that much is there: the conditional update is the guard.
    func reserve(productId: String, quantity: Int, now: Int, on db: any SQLDatabase) async throws -> Bool {
        try await db.raw(
            """
            UPDATE products SET inventory = inventory - \(bind: quantity), updated_at = \(bind: now)
            WHERE id = \(bind: productId) AND active = 1 AND inventory >= \(bind: quantity)
            RETURNING id
            """
        ).first() != nil
    }

    func release(productId: String, quantity: Int, now: Int, on db: any SQLDatabase) async throws {
        try await db.raw(
            """
            UPDATE products SET inventory = inventory + \(bind: quantity), updated_at = \(bind: now)
            WHERE id = \(bind: productId)
            """
        ).run()
    }

    func insert(_ p: Plan, on db: any SQLDatabase) async throws {
        try await db.raw(
            """
            INSERT INTO plans (id, name, unit_amount, currency, credits, stripe_price_id, active, created_at,
                billing_interval, billing_interval_count)
            VALUES (\(bind: p.id), \(bind: p.name), \(bind: p.unitAmount), \(bind: p.currency), \(bind: p.credits),
                    \(bind: p.stripePriceId), \(bind: p.active ? 1 : 0), \(bind: p.createdAt), \(bind: p.interval),
                    \(bind: p.intervalCount))
            """
        ).run()
    }

    func plan(id: String, on db: any SQLDatabase) async throws -> Plan? {
        try await db.raw("SELECT \(unsafeRaw: Plan.columns) FROM plans WHERE id = \(bind: id)")
            .first().map(Plan.init(row:))
    }

    func plans(activeOnly: Bool, page: PageRequest, on db: any SQLDatabase) async throws -> [Plan] {
        try await db.raw(
            "SELECT \(unsafeRaw: Plan.columns) FROM plans WHERE 1 = 1"
                + (activeOnly ? " AND active = 1" : "")
                + page.cursorClause(table: "plans")
                + " ORDER BY created_at DESC, id DESC LIMIT \(literal: page.limit + 1)"
        ).all().map(Plan.init(row:))
    }
}
