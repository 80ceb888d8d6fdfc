import SQLKit
import TillCore

struct OrderItem: Sendable, Codable, Equatable {
    let productId: String
    let name: String
    let quantity: Int
    let unitAmount: Int
}

struct Order: Sendable {
    let id: String
    let userId: String
    var status: OrderStatus
    var items: [OrderItem]
    let amount: Int
    let currency: String
    var amountRefunded: Int
    let createdAt: Int
    var updatedAt: Int
    var paidAt: Int?
    var cancelledAt: Int?

    init(
        id: String, userId: String, status: OrderStatus, items: [OrderItem], amount: Int, currency: String,
        amountRefunded: Int, createdAt: Int, updatedAt: Int, paidAt: Int?, cancelledAt: Int?
    ) {
        self.id = id
        self.userId = userId
        self.status = status
        self.items = items
        self.amount = amount
        self.currency = currency
        self.amountRefunded = amountRefunded
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.paidAt = paidAt
        self.cancelledAt = cancelledAt
    }

    init(row: any SQLRow) throws {
        id = try row.string("id")
        userId = try row.string("user_id")
        status = try row.value("status")
        items = []
        amount = try row.int("amount")
        currency = try row.string("currency")
        amountRefunded = try row.int("amount_refunded")
        createdAt = try row.int("created_at")
        updatedAt = try row.int("updated_at")
        paidAt = try row.optionalInt("paid_at")
        cancelledAt = try row.optionalInt("cancelled_at")
    }

    static let columns =
        "id, user_id, status, amount, currency, amount_refunded, created_at, updated_at, paid_at, cancelled_at"
}

extension Order: Encodable {
    enum CodingKeys: String, CodingKey {
        case id, userId, status, items, amount, currency, amountRefunded, createdAt, updatedAt, paidAt, cancelledAt
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(userId, forKey: .userId)
        try c.encode(status.rawValue, forKey: .status)
        try c.encode(items, forKey: .items)
        try c.encode(amount, forKey: .amount)
        try c.encode(currency, forKey: .currency)
        try c.encode(amountRefunded, forKey: .amountRefunded)
        try c.encode(Timestamps.rfc3339(createdAt), forKey: .createdAt)
        try c.encode(Timestamps.rfc3339(updatedAt), forKey: .updatedAt)
        try c.encode(paidAt.map(Timestamps.rfc3339), forKey: .paidAt)
        try c.encode(cancelledAt.map(Timestamps.rfc3339), forKey: .cancelledAt)
    }
}

/// `{"data": [...], "hasMore": bool}`.
@_spi(Bench) public struct Page<Element: Encodable & Sendable>: Encodable, Sendable {
    let data: [Element]
    let hasMore: Bool
}

/// `limit` and `startingAfter` of a list request, checked.
@_spi(Bench) public struct PageRequest: Sendable {
    let limit: Int
    let startingAfter: String?

    @_spi(Bench) public init(limit: Int = 20, startingAfter: String? = nil) {
        self.limit = limit
        self.startingAfter = startingAfter
    }

    init(query: [String: String]) throws(TillError) {
        var limit = 20
        if let raw = query["limit"] {
            guard let value = Int(raw), (1...100).contains(value) else {
                throw .invalid("limit must be a whole number from 1 to 100")
            }
            limit = value
        }
        self.limit = limit
        self.startingAfter = query["startingAfter"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Newest first: rows strictly after the cursor row in (created_at, id) order.
    func cursorClause(table: String) -> SQLQueryString {
        guard let after = startingAfter else { return "" }
        return " AND (created_at, id) < (SELECT created_at, id FROM \(ident: table) WHERE id = \(bind: after))"
    }

    /// What every list answers to a cursor that names none of its items: 400, not an empty page.
    static let unknownCursor = TillError.invalid("startingAfter does not name an item of this list")

    /// A cursor must name a row of the list's table (lists whose items are a user's check ownership themselves).
    func checkCursor(in table: String, on db: any SQLDatabase) async throws {
        guard let after = startingAfter else { return }
        guard try await db.raw("SELECT id FROM \(ident: table) WHERE id = \(bind: after)").first() != nil else {
            throw Self.unknownCursor
        }
    }

    /// Cuts the one extra row fetched to learn `hasMore`.
    func page<T>(_ rows: [T]) -> Page<T> {
        Page(data: Array(rows.prefix(limit)), hasMore: rows.count > limit)
    }
}
