import SQLKit
import TillCore

/// The hot path of settlement: a batch of webhook events applied in one transaction. Payments whose events in the
/// batch are all successes (the first delivery and its duplicates) are settled here in bulk; anything else (refunds,
/// failures, a late success for a cancelled order, a payment that changed under us) is handed back to be applied
/// one event at a time through `apply`, in the order received.
extension SettlementService {
    struct BatchItem: Sendable {
        let eventId: String
        let report: StripeFacts.Report?
    }

    struct BatchOutcome: Sendable {
        /// Events applied here.
        var processed: [String] = []
        /// Events about nothing Till knows.
        var ignored: [String] = []
        /// Events to apply one by one.
        var rest: [BatchItem] = []
    }

    struct BatchConflict: Error {}

    /// Applies what it can of stored, claimed events in one transaction, recording the outcome of those it
    /// finishes.
    func applyBatch(_ items: [BatchItem]) async throws -> BatchOutcome {
        do {
            return try await database.transaction { db in
                let outcome = try await applyBatch(items, on: db)
                let inbox = WebhookEventRepository()
                let now = clock.nowMillis()
                try await inbox.finish(ids: outcome.processed, status: "processed", now: now, on: db)
                try await inbox.finish(ids: outcome.ignored, status: "ignored", now: now, on: db)
                return outcome
            }
        } catch is BatchConflict {
            return BatchOutcome(rest: items)
        }
    }

    /// Applies what it can of `items` inside the caller's transaction; recording the events' outcome is the
    /// caller's. Throws `BatchConflict` when a payment changed since it was read.
    func applyBatch(_ items: [BatchItem], on db: any SQLDatabase) async throws -> BatchOutcome {
        let now = clock.nowMillis()
        let lookups = items.compactMap { $0.report?.lookup }
        let loaded = try await load(lookups, on: db)
        func resolve(_ lookup: StripeFacts.Lookup) -> Payment? {
            if let id = lookup.paymentId, let p = loaded.byId[id] { return p }
            if let id = lookup.sessionId, let p = loaded.bySession[id] { return p }
            if let id = lookup.paymentIntentId, let p = loaded.byIntent[id] { return p }
            return nil
        }

        var outcome = BatchOutcome()
        var byPayment: [String: [BatchItem]] = [:]
        var paymentOrder: [String] = []
        for item in items {
            guard let report = item.report, let payment = resolve(report.lookup) else {
                outcome.ignored.append(item.eventId)
                continue
            }
            if byPayment[payment.id] == nil { paymentOrder.append(payment.id) }
            byPayment[payment.id, default: []].append(item)
        }

        var toSettle: [(payment: Payment, details: StripeFacts.Details, events: [String])] = []
        for paymentId in paymentOrder {
            let group = byPayment[paymentId]!
            let payment = loaded.byId[paymentId]!
            let facts = group.flatMap { $0.report!.facts }
            guard let first = facts.first, facts.allSatisfy({ $0 == first }), case .succeeded = first else {
                outcome.rest += group
                continue
            }
            // What the group's events tell about the payment, whichever of them says it.
            let details = StripeFacts.Details(
                paymentIntentId: group.lazy.compactMap { $0.report?.details.paymentIntentId }.first,
                customerEmail: group.lazy.compactMap { $0.report?.details.customerEmail }.first)
            let decision = PaymentMachine.decide(payment.state, first)
            if decision == .nothing {
                // Duplicates of a success already applied; keep anything they add (the email from the session).
                if (payment.paymentIntentId == nil && details.paymentIntentId != nil) || (payment.customerEmail == nil && details.customerEmail != nil) {
                    try await payments.setDetails(id: payment.id, paymentIntentId: details.paymentIntentId, customerEmail: details.customerEmail, on: db)
                }
                outcome.processed += group.map(\.eventId)
            } else if decision.status == .succeeded, decision.effects == [.fulfil], payment.status != .canceled {
                toSettle.append((payment, details, group.map(\.eventId)))
            } else {
                outcome.rest += group
            }
        }

        // Orders first: the ones still PENDING become PAID in one statement; the others (cancelled meanwhile, or
        // paid through another payment) need the careful path. On SQLite, `+status` keeps the planner on the
        // primary key: on the status index it would walk every pending order.
        let orderIds = toSettle.compactMap { $0.payment.kind == .order ? $0.payment.orderId : nil }
        var paidOrders = Set<String>()
        if !orderIds.isEmpty {
            paidOrders = Set(try await db.raw("""
                UPDATE orders SET status = 'PAID', paid_at = \(bind: now), updated_at = \(bind: now)
                WHERE id IN (\(binds: orderIds)) AND \(unsafeRaw: database.kind == .sqlite ? "+status" : "status") = 'PENDING' RETURNING id
                """).all(decodingColumn: "id", as: String.self))
        }
        var settled: [(payment: Payment, details: StripeFacts.Details)] = []
        for entry in toSettle {
            if entry.payment.kind == .order, !paidOrders.contains(entry.payment.orderId ?? "") {
                outcome.rest += entry.events.map { id in items.first { $0.eventId == id }! }
            } else {
                settled.append((entry.payment, entry.details))
                outcome.processed += entry.events
            }
        }
        if !settled.isEmpty {
            // One statement for the whole batch, each row guarded by the state it was decided from.
            let rows: [SQLQueryString] = settled.map { p, d in
                "(\(bind: p.id), \(bind: p.status.rawValue), \(bind: p.amountRefunded), \(bind: d.paymentIntentId ?? ""), \(bind: d.customerEmail ?? ""))"
            }
            let moved = try await db.raw(
                "WITH v (id, old_status, old_refunded, intent, email) AS (VALUES " + rows.joined(separator: ", ") + """
                ) UPDATE payments SET status = 'SUCCEEDED', fulfilled = 1, updated_at = \(bind: now),
                    succeeded_at = COALESCE(payments.succeeded_at, \(bind: now)),
                    payment_intent_id = COALESCE(payments.payment_intent_id, NULLIF(v.intent, '')),
                    customer_email = COALESCE(NULLIF(v.email, ''), payments.customer_email)
                FROM v
                WHERE payments.id = v.id AND payments.status = v.old_status AND payments.amount_refunded = CAST(v.old_refunded AS BIGINT)
                RETURNING payments.id
                """
            ).all()
            // Another processor got to one of them first: redo this batch one event at a time.
            guard moved.count == settled.count else { throw BatchConflict() }
            for (payment, _) in settled where payment.kind == .plan {
                guard let planId = payment.planId else { continue }
                _ = try await UserRepository().grantPlan(userId: payment.userId, planId: planId, on: db)
            }
        }
        if !outcome.processed.isEmpty {
            logger.debug("settled a batch", metadata: ["events": "\(outcome.processed.count)", "payments": "\(toSettle.count)"])
        }
        return outcome
    }

    private struct Loaded {
        var byId: [String: Payment] = [:]
        var bySession: [String: Payment] = [:]
        var byIntent: [String: Payment] = [:]
    }

    private func load(_ lookups: [StripeFacts.Lookup], on db: any SQLDatabase) async throws -> Loaded {
        var loaded = Loaded()
        func add(_ rows: [Payment]) {
            for p in rows {
                loaded.byId[p.id] = p
                if let s = p.checkoutSessionId { loaded.bySession[s] = p }
                if let i = p.paymentIntentId { loaded.byIntent[i] = p }
            }
        }
        let ids = Array(Set(lookups.compactMap(\.paymentId)))
        if !ids.isEmpty {
            add(try await db.raw("SELECT \(unsafeRaw: Payment.columns) FROM payments WHERE id IN (\(binds: ids))").all().map(Payment.init(row:)))
        }
        let sessions = Array(Set(lookups.filter { $0.paymentId.flatMap { loaded.byId[$0] } == nil }.compactMap(\.sessionId)))
        if !sessions.isEmpty {
            add(try await db.raw("SELECT \(unsafeRaw: Payment.columns) FROM payments WHERE checkout_session_id IN (\(binds: sessions))").all().map(Payment.init(row:)))
        }
        let intents = Array(Set(lookups.filter { $0.paymentId.flatMap { loaded.byId[$0] } == nil }.compactMap(\.paymentIntentId)))
        if !intents.isEmpty {
            add(try await db.raw("SELECT \(unsafeRaw: Payment.columns) FROM payments WHERE payment_intent_id IN (\(binds: intents))").all().map(Payment.init(row:)))
        }
        return loaded
    }
}
