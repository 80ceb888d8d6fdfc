import SQLKit
import TillCore

struct PaymentRepository: Sendable {
    /// Inserts a new `INITIATED` payment; `false` when the order (or user and plan) already has an open one of this
    /// method (the partial unique index decides).
    func insert(_ p: Payment, on db: any SQLDatabase) async throws -> Bool {
        try await db.raw(
            """
            INSERT INTO payments (id, kind, method, order_id, plan_id, user_id, amount, currency, status, created_at, updated_at)
            VALUES (\(bind: p.id), \(bind: p.kind.rawValue), \(bind: p.method.rawValue), \(bind: p.orderId), \(bind: p.planId),
                    \(bind: p.userId), \(bind: p.amount), \(bind: p.currency), 'INITIATED', \(bind: p.createdAt), \(bind: p.updatedAt))
            ON CONFLICT DO NOTHING RETURNING id
            """
        ).first() != nil
    }

    func find(id: String, on db: any SQLDatabase) async throws -> Payment? {
        try await db.raw("SELECT \(unsafeRaw: Payment.columns) FROM payments WHERE id = \(bind: id)").first().map(
            Payment.init(row:))
    }

    enum Key: String {
        case id
        case checkoutSessionId = "checkout_session_id"
        case paymentIntentId = "payment_intent_id"
    }

    /// The payments whose `key` is one of `values`, in one statement.
    func find(_ key: Key, in values: Set<String>, on db: any SQLDatabase) async throws -> [Payment] {
        guard !values.isEmpty else { return [] }
        return try await db.raw(
            "SELECT \(unsafeRaw: Payment.columns) FROM payments WHERE \(unsafeRaw: key.rawValue) IN (\(binds: Array(values)))"
        ).all().map(Payment.init(row:))
    }

    /// The open (initiated or failed-but-retryable) payment of this method for an order.
    func open(orderId: String, method: PaymentMethod, on db: any SQLDatabase) async throws -> Payment? {
        try await db.raw(
            """
            SELECT \(unsafeRaw: Payment.columns) FROM payments
            WHERE order_id = \(bind: orderId) AND method = \(bind: method.rawValue) AND kind = 'order'
              AND status IN (\(unsafeRaw: SQLList.of(\PaymentStatus.isPayable)))
            """
        ).first().map(Payment.init(row:))
    }

    func open(userId: String, planId: String, on db: any SQLDatabase) async throws -> Payment? {
        try await db.raw(
            """
            SELECT \(unsafeRaw: Payment.columns) FROM payments
            WHERE user_id = \(bind: userId) AND plan_id = \(bind: planId) AND method = 'checkout' AND kind = 'plan'
              AND status IN (\(unsafeRaw: SQLList.of(\PaymentStatus.isPayable)))
            """
        ).first().map(Payment.init(row:))
    }

    func forOrder(_ orderId: String, on db: any SQLDatabase) async throws -> [Payment] {
        try await db.raw(
            "SELECT \(unsafeRaw: Payment.columns) FROM payments WHERE order_id = \(bind: orderId) ORDER BY created_at DESC, id DESC"
        )
        .all().map(Payment.init(row:))
    }

    struct Filter: Sendable {
        var userId: String?
        var status: String?
        var orderId: String?
        var sessionId: String?
        var paymentIntentId: String?
        var subscriptionId: String?
    }

    func list(_ filter: Filter, page: PageRequest, on db: any SQLDatabase) async throws -> [Payment] {
        var query: SQLQueryString = "SELECT \(unsafeRaw: Payment.columns) FROM payments WHERE 1 = 1"
        if let v = filter.userId { query += " AND user_id = \(bind: v)" }
        if let v = filter.status { query += " AND status = \(bind: v)" }
        if let v = filter.orderId { query += " AND order_id = \(bind: v)" }
        if let v = filter.sessionId { query += " AND checkout_session_id = \(bind: v)" }
        if let v = filter.paymentIntentId { query += " AND payment_intent_id = \(bind: v)" }
        if let v = filter.subscriptionId { query += " AND subscription_id = \(bind: v)" }
        query += page.cursorClause(table: "payments")
        query += " ORDER BY created_at DESC, id DESC LIMIT \(literal: page.limit + 1)"
        return try await db.raw(query).all().map(Payment.init(row:))
    }

    /// What recording a session or intent on its payment did.
    enum Attached {
        /// The payment was cancelled, or its order is no longer pending: nothing recorded.
        case closed
        /// This call recorded it first: the request that answers 201.
        case first
        /// It was recorded already (a concurrent request with the same Idempotency-Key did).
        case again
    }

    /// Records what Stripe gave for a new session or intent, unless the payment or its order was cancelled while
    /// Stripe was being asked.
    func attachStripe(
        id: String, sessionId: String?, intentId: String?, url: String?, clientSecret: String?, expiresAt: Int?,
        now: Int, on db: any SQLDatabase
    ) async throws -> Attached {
        func update(onlyFirst: Bool) async throws -> Bool {
            let first: SQLQueryString =
                !onlyFirst
                ? "" : sessionId != nil ? " AND checkout_session_id IS NULL" : " AND payment_intent_id IS NULL"
            return try await db.raw(
                """
                UPDATE payments SET
                    checkout_session_id = COALESCE(\(bind: sessionId), checkout_session_id),
                    payment_intent_id = COALESCE(\(bind: intentId), payment_intent_id),
                    checkout_url = COALESCE(\(bind: url), checkout_url),
                    client_secret = COALESCE(\(bind: clientSecret), client_secret),
                    expires_at = COALESCE(\(bind: expiresAt), expires_at),
                    updated_at = \(bind: now)
                WHERE id = \(bind: id) AND status <> \(bind: PaymentStatus.canceled.rawValue)
                  AND (order_id IS NULL OR EXISTS (
                    SELECT 1 FROM orders WHERE orders.id = payments.order_id
                      AND orders.status = \(bind: OrderStatus.pending.rawValue)))\(first)
                RETURNING id
                """
            ).first() != nil
        }
        // One statement decides who was first, on both databases (PostgreSQL re-reads the row a concurrent update
        // changed); only a request that was not first runs the second.
        if try await update(onlyFirst: true) { return .first }
        return try await update(onlyFirst: false) ? .again : .closed
    }

    /// One payment's move, guarded by the state it was decided from.
    struct Transition: Sendable {
        let id: String
        let from: PaymentState
        let to: PaymentStatus
        let amountRefunded: Int
        let refundRequested: Int
    }

    /// Moves each payment from its `from` state to its new status if, and only if, it is still in that state, in one
    /// statement: the guard that makes each transition, and so each effect, happen once. Returns how many moved.
    func transition(_ moves: [Transition], now: Int, on db: any SQLDatabase) async throws -> Int {
        guard !moves.isEmpty else { return 0 }
        let rows: [SQLQueryString] = moves.map { m in
            "(\(bind: m.id), \(bind: m.from.status.rawValue), \(bind: m.from.amountRefunded), \(bind: m.from.refundRequested), \(bind: m.from.disputed ? 1 : 0), \(bind: m.to.rawValue), \(bind: m.amountRefunded), \(bind: m.refundRequested))"
        }
        // Guarded by everything the decision read: a refund asked for or a dispute flagged since then is a conflict,
        // and the decision is taken again.
        return try await db.raw(
            "WITH v (id, old_status, old_refunded, old_requested, old_disputed, new_status, new_refunded, new_requested) AS (VALUES "
                + rows.joined(separator: ", ")
                    + """
                    ) UPDATE payments SET status = v.new_status, amount_refunded = CAST(v.new_refunded AS BIGINT),
                        refund_requested = CAST(v.new_requested AS BIGINT), updated_at = \(bind: now),
                        succeeded_at = CASE WHEN v.new_status = 'SUCCEEDED' THEN COALESCE(payments.succeeded_at, \(bind: now))
                            ELSE payments.succeeded_at END
                    FROM v
                    WHERE payments.id = v.id AND payments.status = v.old_status
                      AND payments.amount_refunded = CAST(v.old_refunded AS BIGINT)
                      AND payments.refund_requested = CAST(v.old_requested AS BIGINT)
                      AND payments.disputed = CAST(v.old_disputed AS BIGINT)
                    RETURNING payments.id
                    """
        ).all().count
    }

    /// Keeps what Stripe told about each payment: the first PaymentIntent id, the latest customer email.
    func setDetails(_ details: [(id: String, paymentIntentId: String?, customerEmail: String?)], on db: any SQLDatabase)
        async throws
    {
        guard !details.isEmpty else { return }
        let rows: [SQLQueryString] = details.map { d in
            "(\(bind: d.id), \(bind: d.paymentIntentId ?? ""), \(bind: d.customerEmail ?? ""))"
        }
        try await db.raw(
            "WITH v (id, intent, email) AS (VALUES " + rows.joined(separator: ", ")
                + """
                ) UPDATE payments SET payment_intent_id = COALESCE(payments.payment_intent_id, NULLIF(v.intent, '')),
                    customer_email = COALESCE(NULLIF(v.email, ''), payments.customer_email)
                FROM v WHERE payments.id = v.id
                """
        ).run()
    }

    func recordFailure(id: String, code: String?, message: String?, on db: any SQLDatabase) async throws {
        try await db.raw(
            "UPDATE payments SET failure_code = \(bind: code), failure_message = \(bind: message) WHERE id = \(bind: id)"
        ).run()
    }

    /// The payments delivered their order or plan.
    func markFulfilled(ids: [String], on db: any SQLDatabase) async throws {
        guard !ids.isEmpty else { return }
        try await db.raw("UPDATE payments SET fulfilled = 1 WHERE id IN (\(binds: ids))").run()
    }

    func flagDispute(id: String, on db: any SQLDatabase) async throws {
        try await db.raw("UPDATE payments SET disputed = 1 WHERE id = \(bind: id)").run()
    }

    /// Reserves `amount` of what is left to refund; `false` when that would refund more than was paid.
    /// Returns the payment's refunded-or-requested total after this request (each request's own number, so two
    /// at once get two Stripe idempotency keys), or `nil` when it would be more than was paid.
    func requestRefund(id: String, amount: Int, now: Int, on db: any SQLDatabase) async throws -> Int? {
        try await db.raw(
            """
            UPDATE payments SET refund_requested = refund_requested + \(bind: amount), updated_at = \(bind: now)
            WHERE id = \(bind: id) AND status IN (\(unsafeRaw: SQLList.of(\PaymentStatus.isRefundable)))
              AND \(bind: amount) > 0 AND refund_requested + \(bind: amount) <= amount AND amount_refunded + \(bind: amount) <= amount
            RETURNING refund_requested
            """
        ).first(decodingColumn: "refund_requested", as: Int.self)
    }

    /// Claims a payment under review for its refund in full: from then on it cannot be accepted. `false` when it is
    /// no longer under review (accepted meanwhile).
    func claimReviewRefund(id: String, now: Int, on db: any SQLDatabase) async throws -> Bool {
        try await db.raw(
            """
            UPDATE payments SET refund_requested = amount, updated_at = \(bind: now)
            WHERE id = \(bind: id) AND status = \(bind: PaymentStatus.requiresReview.rawValue) RETURNING id
            """
        ).first() != nil
    }

    /// Lets an unfinished claim go (Stripe did not take the refund): the payment can be accepted again.
    func releaseReviewRefund(id: String, on db: any SQLDatabase) async throws {
        try await db.raw(
            """
            UPDATE payments SET refund_requested = 0
            WHERE id = \(bind: id) AND status = \(bind: PaymentStatus.requiresReview.rawValue)
            """
        ).run()
    }

    func cancelRefundRequest(id: String, amount: Int, on db: any SQLDatabase) async throws {
        try await db.raw(
            "UPDATE payments SET refund_requested = refund_requested - \(bind: amount) WHERE id = \(bind: id) AND refund_requested >= \(bind: amount)"
        ).run()
    }

    /// Marks payments whose money must go back in full (what they paid for cannot be delivered).
    func markNeedsRefund(ids: [String], on db: any SQLDatabase) async throws {
        guard !ids.isEmpty else { return }
        try await db.raw("UPDATE payments SET needs_refund = 1 WHERE id IN (\(binds: ids))").run()
    }

    /// Marks payments whose charge is to be read back after a refund failed. Marks only grow; a payment is marked
    /// while it has more than its reads have handled (`refund_reads_done`).
    func markRefundReads(ids: [String], on db: any SQLDatabase) async throws {
        guard !ids.isEmpty else { return }
        try await db.raw("UPDATE payments SET refund_reads = refund_reads + 1 WHERE id IN (\(binds: ids))").run()
    }

    /// A payment with the marks it has (`markRefundReads`).
    func refundReads(id: String, on db: any SQLDatabase) async throws -> (Payment, marks: Int)? {
        try await db.raw(
            "SELECT \(unsafeRaw: Payment.columns), refund_reads FROM payments WHERE id = \(bind: id)"
        ).first().map { (try Payment(row: $0), try $0.int("refund_reads")) }
    }

    /// Records that a read handled the marks it saw: a mark made since then (its own read follows) stays, and a read
    /// that saw fewer marks than another changes nothing.
    func clearRefundReads(id: String, marks: Int, on db: any SQLDatabase) async throws {
        try await db.raw(
            """
            UPDATE payments SET refund_reads_done = \(bind: marks)
            WHERE id = \(bind: id) AND refund_reads_done < \(bind: marks)
            """
        ).run()
    }

    /// Payments whose charge is still to be read back (their read was lost to a crash or to Stripe).
    func markedForRefundReads(limit: Int, on db: any SQLDatabase) async throws -> [String] {
        try await db.raw("SELECT id FROM payments WHERE refund_reads > refund_reads_done LIMIT \(literal: limit)")
            .all(decodingColumn: "id", as: String.self)
    }

    func clearNeedsRefund(id: String, on db: any SQLDatabase) async throws {
        try await db.raw("UPDATE payments SET needs_refund = 0, refund_requested = amount WHERE id = \(bind: id)").run()
    }

    func needingRefund(limit: Int, on db: any SQLDatabase) async throws -> [Payment] {
        try await db.raw(
            "SELECT \(unsafeRaw: Payment.columns) FROM payments WHERE needs_refund = 1 LIMIT \(literal: limit)"
        )
        .all().map(Payment.init(row:))
    }

    /// Live payments that should have heard from Stripe by now, least recently changed first, from past `after`
    /// (the last of the page before). A subscription's failed attempt is not one: it is a record of the past, and
    /// its invoice is the subscription's to follow.
    func stale(before cutoff: Int, now: Int, after: PageCursor?, limit: Int, on db: any SQLDatabase) async throws
        -> [Payment]
    {
        try await db.raw(
            """
            SELECT \(unsafeRaw: Payment.columns) FROM payments
            WHERE status IN (\(unsafeRaw: SQLList.of(\PaymentStatus.isLive))) AND kind <> 'subscription'
              AND ((expires_at IS NOT NULL AND expires_at < \(bind: now)) OR created_at < \(bind: cutoff))
              \(PageCursor.after(after))
            ORDER BY updated_at, id LIMIT \(literal: limit)
            """
        ).all().map(Payment.init(row:))
    }

    /// Another payment of the order that holds it (`PaymentStatus.holdsOrder`).
    func otherHoldingOrder(orderId: String, except id: String, on db: any SQLDatabase) async throws -> Bool {
        try await db.raw(
            """
            SELECT id FROM payments WHERE order_id = \(bind: orderId) AND id <> \(bind: id)
              AND status IN (\(unsafeRaw: SQLList.of(\PaymentStatus.holdsOrder)))
            LIMIT 1
            """
        ).first() != nil
    }

}
