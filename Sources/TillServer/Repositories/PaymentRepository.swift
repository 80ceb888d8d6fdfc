import SQLKit
import TillCore

struct PaymentRepository: Sendable {
    /// Inserts a new `INITIATED` payment; `false` when the order (or user and plan) already has an open one of this
    /// method (the partial unique index decides).
    func insert(_ p: Payment, on db: any SQLDatabase) async throws -> Bool {
        try await db.raw("""
            INSERT INTO payments (id, kind, method, order_id, plan_id, user_id, amount, currency, status, created_at, updated_at)
            VALUES (\(bind: p.id), \(bind: p.kind.rawValue), \(bind: p.method.rawValue), \(bind: p.orderId), \(bind: p.planId),
                    \(bind: p.userId), \(bind: p.amount), \(bind: p.currency), 'INITIATED', \(bind: p.createdAt), \(bind: p.updatedAt))
            ON CONFLICT DO NOTHING RETURNING id
            """).first() != nil
    }

    func find(id: String, on db: any SQLDatabase) async throws -> Payment? {
        try await db.raw("SELECT \(unsafeRaw: Payment.columns) FROM payments WHERE id = \(bind: id)").first().map(Payment.init(row:))
    }

    func find(sessionId: String, on db: any SQLDatabase) async throws -> Payment? {
        try await db.raw("SELECT \(unsafeRaw: Payment.columns) FROM payments WHERE checkout_session_id = \(bind: sessionId)")
            .first().map(Payment.init(row:))
    }

    func find(paymentIntentId: String, on db: any SQLDatabase) async throws -> Payment? {
        try await db.raw("SELECT \(unsafeRaw: Payment.columns) FROM payments WHERE payment_intent_id = \(bind: paymentIntentId)")
            .first().map(Payment.init(row:))
    }

    /// The open (initiated or failed-but-retryable) payment of this method for an order.
    func open(orderId: String, method: PaymentMethod, on db: any SQLDatabase) async throws -> Payment? {
        try await db.raw("""
            SELECT \(unsafeRaw: Payment.columns) FROM payments
            WHERE order_id = \(bind: orderId) AND method = \(bind: method.rawValue) AND kind = 'order' AND status IN ('INITIATED', 'FAILED')
            """).first().map(Payment.init(row:))
    }

    func open(userId: String, planId: String, on db: any SQLDatabase) async throws -> Payment? {
        try await db.raw("""
            SELECT \(unsafeRaw: Payment.columns) FROM payments
            WHERE user_id = \(bind: userId) AND plan_id = \(bind: planId) AND method = 'checkout' AND kind = 'plan'
              AND status IN ('INITIATED', 'FAILED')
            """).first().map(Payment.init(row:))
    }

    func forOrder(_ orderId: String, on db: any SQLDatabase) async throws -> [Payment] {
        try await db.raw("SELECT \(unsafeRaw: Payment.columns) FROM payments WHERE order_id = \(bind: orderId) ORDER BY created_at DESC, id DESC")
            .all().map(Payment.init(row:))
    }

    struct Filter: Sendable {
        var userId: String?
        var status: String?
        var orderId: String?
        var sessionId: String?
        var paymentIntentId: String?
    }

    func list(_ filter: Filter, page: PageRequest, on db: any SQLDatabase) async throws -> [Payment] {
        var query: SQLQueryString = "SELECT \(unsafeRaw: Payment.columns) FROM payments WHERE 1 = 1"
        if let v = filter.userId { query += " AND user_id = \(bind: v)" }
        if let v = filter.status { query += " AND status = \(bind: v)" }
        if let v = filter.orderId { query += " AND order_id = \(bind: v)" }
        if let v = filter.sessionId { query += " AND checkout_session_id = \(bind: v)" }
        if let v = filter.paymentIntentId { query += " AND payment_intent_id = \(bind: v)" }
        query += page.cursorClause(table: "payments")
        query += " ORDER BY created_at DESC, id DESC LIMIT \(literal: page.limit + 1)"
        return try await db.raw(query).all().map(Payment.init(row:))
    }

    /// Records what Stripe gave for a new session or intent.
    func attachStripe(id: String, sessionId: String?, intentId: String?, url: String?, clientSecret: String?, expiresAt: Int?, now: Int, on db: any SQLDatabase) async throws {
        try await db.raw("""
            UPDATE payments SET
                checkout_session_id = COALESCE(\(bind: sessionId), checkout_session_id),
                payment_intent_id = COALESCE(\(bind: intentId), payment_intent_id),
                checkout_url = COALESCE(\(bind: url), checkout_url),
                client_secret = COALESCE(\(bind: clientSecret), client_secret),
                expires_at = COALESCE(\(bind: expiresAt), expires_at),
                updated_at = \(bind: now)
            WHERE id = \(bind: id)
            """).run()
    }

    /// Moves the payment from `from` to `to` if, and only if, it is still in `from`: the guard that makes each
    /// transition, and so each effect, happen once.
    func transition(id: String, from: PaymentState, to: PaymentStatus, amountRefunded: Int?, now: Int, on db: any SQLDatabase) async throws -> Bool {
        let succeededAt: Int? = to == .succeeded ? now : nil
        return try await db.raw("""
            UPDATE payments SET status = \(bind: to.rawValue), updated_at = \(bind: now),
                amount_refunded = COALESCE(\(bind: amountRefunded), amount_refunded),
                succeeded_at = COALESCE(succeeded_at, \(bind: succeededAt))
            WHERE id = \(bind: id) AND status = \(bind: from.status.rawValue) AND amount_refunded = \(bind: from.amountRefunded)
            RETURNING id
            """).first() != nil
    }

    func setDetails(id: String, paymentIntentId: String?, customerEmail: String?, on db: any SQLDatabase) async throws {
        try await db.raw("""
            UPDATE payments SET payment_intent_id = COALESCE(payment_intent_id, \(bind: paymentIntentId)),
                customer_email = COALESCE(\(bind: customerEmail), customer_email)
            WHERE id = \(bind: id)
            """).run()
    }

    func recordFailure(id: String, code: String?, message: String?, on db: any SQLDatabase) async throws {
        try await db.raw("UPDATE payments SET failure_code = \(bind: code), failure_message = \(bind: message) WHERE id = \(bind: id)").run()
    }

    func markFulfilled(id: String, on db: any SQLDatabase) async throws {
        try await db.raw("UPDATE payments SET fulfilled = 1 WHERE id = \(bind: id)").run()
    }

    func flagDispute(id: String, on db: any SQLDatabase) async throws {
        try await db.raw("UPDATE payments SET disputed = 1 WHERE id = \(bind: id)").run()
    }

    /// Reserves `amount` of what is left to refund; `false` when that would refund more than was paid.
    func requestRefund(id: String, amount: Int, now: Int, on db: any SQLDatabase) async throws -> Bool {
        try await db.raw("""
            UPDATE payments SET refund_requested = refund_requested + \(bind: amount), updated_at = \(bind: now)
            WHERE id = \(bind: id) AND status IN ('SUCCEEDED', 'PARTIALLY_REFUNDED')
              AND \(bind: amount) > 0 AND refund_requested + \(bind: amount) <= amount AND amount_refunded + \(bind: amount) <= amount
            RETURNING id
            """).first() != nil
    }

    func cancelRefundRequest(id: String, amount: Int, on db: any SQLDatabase) async throws {
        try await db.raw("UPDATE payments SET refund_requested = refund_requested - \(bind: amount) WHERE id = \(bind: id) AND refund_requested >= \(bind: amount)").run()
    }

    /// Marks a payment whose money must go back in full (its order cannot be fulfilled).
    func markNeedsRefund(id: String, on db: any SQLDatabase) async throws {
        try await db.raw("UPDATE payments SET needs_refund = 1 WHERE id = \(bind: id)").run()
    }

    func clearNeedsRefund(id: String, on db: any SQLDatabase) async throws {
        try await db.raw("UPDATE payments SET needs_refund = 0, refund_requested = amount WHERE id = \(bind: id)").run()
    }

    func needingRefund(limit: Int, on db: any SQLDatabase) async throws -> [Payment] {
        try await db.raw("SELECT \(unsafeRaw: Payment.columns) FROM payments WHERE needs_refund = 1 LIMIT \(literal: limit)")
            .all().map(Payment.init(row:))
    }

    /// Live payments that should have heard from Stripe by now.
    func stale(before cutoff: Int, now: Int, limit: Int, on db: any SQLDatabase) async throws -> [Payment] {
        try await db.raw("""
            SELECT \(unsafeRaw: Payment.columns) FROM payments
            WHERE status IN ('INITIATED', 'PROCESSING', 'FAILED')
              AND ((expires_at IS NOT NULL AND expires_at < \(bind: now)) OR created_at < \(bind: cutoff))
            ORDER BY updated_at LIMIT \(literal: limit)
            """).all().map(Payment.init(row:))
    }

    /// Another payment of the order that succeeded or may still succeed.
    func otherLiveOrPaid(orderId: String, except id: String, on db: any SQLDatabase) async throws -> Bool {
        try await db.raw("""
            SELECT id FROM payments WHERE order_id = \(bind: orderId) AND id <> \(bind: id)
              AND status IN ('INITIATED', 'PROCESSING', 'SUCCEEDED', 'PARTIALLY_REFUNDED', 'REFUNDED', 'REQUIRES_REVIEW')
            LIMIT 1
            """).first() != nil
    }

    /// Whether a payment of the order holds money under review.
    func underReview(orderId: String, on db: any SQLDatabase) async throws -> Bool {
        try await db.raw("SELECT id FROM payments WHERE order_id = \(bind: orderId) AND status = 'REQUIRES_REVIEW' LIMIT 1")
            .first() != nil
    }
}
