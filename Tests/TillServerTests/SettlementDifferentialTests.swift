import Foundation
import Logging
import SQLKit
import StripeAPI
import Testing
import TillCore

@_spi(Bench) @testable import TillServer

/// The one applier, held to its promise: a batch of reports ends the database exactly as the same reports applied one
/// at a time. Random sequences of Stripe-shaped events (every type Till acts on, duplicates, reorders, late successes,
/// mismatched amounts, plan payments, an inactive plan, and subscriptions' events at several times, so that some are
/// older than others) go once through batches and once one by one, into two databases seeded alike; every row of every
/// table must then be the same. (A plan payment without its plan cannot be stored: the schema's CHECK and foreign key
/// refuse it. Subscribers buy no one-off plan here: a user with both would end with whichever plan was granted last,
/// and a batch grants its subscriptions' plans after its payments'.)
@Suite("Settlement: batches equal one by one")
struct SettlementDifferentialTests {
    static let seeds: [UInt64] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]

    @Test("random event sequences, in batches and one by one, leave identical databases", arguments: Backend.available)
    func differential(backend: Backend) async throws {
        for seed in Self.seeds {
            var rng = SplitMix(seed: seed)
            let scenario = Scenario.make(&rng)
            let events = scenario.events(count: 80, &rng)
            let batched = try await Self.run(scenario, events, backend: backend) { settlement, items in
                var rest = items[...]
                var chunkRNG = SplitMix(seed: seed &+ 99)
                while !rest.isEmpty {
                    let size = Int(chunkRNG.next() % 40) + 1
                    let chunk = Array(rest.prefix(size))
                    _ = try await settlement.database.transaction { db in try await settlement.apply(chunk, on: db) }
                    rest = rest.dropFirst(size)
                }
            }
            let single = try await Self.run(scenario, events, backend: backend) { settlement, items in
                for item in items {
                    _ = try await settlement.database.transaction { db in try await settlement.apply([item], on: db) }
                }
            }
            for table in batched.tables.keys.sorted() where batched.tables[table] != single.tables[table] {
                let a = batched.tables[table] ?? []
                let b = single.tables[table] ?? []
                let rows = zip(a, b).filter { $0 != $1 }.prefix(2).map { pair in
                    pair.0.keys.sorted().filter { pair.0[$0] != pair.1[$0] }.map {
                        "\(pair.0["id"] ?? "") \($0): \(pair.0[$0] ?? "") vs \(pair.1[$0] ?? "")"
                    }
                }
                Issue.record("seed \(seed): \(table) differs (\(a.count) vs \(b.count) rows): \(rows)")
            }
            // The sequences must reach the interesting cases, or the comparison proves little.
            #expect(batched.changedRows > 10, "seed \(seed): the events changed almost nothing")
        }
    }

    @Test("the applier's runs never put two steps about one payment, order or plan buyer together")
    func runsKeepApart() throws {
        var rng = SplitMix(seed: 42)
        let scenario = Scenario.make(&rng)
        let payments = scenario.payments.map { $0.payment }
        var steps: [SettlementService.Step] = []
        for _ in 0..<500 {
            let payment = payments[Int(rng.next() % UInt64(payments.count))]
            let decision = [
                PaymentDecision(status: .succeeded, effects: [.fulfil]),
                PaymentDecision(status: .canceled, effects: [.cancelOrderUnlessOtherPayment]),
            ][Int(rng.next() % 2)]
            steps.append(.init(before: payment, decision: decision))
        }
        let runs = SettlementService.runs(steps)
        #expect(runs.flatMap { $0 }.map(\.before.id) == steps.map(\.before.id), "runs keep every step, in order")
        for run in runs {
            #expect(Set(run.map(\.before.id)).count == run.count)
            let orders = run.compactMap(\.before.orderId)
            #expect(Set(orders).count == orders.count)
            let buyers = run.filter { $0.before.kind == .plan }.map(\.before.userId)
            #expect(Set(buyers).count == buyers.count)
            #expect(Set(run.map(\.signature)).count == 1)
        }
    }

    struct Result {
        let tables: [String: [[String: String]]]
        let changedRows: Int
    }

    /// Seeds a fresh database with `scenario`, applies `events` with `body`, and reads every table back.
    static func run(
        _ scenario: Scenario, _ events: [Event], backend: Backend,
        _ body: (SettlementService, [SettlementService.Item]) async throws -> Void
    ) async throws -> Result {
        let schema = try await PostgresSchema.create(for: backend)
        let logger = Logger(label: "differential")
        let database = try await DatabaseOpener.open(schema?.config ?? .sqliteMemory, logger: logger)
        do {
            try await Migrations.run(on: database, logger: logger)
            try await database.transaction { db in
                try await scenario.seed(on: db)
                try await scenario.seedSubscriptions(on: db)
            }
            let before = try await dump(database)
            // The applier is driven inside transactions, as the inbox drives it: refunds at Stripe come after commit
            // and are not the applier's.
            let stripe = StripeClient(
                configuration: .init(
                    secretKey: "sk_test_none", baseURL: "http://127.0.0.1:9", timeout: 1, maxNetworkRetries: 0),
                logger: logger)
            let settlement = SettlementService(
                database: database, stripe: stripe, clock: TillClock { 1_800_000_000_000 }, logger: logger)
            let items = try events.map { event in
                let fields = try StripeFacts.EventFields.decode(try StripeJSON.encoder().encode(event))
                return SettlementService.Item(eventId: event.id, subject: StripeFacts.from(fields))
            }
            try await body(settlement, items)
            let after = try await dump(database)
            await database.close()
            try await schema?.drop()
            let changed = after.keys.reduce(0) { sum, table in
                sum + zip(after[table] ?? [], before[table] ?? []).filter { $0 != $1 }.count
            }
            return Result(tables: after, changedRows: changed)
        } catch {
            await database.close()
            try? await schema?.drop()
            throw error
        }
    }

    /// Every row of the tables settlement touches, as text, in id order.
    static func dump(_ database: any Database) async throws -> [String: [[String: String]]] {
        var tables: [String: [[String: String]]] = [:]
        for table in ["products", "plans", "users", "orders", "order_items", "payments", "subscriptions"] {
            // An invoice's payment gets a new random id: such rows are compared by their invoice and attempt.
            let order: SQLQueryString =
                table == "payments" ? "ORDER BY kind, invoice_id, invoice_attempt, id" : "ORDER BY 1, 2"
            tables[table] = try await database.withConnection { db in
                try await db.raw("SELECT * FROM \(ident: table) " + order).all().map { row in
                    var values: [String: String] = [:]
                    for column in row.allColumns {
                        if try row.decodeNil(column: column) {
                            values[column] = "NULL"
                        } else if let int = try? row.decode(column: column, as: Int.self) {
                            values[column] = String(int)
                        } else {
                            values[column] = try row.decode(column: column, as: String.self)
                        }
                    }
                    if values["kind"] == "subscription" { values["id"] = "invoice payment" }
                    return values
                }
            }
        }
        return tables
    }
}

/// A small catalog with scarce stock, a few buyers, orders (some cancelled already) and plan purchases, with the
/// payments whose events the tests send.
struct Scenario: Sendable {
    struct SeededPayment: Sendable {
        let payment: Payment
        let intentId: String
        let chargeId: String
    }

    let products: [(id: String, stock: Int)]
    let plans: [(id: String, credits: Int, active: Bool)]
    let users: [String]
    let orders: [(id: String, userId: String, status: OrderStatus, items: [OrderItem], amount: Int)]
    let payments: [SeededPayment]
    /// Till's subscriptions (`INCOMPLETE`, to plan_sub), each with the user who has it alone.
    let subscriptions: [(id: String, userId: String)] = [("sub_0", "subscriber_0"), ("sub_1", "subscriber_1")]

    static let created = 1_700_000_000_000

    static func make(_ rng: inout SplitMix) -> Scenario {
        let products = (0..<3).map { (id: "prod_\($0)", stock: Int(rng.next() % 3)) }
        let plans = [
            (id: "plan_a", credits: 100, active: true), (id: "plan_retired", credits: 50, active: false),
            (id: "plan_sub", credits: 30, active: true),
        ]
        let users = (0..<3).map { "user_\($0)" }
        var orders: [(id: String, userId: String, status: OrderStatus, items: [OrderItem], amount: Int)] = []
        var payments: [SeededPayment] = []
        for index in 0..<6 {
            let product = products[index % products.count]
            let quantity = Int(rng.next() % 2) + 1
            let item = OrderItem(productId: product.id, name: "Item \(index)", quantity: quantity, unitAmount: 500)
            // Cancelled orders test late successes; their stock is already back on the shelf.
            let status: OrderStatus = rng.next() % 4 == 0 ? .cancelled : .pending
            let order = (
                id: "order_\(index)", userId: users[index % users.count], status: status, items: [item],
                amount: 500 * quantity
            )
            orders.append(order)
            for attempt in 0..<(rng.next() % 3 == 0 ? 2 : 1) {
                payments.append(
                    Self.payment(
                        id: "pay_o\(index)_\(attempt)", kind: .order, method: attempt == 0 ? .checkout : .intent,
                        orderId: order.id, planId: nil, userId: order.userId, amount: order.amount))
            }
        }
        for (index, planId) in ["plan_a", "plan_retired", "plan_a", "plan_retired"].enumerated() {
            payments.append(
                Self.payment(
                    id: "pay_p\(index)", kind: .plan, method: .checkout, orderId: nil, planId: planId,
                    userId: users[index % users.count], amount: 900))
        }
        return Scenario(products: products, plans: plans, users: users, orders: orders, payments: payments)
    }

    static func payment(
        id: String, kind: PaymentKind, method: TillServer.PaymentMethod, orderId: String?, planId: String?,
        userId: String, amount: Int
    ) -> SeededPayment {
        var payment = Payment(
            id: id, kind: kind, method: method, orderId: orderId, planId: planId, userId: userId, amount: amount,
            currency: "usd", now: created)
        if method == .checkout { payment.checkoutSessionId = "cs_test_" + id }
        return SeededPayment(payment: payment, intentId: "pi_" + id, chargeId: "ch_" + id)
    }

    func seed(on db: any SQLDatabase) async throws {
        let now = Self.created
        for product in products {
            try await db.raw(
                """
                INSERT INTO products (id, name, unit_amount, currency, inventory, active, created_at, updated_at)
                VALUES (\(bind: product.id), 'Tea', 500, 'usd', \(bind: product.stock), 1, \(bind: now), \(bind: now))
                """
            ).run()
        }
        for plan in plans {
            try await db.raw(
                """
                INSERT INTO plans (id, name, unit_amount, currency, credits, active, created_at)
                VALUES (\(bind: plan.id), 'Pro', 900, 'usd', \(bind: plan.credits), \(bind: plan.active ? 1 : 0), \(bind: now))
                """
            ).run()
        }
        for user in users + subscriptions.map(\.userId) {
            try await db.raw(
                """
                INSERT INTO users (id, email, password_hash, role, credit_balance, created_at)
                VALUES (\(bind: user), \(bind: user + "@example.com"), 'x', 'customer', 0, \(bind: now))
                """
            ).run()
        }
        for order in orders {
            try await OrderRepository().insert(
                Order(
                    id: order.id, userId: order.userId, status: order.status, items: order.items, amount: order.amount,
                    currency: "usd", amountRefunded: 0, createdAt: now, updatedAt: now, paidAt: nil,
                    cancelledAt: order.status == .cancelled ? now : nil),
                on: db)
            if order.status == .cancelled {
                try await db.raw("UPDATE orders SET cancelled_at = \(bind: now) WHERE id = \(bind: order.id)").run()
            }
        }
        for seeded in payments {
            let p = seeded.payment
            try await db.raw(
                """
                INSERT INTO payments (id, kind, method, order_id, plan_id, user_id, amount, currency, status,
                    checkout_session_id, created_at, updated_at)
                VALUES (\(bind: p.id), \(bind: p.kind.rawValue), \(bind: p.method.rawValue), \(bind: p.orderId), \(bind: p.planId),
                    \(bind: p.userId), \(bind: p.amount), 'usd', 'INITIATED', \(bind: p.checkoutSessionId), \(bind: now), \(bind: now))
                """
            ).run()
        }
    }

    func seedSubscriptions(on db: any SQLDatabase) async throws {
        for s in subscriptions {
            try await SubscriptionRepository().insert(
                Subscription(id: s.id, userId: s.userId, planId: "plan_sub", now: Self.created), on: db)
        }
    }

    static let subscriptionTypes = [
        "customer.subscription.created", "customer.subscription.updated", "customer.subscription.updated",
        "customer.subscription.deleted", "invoice.paid", "invoice.paid", "invoice.payment_failed",
    ]

    /// An event about one of the subscriptions, at one of a few times (so that some are older than others), about one
    /// of a few invoices; without Till's id in its metadata now and then (found by Stripe's id, once known).
    func subscriptionEvent(_ rng: inout SplitMix) -> Event? {
        let index = Int(rng.next() % UInt64(subscriptions.count))
        let type = Self.subscriptionTypes[Int(rng.next() % UInt64(Self.subscriptionTypes.count))]
        var options = TestEvents.Options(amount: 900)
        options.subscriptionId = "sub_stripe_\(index)"
        options.invoiceId = "in_\(index)_\(rng.next() % 3)"
        options.subscriptionMetadata = rng.next() % 4 == 0 ? [:] : ["subscriptionId": subscriptions[index].id]
        options.subscriptionStatus = ["active", "active", "past_due", "canceled"][Int(rng.next() % 4)]
        options.cancelAtPeriodEnd = rng.next() % 3 == 0
        options.periodStart = 1_800_000_000 + Int(rng.next() % 3) * 30 * 86_400
        return try? TestEvents.make(type: type, options: options, now: 1_800_000_000 + Int(rng.next() % 4) * 1000)
    }

    static let types = [
        "checkout.session.completed", "checkout.session.completed", "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed", "checkout.session.expired", "payment_intent.succeeded",
        "payment_intent.payment_failed", "payment_intent.canceled", "charge.refunded", "charge.refunded",
        "charge.dispute.created",
    ]

    /// A random sequence of events about the scenario's payments: a type, sometimes a wrong amount, partial refunds,
    /// and repeats of earlier events (Stripe's duplicates and retries).
    func events(count: Int, _ rng: inout SplitMix) -> [Event] {
        var events: [Event] = []
        for _ in 0..<count {
            if !events.isEmpty, rng.next() % 5 == 0 {
                events.append(events[Int(rng.next() % UInt64(events.count))])
                continue
            }
            if rng.next() % 4 == 0, let event = subscriptionEvent(&rng) {
                events.append(event)
                continue
            }
            let seeded = payments[Int(rng.next() % UInt64(payments.count))]
            let p = seeded.payment
            let type = Self.types[Int(rng.next() % UInt64(Self.types.count))]
            var options = TestEvents.Options(
                orderId: p.orderId, paymentId: p.id, sessionId: p.checkoutSessionId, paymentIntentId: seeded.intentId,
                chargeId: seeded.chargeId, amount: rng.next() % 10 == 0 ? p.amount + 1 : p.amount,
                paymentStatus: rng.next() % 6 == 0 ? "unpaid" : "paid",
                customerEmail: "buyer\(rng.next() % 3)@example.com")
            if type == "charge.refunded" { options.amountRefunded = Int(rng.next() % UInt64(p.amount)) + 1 }
            if let event = try? TestEvents.make(type: type, options: options, now: 1_800_000_000) {
                events.append(event)
            }
        }
        return events
    }
}
