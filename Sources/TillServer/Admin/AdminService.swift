import Foundation
import TillCore

/// The admin console's questions: the dashboard's figures, the order search, and the story of an order or a payment
/// told from stored records. Read-only; refunds, replays and catalog edits go through the existing routes.
@_spi(Bench) public struct AdminService: Sendable {
    let database: any Database
    let clock: TillClock
    let repository = AdminRepository()
    static let lowStockThreshold = 5
    @_spi(Bench) public static let day = 86_400_000

    @_spi(Bench) public init(database: any Database, clock: TillClock) {
        self.database = database
        self.clock = clock
    }

    struct Period: Encodable, Sendable {
        let from: String
        let to: String
        let paid: [AdminRepository.PaidTotal]
    }

    @_spi(Bench) public struct Summary: Encodable, Sendable {
        let generatedAt: String
        let today: Period
        let week: Period
        @_spi(Bench) public let ordersByStatus: [String: Int]
        let failedWebhooks: Int
        let lowStockThreshold: Int
        let lowStock: [Product]
    }

    /// Today and this week (from Monday) are UTC days.
    @_spi(Bench) public func summary() async throws -> Summary {
        let now = clock.nowMillis()
        let today = now - now % Self.day
        let daysSinceMonday = (today / Self.day + 3) % 7  // 1970-01-01 was a Thursday
        let week = today - daysSinceMonday * Self.day
        return try await database.withConnection { db in
            let paidToday = try await repository.paid(from: today, to: today + Self.day, on: db)
            let paidWeek = try await repository.paid(from: week, to: week + 7 * Self.day, on: db)
            return Summary(
                generatedAt: Timestamps.rfc3339(now),
                today: Period(
                    from: Timestamps.rfc3339(today), to: Timestamps.rfc3339(today + Self.day), paid: paidToday),
                week: Period(
                    from: Timestamps.rfc3339(week), to: Timestamps.rfc3339(week + 7 * Self.day), paid: paidWeek),
                ordersByStatus: try await repository.orderCounts(on: db),
                failedWebhooks: try await repository.failedWebhookCount(on: db),
                lowStockThreshold: Self.lowStockThreshold,
                lowStock: try await repository.lowStock(threshold: Self.lowStockThreshold, limit: 20, on: db))
        }
    }

    @_spi(Bench) public func orders(query: [String: String], page: PageRequest) async throws -> Page<AdminOrder> {
        var filter = AdminRepository.OrderFilter()
        if let status = query["status"].flatMap({ $0.isEmpty ? nil : $0 }) {
            guard OrderStatus(rawValue: status) != nil else {
                throw TillError.invalid(
                    "status must be one of " + OrderStatus.allCases.map(\.rawValue).joined(separator: ", "))
            }
            filter.status = status
        }
        filter.email = query["email"].map(Validation.normalizedEmail).flatMap {
            $0.isEmpty ? nil : $0
        }
        filter.id = query["id"].map { $0.trimmingCharacters(in: .whitespaces) }.flatMap { $0.isEmpty ? nil : $0 }
        filter.from = try query["from"].flatMap {
            $0.isEmpty ? nil : try Self.millis($0, name: "from", endOfDay: false)
        }
        filter.to = try query["to"].flatMap { $0.isEmpty ? nil : try Self.millis($0, name: "to", endOfDay: true) }
        let rows = try await database.withConnection { [filter] db in
            try await repository.orders(filter, page: page, on: db)
        }
        return page.page(rows)
    }

    static let inventoryCap = 1_000_000_000

    func restock(productId: String, quantity: Int) async throws -> Product {
        guard (1...Self.inventoryCap).contains(quantity) else {
            throw TillError.invalid("quantity must be a whole number from 1 to \(Self.inventoryCap)")
        }
        let now = clock.nowMillis()
        return try await database.withConnection { db in
            if let product = try await repository.restock(
                productId: productId, quantity: quantity, cap: Self.inventoryCap, now: now, on: db)
            {
                return product
            }
            guard try await repository.productExists(productId, on: db) else { throw TillError.notFound("Product") }
            throw TillError.invalid("the stock would pass \(Self.inventoryCap)")
        }
    }

    struct OrderTimeline: Encodable, Sendable {
        let order: AdminOrder
        let payments: [Payment]
        let timeline: [TimelineEntry]
    }

    func orderTimeline(id: String) async throws -> OrderTimeline {
        try await database.withConnection { db in
            guard let order = try await repository.order(id: id, on: db) else { throw TillError.notFound("Order") }
            let payments = try await PaymentRepository().forOrder(id, on: db)
            let window = AdminTimeline.window(
                created: order.order.createdAt, updated: [order.order.updatedAt] + payments.map(\.updatedAt))
            let events = try await repository.events(
                mentioning: [id] + AdminTimeline.ids(of: payments), from: window.from, to: window.to, on: db)
            let o = order.order
            var entries = [
                TimelineEntry(
                    atMillis: o.createdAt, kind: .orderCreated,
                    title: o.items.count == 1 && o.items[0].quantity == 1
                        ? "Order created (1 item)" : "Order created (\(o.items.reduce(0) { $0 + $1.quantity }) items)",
                    detail: o.items.map { "\($0.name) × \($0.quantity)" }.joined(separator: ", "), amount: o.amount,
                    currency: o.currency)
            ]
            entries += payments.flatMap(AdminTimeline.entries(for:))
            entries += AdminTimeline.entries(events: events, payments: payments)
            if let at = o.paidAt {
                entries.append(
                    TimelineEntry(
                        atMillis: at, kind: .orderPaid, title: "Order paid", amount: o.amount, currency: o.currency))
            }
            if let at = o.cancelledAt {
                entries.append(
                    TimelineEntry(atMillis: at, kind: .orderCancelled, title: "Order cancelled, stock released"))
            }
            return OrderTimeline(order: order, payments: payments, timeline: AdminTimeline.sorted(entries))
        }
    }

    struct PaymentTimeline: Encodable, Sendable {
        let payment: Payment
        let userEmail: String?
        let chargeId: String?
        let receiptUrl: String?
        let refunds: [StripeRefundRecord]
        let timeline: [TimelineEntry]

        enum CodingKeys: String, CodingKey { case payment, userEmail, chargeId, receiptUrl, refunds, timeline }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(payment, forKey: .payment)
            try c.encode(userEmail, forKey: .userEmail)
            try c.encode(chargeId, forKey: .chargeId)
            try c.encode(receiptUrl, forKey: .receiptUrl)
            try c.encode(refunds, forKey: .refunds)
            try c.encode(timeline, forKey: .timeline)
        }
    }

    func paymentTimeline(id: String) async throws -> PaymentTimeline {
        try await database.withConnection { db in
            guard let payment = try await PaymentRepository().find(id: id, on: db) else {
                throw TillError.notFound("Payment")
            }
            let window = AdminTimeline.window(created: payment.createdAt, updated: [payment.updatedAt])
            let events = try await repository.events(
                mentioning: AdminTimeline.ids(of: [payment]), from: window.from, to: window.to, on: db)
            let facts = events.map { AdminTimeline.EventFacts(payload: $0.payload) }
            return PaymentTimeline(
                payment: payment, userEmail: try await repository.email(userId: payment.userId, on: db),
                chargeId: facts.lazy.compactMap(\.chargeId).first, receiptUrl: facts.lazy.compactMap(\.receiptURL).last,
                refunds: AdminTimeline.refunds(events: events),
                timeline: AdminTimeline.sorted(
                    AdminTimeline.entries(for: payment) + AdminTimeline.entries(events: events, payments: [payment])))
        }
    }

    /// `2026-12-04` (a UTC day: its start, or with `endOfDay` the start of the next) or an RFC 3339 time.
    static func millis(_ text: String, name: String, endOfDay: Bool) throws -> Int {
        let isDate =
            text.count == 10
            && text.enumerated().allSatisfy { i, c in (i == 4 || i == 7) ? c == "-" : c.isASCII && c.isNumber }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        var date = formatter.date(from: isDate ? text + "T00:00:00Z" : text)
        if date == nil {
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            date = formatter.date(from: text)
        }
        guard let date, date.timeIntervalSince1970.magnitude < 1e12 else {
            throw TillError.invalid("\(name) must be a date (YYYY-MM-DD) or an RFC 3339 time")
        }
        return Int(date.timeIntervalSince1970 * 1000) + (isDate && endOfDay ? day : 0)
    }
}
