import Foundation
import StripeAPI
import SQLKit
import TillCore

/// Products and plans: validation, then one statement each.
struct CatalogService: Sendable {
    let database: any Database
    let stripe: StripeClient
    let catalog = CatalogRepository()
    let clock: TillClock

    struct CreateProductRequest: Decodable, Sendable {
        let name: String
        let description: String?
        let unitAmount: Int
        let currency: String
        let inventory: Int
    }

    /// What an update may change. Any other key is refused: a misspelt `inventory`, or a `currency` (which cannot
    /// change), must not answer 200 with nothing changed.
    struct UpdateProductRequest: Decodable, Sendable {
        let name: String?
        let description: String?
        let unitAmount: Int?
        let inventory: Int?
        let active: Bool?

        enum CodingKeys: String, CodingKey, CaseIterable { case name, description, unitAmount, inventory, active }

        init(from decoder: any Decoder) throws {
            try JSONCoding.refuseUnknownKeys(
                decoder, allowed: Set(CodingKeys.allCases.map(\.rawValue)),
                takes:
                    "a product's update takes name, description, unitAmount, inventory and active (its currency cannot change)"
            )
            let c = try decoder.container(keyedBy: CodingKeys.self)
            name = try c.decodeIfPresent(String.self, forKey: .name)
            description = try c.decodeIfPresent(String.self, forKey: .description)
            unitAmount = try c.decodeIfPresent(Int.self, forKey: .unitAmount)
            inventory = try c.decodeIfPresent(Int.self, forKey: .inventory)
            active = try c.decodeIfPresent(Bool.self, forKey: .active)
        }
    }

    struct CreatePlanRequest: Decodable, Sendable {
        let name: String
        let unitAmount: Int
        let currency: String
        let credits: Int
        let stripePriceId: String?
        let interval: String?
        let intervalCount: Int?
    }

    func createProduct(_ r: CreateProductRequest) async throws -> Product {
        let name = try Self.checkName(r.name)
        let currency = try Self.checkCurrency(r.currency)
        if let problem = Money.validatePrice(r.unitAmount, currency) {
            throw TillError.invalid("unitAmount \(problem)")
        }
        try Self.checkInventory(r.inventory)
        let now = clock.nowMillis()
        let product = Product(
            id: IDs.make(), name: name, description: try Self.checkDescription(r.description),
            unitAmount: r.unitAmount, currency: currency.code, inventory: r.inventory, active: true, createdAt: now)
        try await database.withConnection { db in try await catalog.insert(product, on: db) }
        return product
    }

    func updateProduct(id: String, _ r: UpdateProductRequest) async throws -> Product {
        let patch = CatalogRepository.ProductPatch(
            name: try r.name.map(Self.checkName), description: try Self.checkDescription(r.description),
            unitAmount: r.unitAmount, inventory: r.inventory, active: r.active)
        if let inventory = r.inventory { try Self.checkInventory(inventory) }
        let now = clock.nowMillis()
        return try await database.transaction { db in
            guard let existing = try await catalog.product(id: id, on: db) else { throw TillError.notFound("Product") }
            if let amount = r.unitAmount, let currency = Currency(existing.currency),
                let problem = Money.validatePrice(amount, currency)
            {
                throw TillError.invalid("unitAmount \(problem)")
            }
            guard let updated = try await catalog.update(productId: id, patch, now: now, on: db) else {
                throw TillError.notFound("Product")
            }
            return updated
        }
    }

    /// A product; a deactivated one only for an admin (as in the list).
    func product(id: String, includeInactive: Bool) async throws -> Product {
        guard let product = try await database.withConnection({ db in try await catalog.product(id: id, on: db) }),
            product.active || includeInactive
        else { throw TillError.notFound("Product") }
        return product
    }

    func products(includeInactive: Bool, page: PageRequest) async throws -> Page<Product> {
        page.page(
            try await database.withConnection { db in
                try await page.checkCursor(in: "products", on: db)
                return try await catalog.products(activeOnly: !includeInactive, page: page, on: db)
            })
    }

    func createPlan(_ r: CreatePlanRequest) async throws -> Plan {
        let name = try Self.checkName(r.name)
        let currency = try Self.checkCurrency(r.currency)
        if let problem = Money.validateCharge(r.unitAmount, currency) {
            throw TillError.invalid("unitAmount \(problem)")
        }
        guard r.credits > 0, r.credits <= 1_000_000_000 else {
            throw TillError.invalid("credits must be a positive whole number up to 1000000000")
        }
        if let price = r.stripePriceId, !price.hasPrefix("price_") {
            throw TillError.invalid("stripePriceId must be a Stripe price id (price_...)")
        }
        if let interval = r.interval, !Plan.intervals.contains(interval) {
            throw TillError.invalid("interval must be one of day, week, month, year")
        }
        if let count = r.intervalCount {
            guard r.interval != nil else { throw TillError.invalid("intervalCount needs an interval") }
            // Stripe's limit: at most one year between payments.
            let most = ["day": 365, "week": 52, "month": 12, "year": 1][r.interval ?? ""] ?? 1
            guard (1...most).contains(count) else {
                throw TillError.invalid("intervalCount must be from 1 to \(most) for interval \(r.interval ?? "")")
            }
        }
        let id = IDs.make()
        var priceId = r.stripePriceId
        if let given = priceId {
            try await checkPrice(
                given, interval: r.interval, count: r.intervalCount ?? 1, amount: r.unitAmount,
                currency: currency.code)
        }
        if let interval = r.interval, priceId == nil {
            // A subscription needs a recurring price at Stripe: made before the plan is stored, so that a plan
            // never exists without one. The plan's id keys the call, so a retry makes no second price.
            do {
                priceId = try await stripe.createPrice(
                    PriceCreateParams(
                        currency: currency.code, unitAmount: r.unitAmount, productData: .init(name: name),
                        recurring: .init(interval: interval, intervalCount: r.intervalCount ?? 1)),
                    options: RequestOptions(idempotencyKey: "till-plan-price-\(id)")
                ).id
            } catch {
                throw PaymentService.stripeError(error)
            }
        }
        let plan = Plan(
            id: id, name: name, unitAmount: r.unitAmount, currency: currency.code, credits: r.credits,
            stripePriceId: priceId, active: true, createdAt: clock.nowMillis(), interval: r.interval,
            intervalCount: r.interval == nil ? nil : r.intervalCount ?? 1)
        try await database.withConnection { db in try await catalog.insert(plan, on: db) }
        return plan
    }

    /// A plan's own Stripe price must bill what the plan says (a one-time price for a one-off plan; a recurring one,
    /// as often as the plan says, for a subscription): the customer is charged the price, and a payment that does
    /// not match the plan is held for review instead of granting its credits.
    private func checkPrice(_ id: String, interval: String?, count: Int, amount: Int, currency: String)
        async throws
    {
        let price: Price
        do {
            price = try await stripe.retrievePrice(id)
        } catch  where error.httpStatus == 404 {
            throw TillError.invalid("stripePriceId \(id) is not a price at Stripe")
        } catch {
            throw PaymentService.stripeError(error)
        }
        guard let interval else {
            guard price.type == "one_time", price.unitAmount == amount, price.currency == currency else {
                throw TillError.invalid("stripePriceId must be a one-time price of \(amount) \(currency)")
            }
            return
        }
        guard price.type == "recurring", price.recurring["interval"]?.string == interval,
            (price.recurring["interval_count"]?.int ?? 1) == count, price.unitAmount == amount,
            price.currency == currency
        else {
            throw TillError.invalid(
                "stripePriceId must be a recurring price of \(amount) \(currency) every \(count) \(interval)(s)")
        }
    }

    func plan(id: String) async throws -> Plan {
        guard let plan = try await database.withConnection({ db in try await catalog.plan(id: id, on: db) }),
            plan.active
        else { throw TillError.notFound("Plan") }
        return plan
    }

    func plans(page: PageRequest) async throws -> Page<Plan> {
        page.page(
            try await database.withConnection { db in
                try await page.checkCursor(in: "plans", on: db)
                return try await catalog.plans(activeOnly: true, page: page, on: db)
            })
    }

    static func checkName(_ raw: String) throws -> String {
        let name = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !name.isEmpty, name.count <= 200 else { throw TillError.invalid("name must be 1 to 200 characters") }
        return name
    }

    static func checkDescription(_ raw: String?) throws -> String? {
        guard let raw else { return nil }
        guard raw.count <= 2000 else { throw TillError.invalid("description must be at most 2000 characters") }
        return raw
    }

    static func checkCurrency(_ raw: String) throws -> Currency {
        guard let currency = Currency(raw) else {
            throw TillError.invalid("currency \"\(raw)\" is not a three-letter currency code that Stripe supports")
        }
        return currency
    }

    static func checkInventory(_ inventory: Int) throws {
        guard inventory >= 0, inventory <= 1_000_000_000 else {
            throw TillError.invalid("inventory must be a whole number from 0 to 1000000000")
        }
    }
}
