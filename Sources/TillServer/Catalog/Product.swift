import SQLKit
import StripeAPI

struct Product: Sendable {
    let id: String
    var name: String
    @Nullable var description: String?
    var unitAmount: Int
    let currency: String
    var inventory: Int
    var active: Bool
    let createdAt: Int

    init(row: any SQLRow) throws {
        id = try row.string("id")
        name = try row.string("name")
        description = try row.optionalString("description")
        unitAmount = try row.int("unit_amount")
        currency = try row.string("currency")
        inventory = try row.int("inventory")
        active = try row.bool("active")
        createdAt = try row.int("created_at")
    }

    init(
        id: String, name: String, description: String?, unitAmount: Int, currency: String, inventory: Int, active: Bool,
        createdAt: Int
    ) {
        self.id = id
        self.name = name
        self.description = description
        self.unitAmount = unitAmount
        self.currency = currency
        self.inventory = inventory
        self.active = active
        self.createdAt = createdAt
    }

    static let columns = "id, name, description, unit_amount, currency, inventory, active, created_at"
}

/// `product` in the contract (`createdAt` only orders lists).
extension Product: Encodable {
    enum CodingKeys: String, CodingKey { case id, name, description, unitAmount, currency, inventory, active }
}

struct Plan: Sendable {
    let id: String
    let name: String
    let unitAmount: Int
    let currency: String
    let credits: Int
    @Nullable var stripePriceId: String?
    let active: Bool
    let createdAt: Int
    /// `day`, `week`, `month` or `year` for a recurring plan (a subscription); nil for a one-off purchase.
    @Nullable var interval: String?
    @Nullable var intervalCount: Int?

    var isRecurring: Bool { interval != nil }

    static let intervals = ["day", "week", "month", "year"]

    init(row: any SQLRow) throws {
        id = try row.string("id")
        name = try row.string("name")
        unitAmount = try row.int("unit_amount")
        currency = try row.string("currency")
        credits = try row.int("credits")
        stripePriceId = try row.optionalString("stripe_price_id")
        active = try row.bool("active")
        createdAt = try row.int("created_at")
        interval = try row.optionalString("billing_interval")
        intervalCount = try row.optionalInt("billing_interval_count")
    }

    init(
        id: String, name: String, unitAmount: Int, currency: String, credits: Int, stripePriceId: String?, active: Bool,
        createdAt: Int, interval: String? = nil, intervalCount: Int? = nil
    ) {
        self.id = id
        self.name = name
        self.unitAmount = unitAmount
        self.currency = currency
        self.credits = credits
        self.stripePriceId = stripePriceId
        self.active = active
        self.createdAt = createdAt
        self.interval = interval
        self.intervalCount = intervalCount
    }

    static let columns =
        "id, name, unit_amount, currency, credits, stripe_price_id, active, created_at, billing_interval, billing_interval_count"
}

/// `plan` in the contract.
extension Plan: Encodable {
    enum CodingKeys: String, CodingKey {
        case id, name, unitAmount, currency, credits, stripePriceId, active, interval, intervalCount
    }
}
