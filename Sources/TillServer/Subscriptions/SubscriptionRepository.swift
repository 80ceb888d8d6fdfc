import SQLKit
import TillCore

struct SubscriptionRepository: Sendable {
    func insert(_ s: Subscription, on db: any SQLDatabase) async throws {
        try await db.raw(
            """
            INSERT INTO subscriptions (id, user_id, plan_id, status, created_at, updated_at)
            VALUES (\(bind: s.id), \(bind: s.userId), \(bind: s.planId), \(bind: s.status.rawValue),
                    \(bind: s.createdAt), \(bind: s.updatedAt))
            """
        ).run()
    }

    func find(id: String, on db: any SQLDatabase) async throws -> Subscription? {
        try await db.raw("SELECT \(unsafeRaw: Subscription.columns) FROM subscriptions WHERE id = \(bind: id)")
            .first().map(Subscription.init(row:))
    }

    /// The subscription, its row locked until the transaction ends (PostgreSQL; SQLite has one writer).
    func findForUpdate(id: String, kind: DatabaseKind, on db: any SQLDatabase) async throws -> Subscription? {
        let lock: SQLQueryString = kind == .postgres ? " FOR UPDATE" : ""
        return try await db.raw(
            "SELECT \(unsafeRaw: Subscription.columns) FROM subscriptions WHERE id = \(bind: id)" + lock
        ).first().map(Subscription.init(row:))
    }

    enum Key: String {
        case id
        case stripeSubscriptionId = "stripe_subscription_id"
        case checkoutSessionId = "checkout_session_id"
    }

    /// The id of the subscription whose `key` is `value`.
    func id(where key: Key, is value: String, on db: any SQLDatabase) async throws -> String? {
        try await db.raw("SELECT id FROM subscriptions WHERE \(unsafeRaw: key.rawValue) = \(bind: value)")
            .first(decodingColumn: "id", as: String.self)
    }

    /// The user's live subscription, or the incomplete one whose Checkout Session may still be paid.
    func current(userId: String, on db: any SQLDatabase) async throws -> Subscription? {
        try await db.raw(
            """
            SELECT \(unsafeRaw: Subscription.columns) FROM subscriptions
            WHERE user_id = \(bind: userId) AND status IN ('ACTIVE', 'PAST_DUE', 'INCOMPLETE')
            ORDER BY CASE WHEN status = 'INCOMPLETE' THEN 1 ELSE 0 END, created_at DESC LIMIT 1
            """
        ).first().map(Subscription.init(row:))
    }

    /// Writes the state the machine decided.
    func save(_ s: Subscription, now: Int, on db: any SQLDatabase) async throws {
        try await db.raw(
            """
            UPDATE subscriptions SET status = \(bind: s.status.rawValue),
                stripe_subscription_id = \(bind: s.stripeSubscriptionId),
                current_period_start = \(bind: s.currentPeriodStart), current_period_end = \(bind: s.currentPeriodEnd),
                cancel_at_period_end = \(bind: s.cancelAtPeriodEnd ? 1 : 0), canceled_at = \(bind: s.canceledAt),
                ended_at = \(bind: s.endedAt), last_event_created = \(bind: s.lastEventCreated),
                updated_at = \(bind: now)
            WHERE id = \(bind: s.id)
            """
        ).run()
    }

    /// Records the Checkout Session opened for a subscription still `INCOMPLETE`; `false` when it is not any more.
    func attachSession(id: String, sessionId: String, url: String?, expiresAt: Int?, now: Int, on db: any SQLDatabase)
        async throws -> Bool
    {
        try await db.raw(
            """
            UPDATE subscriptions SET checkout_session_id = \(bind: sessionId), checkout_url = \(bind: url),
                expires_at = \(bind: expiresAt), updated_at = \(bind: now)
            WHERE id = \(bind: id) AND status = 'INCOMPLETE' RETURNING id
            """
        ).first() != nil
    }

    struct Filter: Sendable {
        var userId: String?
        var status: String?
    }

    func list(_ filter: Filter, page: PageRequest, on db: any SQLDatabase) async throws -> [Subscription] {
        var query: SQLQueryString = "SELECT \(unsafeRaw: Subscription.columns) FROM subscriptions WHERE 1 = 1"
        if let v = filter.userId { query += " AND user_id = \(bind: v)" }
        if let v = filter.status { query += " AND status = \(bind: v)" }
        query += page.cursorClause(table: "subscriptions")
        query += " ORDER BY created_at DESC, id DESC LIMIT \(literal: page.limit + 1)"
        return try await db.raw(query).all().map(Subscription.init(row:))
    }

    /// Live subscriptions whose period ended before `cutoff` without Till hearing of the next one, and incomplete
    /// ones whose Checkout Session has expired by `now` (both in seconds).
    func stale(periodEndBefore cutoff: Int, now: Int, after: PageCursor?, limit: Int, on db: any SQLDatabase)
        async throws -> [Subscription]
    {
        try await db.raw(
            """
            SELECT \(unsafeRaw: Subscription.columns) FROM subscriptions
            WHERE ((status IN ('ACTIVE', 'PAST_DUE') AND current_period_end < \(bind: cutoff))
               OR (status = 'INCOMPLETE' AND expires_at < \(bind: now)))
              \(PageCursor.after(after))
            ORDER BY updated_at, id LIMIT \(literal: limit)
            """
        ).all().map(Subscription.init(row:))
    }

    /// The attempt key of an invoice's successful payment (a failed attempt's is Stripe's event id).
    static let paidAttempt = "paid"

    /// An invoice's payment, once per (invoice, attempt): its id when it is new (and, paid, its credits are due).
    func insertInvoicePayment(
        _ s: Subscription, invoiceId: String, attempt: String, status: PaymentStatus, amount: Int, currency: String,
        now: Int, on db: any SQLDatabase
    ) async throws -> String? {
        let id = IDs.make()
        let succeeded: Int? = status == .succeeded ? now : nil
        return try await db.raw(
            """
            INSERT INTO payments (id, kind, method, plan_id, user_id, subscription_id, invoice_id, invoice_attempt,
                amount, currency, status, fulfilled, created_at, updated_at, succeeded_at)
            VALUES (\(bind: id), 'subscription', 'invoice', \(bind: s.planId), \(bind: s.userId), \(bind: s.id),
                \(bind: invoiceId), \(bind: attempt), \(bind: amount), \(bind: currency),
                \(bind: status.rawValue), \(bind: status == .succeeded ? 1 : 0), \(bind: now), \(bind: now),
                \(bind: succeeded))
            ON CONFLICT DO NOTHING RETURNING id
            """
        ).first(decodingColumn: "id", as: String.self)
    }
}
