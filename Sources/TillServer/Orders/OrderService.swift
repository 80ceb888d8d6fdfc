import Crypto
import Foundation
import Logging
import SQLKit
import TillCore

/// Orders: stock is reserved with the order in one transaction, all items or none.
struct OrderService: Sendable {
    let database: any Database
    let orders = OrderRepository()
    let catalog = CatalogRepository()
    let idempotency = IdempotencyRepository()
    let clock: TillClock
    let logger: Logger
    /// `MAX_PENDING_ORDERS_PER_USER` (0: no cap).
    let maxPendingPerUser: Int
    /// Ends orders (their payments at Stripe first).
    let payments: PaymentService

    struct CreateOrderRequest: Decodable, Sendable {
        struct Item: Decodable, Sendable {
            let productId: String
            let quantity: Int
        }
        let items: [Item]
    }

    /// A response body with its status: a new order, or the stored first answer to an `Idempotency-Key`.
    struct StoredResponse: Sendable {
        let status: Int
        let body: String
    }

    func create(userId: String, request: CreateOrderRequest, idempotencyKey: String?) async throws -> StoredResponse {
        let lines = try OrderLineRequest.normalise(
            request.items.map { OrderLineRequest(productId: $0.productId, quantity: $0.quantity) })
        guard let key = idempotencyKey else {
            // Priced and checked against the stock as it stands before any write: when a product sells out, the rush
            // of orders after it is refused from one read each instead of queueing for the writer. What passes is
            // still decided by the conditional stock update.
            let products = try await database.withConnection { db in
                try await catalog.products(ids: lines.map(\.productId), on: db)
            }
            let order = try draft(userId: userId, lines: lines, products: products, checkingStock: true)
            if writesInOneStatement(order) {
                try await database.withConnection { db in try await write(order, on: db) }
            } else {
                try await database.transaction { db in
                    try await checkPendingCap(userId: userId, on: db)
                    try await write(order, on: db)
                }
            }
            return StoredResponse(status: 201, body: try JSONCoding.string(order))
        }
        // Printable ASCII only: a header's bytes that are not UTF-8 reach Till as replacement characters, so two
        // different keys could otherwise read as one, and the second request get the first one's order.
        guard !key.isEmpty, key.utf8.count <= 255, key.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else {
            throw TillError.invalid("Idempotency-Key must be 1 to 255 printable ASCII characters")
        }
        let fingerprint = Self.fingerprint(lines)
        let now = clock.nowMillis()
        do {
            return try await database.transaction { db in
                guard try await idempotency.claim(userId: userId, key: key, fingerprint: fingerprint, now: now, on: db)
                else {
                    guard let stored = try await idempotency.find(userId: userId, key: key, on: db) else {
                        throw TillError(.internalError, "idempotency record vanished")
                    }
                    guard stored.fingerprint == fingerprint else {
                        throw TillError(
                            .idempotencyKeyReused, "This Idempotency-Key was used with a different request body")
                    }
                    return StoredResponse(status: stored.statusCode, body: stored.body)
                }
                try await checkPendingCap(userId: userId, on: db)
                let products = try await catalog.products(ids: lines.map(\.productId), on: db)
                let order = try draft(userId: userId, lines: lines, products: products, checkingStock: false)
                try await write(order, on: db)
                let body = try JSONCoding.string(order)
                try await idempotency.complete(userId: userId, key: key, statusCode: 201, body: body, on: db)
                return StoredResponse(status: 201, body: body)
            }
        } catch let error as TillError where [.insufficientInventory, .invalidRequest].contains(error.code) {
            // The order was rolled back; the answer is kept so a retry with this key gets the same one.
            try await database.withConnection { db in
                try await idempotency.storeIfAbsent(
                    userId: userId, key: key, fingerprint: fingerprint, statusCode: error.code.httpStatus,
                    body: try JSONCoding.string(ErrorBody(error)), now: now, on: db)
            }
            throw error
        }
    }

    /// The order the lines make at the products' current prices, or the error that refuses it. `checkingStock`
    /// refuses at once what the stock read cannot cover.
    private func draft(userId: String, lines: [OrderLineRequest], products: [Product], checkingStock: Bool) throws
        -> Order
    {
        let products = Dictionary(products.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var items: [OrderItem] = []
        var currency: Currency?
        for (index, line) in lines.enumerated() {
            guard let product = products[line.productId], product.active else {
                throw TillError.invalid("items[\(index)].productId: no product \(line.productId) is for sale")
            }
            guard let productCurrency = Currency(product.currency) else {
                throw TillError(.internalError, "product \(product.id) has an unknown currency")
            }
            if let currency, currency != productCurrency {
                throw TillError.invalid(
                    "All items of an order must share one currency (\(currency.code) and \(productCurrency.code) given)"
                )
            }
            currency = productCurrency
            items.append(
                OrderItem(
                    productId: product.id, name: product.name, quantity: line.quantity, unitAmount: product.unitAmount))
        }
        guard let currency else { throw TillError.invalid("items must hold at least one item") }
        guard let amount = Money.total(items.map { ($0.unitAmount, $0.quantity) }) else {
            throw TillError.invalid("The order total is too large")
        }
        if let problem = Money.validateCharge(amount, currency) {
            throw TillError.invalid("The order total \(problem)")
        }
        if checkingStock, let short = items.first(where: { products[$0.productId]!.inventory < $0.quantity }) {
            throw Self.notEnough(short)
        }
        let now = clock.nowMillis()
        return Order(
            id: IDs.make(), userId: userId, status: .pending, items: items, amount: amount, currency: currency.code,
            amountRefunded: 0, createdAt: now, updatedAt: now, paidAt: nil, cancelledAt: nil)
    }

    /// On PostgreSQL an order of one item is stored and its stock taken in one statement, so the product row is
    /// locked only while that statement runs and commits, not across a round trip to Till and back: orders for one
    /// popular product queue on that lock. With a cap on pending orders the count needs the transaction instead.
    private func writesInOneStatement(_ order: Order) -> Bool {
        database.kind == .postgres && order.items.count == 1 && maxPendingPerUser == 0
    }

    /// Refuses an order beyond the user's cap on `PENDING` orders, so one account cannot hold the stock hostage. On
    /// PostgreSQL the user's row is locked first (users before products, in every transaction that takes both), so
    /// the user's concurrent orders are counted one after another and the cap is exact.
    private func checkPendingCap(userId: String, on db: any SQLDatabase) async throws {
        guard maxPendingPerUser > 0 else { return }
        if database.kind == .postgres {
            try await db.raw("SELECT id FROM users WHERE id = \(bind: userId) FOR UPDATE").run()
        }
        if try await orders.pendingCount(userId: userId, on: db) >= maxPendingPerUser {
            throw TillError(
                .tooManyPendingOrders,
                "You have \(maxPendingPerUser) unpaid orders; pay or cancel one before ordering again",
                retryAfterSeconds: 60)
        }
    }

    /// Stores the order and takes its stock, all or nothing: inside the caller's transaction, or in one statement
    /// (`writesInOneStatement`).
    private func write(_ order: Order, on db: any SQLDatabase) async throws {
        var short: OrderItem?
        if writesInOneStatement(order) {
            if try await !orders.insertReserving(order, on: db) { short = order.items[0] }
        } else {
            try await orders.insert(order, on: db)
            for item in OrderRepository.lockOrder(order.items) where short == nil {
                if try await !catalog.reserve(
                    productId: item.productId, quantity: item.quantity, now: order.createdAt, on: db)
                {
                    short = item
                }
            }
        }
        if let short { throw Self.notEnough(short) }
        logger.info("order created", metadata: ["order.id": "\(order.id)", "user.id": "\(order.userId)"])
    }

    private static func notEnough(_ item: OrderItem) -> TillError {
        TillError(.insufficientInventory, "Not enough stock of \"\(item.name)\" for \(item.quantity)")
    }

    func order(id: String, identity: Identity) async throws -> Order {
        let owner = identity.isAdmin ? nil : identity.userId
        guard
            let order = try await database.withConnection({ db in try await orders.find(id: id, userId: owner, on: db) }
            )
        else { throw TillError.notFound("Order") }
        return order
    }

    func list(identity: Identity, userFilter: String?, page: PageRequest) async throws -> Page<Order> {
        let owner = identity.isAdmin ? userFilter : identity.userId
        if let after = page.startingAfter {
            let found = try await database.withConnection { db in
                try await orders.find(id: after, userId: owner, on: db)
            }
            if found == nil { throw PageRequest.unknownCursor }
        }
        return page.page(
            try await database.withConnection { db in try await orders.list(userId: owner, page: page, on: db) })
    }

    /// Cancels a pending order and puts its stock back, in one transaction, after ending its open Checkout Sessions
    /// and PaymentIntents at Stripe (so nothing can be paid for it any more).
    func cancel(id: String, identity: Identity) async throws -> Order {
        let owner = identity.isAdmin ? nil : identity.userId
        let current = try await database.withConnection { db in try await orders.find(id: id, userId: owner, on: db) }
        guard let current else { throw TillError.notFound("Order") }
        guard current.status == .pending else { throw Self.notCancellable(current.status) }
        guard let order = try await payments.cancelOrder(id: id) else { throw TillError.notFound("Order") }
        guard order.status == .cancelled else { throw Self.notCancellable(order.status) }
        logger.info("order cancelled", metadata: ["order.id": "\(order.id)"])
        return order
    }

    private static func notCancellable(_ status: OrderStatus) -> TillError {
        TillError(.orderNotPayable, "Order is \(status.rawValue); only a PENDING order can be cancelled")
    }

    static func fingerprint(_ lines: [OrderLineRequest]) -> String {
        SHA256.hash(data: Data(OrderLineRequest.canonical(lines).utf8)).map { String(format: "%02x", $0) }.joined()
    }
}
