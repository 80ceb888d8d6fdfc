import SQLKit
import StripeAPI
import TillCore

/// The webhook inbox: every verified event, unique on Stripe's event id, stored before Stripe gets its 200.
struct WebhookEventRepository: Sendable {
    struct Row: Sendable, Encodable {
        let id: String
        let type: String
        let status: WebhookEventStatus
        let attempts: Int
        @Nullable var lastError: String?
        let receivedAt: String
        @Nullable var processedAt: String?

        init(row: any SQLRow) throws {
            id = try row.string("id")
            type = try row.string("type")
            status = try row.value("status")
            attempts = try row.int("attempts")
            lastError = try row.optionalString("last_error")
            receivedAt = Timestamps.rfc3339(try row.int("received_at"))
            processedAt = try row.optionalInt("processed_at").map(Timestamps.rfc3339)
        }
    }

    struct Claimed: Sendable {
        let id: String
        let type: String
        let payload: String
        let attempts: Int
    }

    struct New: Sendable {
        let id: String
        let type: String
        let payload: String
        /// `pending` for the processor, or the outcome of an event settled before it was stored.
        var status = WebhookEventStatus.pending
        /// The PaymentIntent an ignored refund or dispute waits for (`SettlementService.Verdict.waiting`).
        var waitsFor: String?
    }

    /// Stores many events in one statement; returns the ids that were new.
    func insert(_ events: [New], now: Int, on db: any SQLDatabase) async throws -> Set<String> {
        guard !events.isEmpty else { return [] }
        let rows: [SQLQueryString] = events.map {
            "(\(bind: $0.id), \(bind: $0.type), \(bind: $0.payload), \(bind: $0.status.rawValue), 0, \(bind: now), \(bind: $0.status == .pending ? nil : now), \(bind: $0.waitsFor))"
        }
        return Set(
            try await db.raw(
                "INSERT INTO webhook_events (id, type, payload, status, attempts, received_at, processed_at, waits_for) VALUES "
                    + rows.joined(separator: ", ") + " ON CONFLICT (id) DO NOTHING RETURNING id"
            ).all(decodingColumn: "id", as: String.self))
    }

    /// Which of `ids` are stored already.
    func existing(_ ids: [String], on db: any SQLDatabase) async throws -> Set<String> {
        guard !ids.isEmpty else { return [] }
        return Set(
            try await db.raw("SELECT id FROM webhook_events WHERE id IN (\(binds: ids))").all(
                decodingColumn: "id", as: String.self))
    }

    /// The WHERE of the partial index `webhook_events_queue` (migration 3), word for word: SQLite uses a partial
    /// index only for a query that contains its condition as written.
    static let queued: SQLQueryString = "status IN ('pending', 'processing', 'failed')"

    /// Leases up to `limit` events that are pending, or whose lease ran out (their processor died). On PostgreSQL,
    /// rows another instance is claiming at this moment are skipped, so instances share the work.
    func claim(limit: Int, leaseMillis: Int, now: Int, kind: DatabaseKind, on db: any SQLDatabase) async throws
        -> [Claimed]
    {
        let lock: SQLQueryString = kind == .postgres ? " FOR UPDATE SKIP LOCKED" : ""
        let rows = try await db.raw(
            """
            UPDATE webhook_events SET status = 'processing', lease_until = \(bind: now + leaseMillis), attempts = attempts + 1
            WHERE id IN (
                SELECT id FROM webhook_events
                WHERE \(Self.queued)
                  AND (status = 'pending' OR (status = 'processing' AND lease_until < \(bind: now)))
                ORDER BY received_at LIMIT \(literal: limit)\(lock)
            )
            RETURNING id, type, payload, attempts
            """
        ).all()
        return try rows.map {
            Claimed(
                id: try $0.string("id"), type: try $0.string("type"), payload: try $0.string("payload"),
                attempts: try $0.int("attempts"))
        }
    }

    func finish(
        id: String, status: WebhookEventStatus, error: String?, waitsFor: String? = nil, now: Int,
        on db: any SQLDatabase
    ) async throws {
        try await db.raw(
            """
            UPDATE webhook_events SET status = \(bind: status.rawValue), last_error = \(bind: error), lease_until = NULL,
                processed_at = \(bind: now), waits_for = \(bind: waitsFor)
            WHERE id = \(bind: id)
            """
        ).run()
    }

    /// Puts back in the queue the events that wait for a PaymentIntent a payment now has, of `intentIds`, or of any
    /// when nil (the reconciler's sweep for what a wake missed: a crash between a commit and its wake, an intent
    /// learned outside the applier). Returns how many.
    func wake(waitingFor intentIds: [String]? = nil, on db: any SQLDatabase) async throws -> Int {
        let (events, payments): (SQLQueryString, SQLQueryString)
        if let intentIds {
            guard !intentIds.isEmpty else { return 0 }
            (events, payments) = ("waits_for IN (\(binds: intentIds))", "payment_intent_id IN (\(binds: intentIds))")
        } else {
            (events, payments) = ("waits_for IS NOT NULL", "payment_intent_id IS NOT NULL")
        }
        return try await db.raw(
            """
            UPDATE webhook_events SET status = 'pending', waits_for = NULL, lease_until = NULL, processed_at = NULL,
                last_error = NULL
            WHERE \(events) AND waits_for IN (SELECT payment_intent_id FROM payments WHERE \(payments))
            RETURNING id
            """
        ).all().count
    }

    func finish(ids: [String], status: WebhookEventStatus, now: Int, on db: any SQLDatabase) async throws {
        guard !ids.isEmpty else { return }
        try await db.raw(
            """
            UPDATE webhook_events SET status = \(bind: status.rawValue), last_error = NULL, lease_until = NULL, processed_at = \(bind: now)
            WHERE id IN (\(binds: ids))
            """
        ).run()
    }

    /// Puts failed events (below the attempt limit) back in the queue, each after a pause that grows with its
    /// attempts: a second per attempt for the first nine (about 45 s in all, where an out-of-order event usually
    /// finds its success), then a minute more per attempt up to four minutes, then an hour.
    func retryFailed(maxAttempts: Int, now: Int, on db: any SQLDatabase) async throws -> Int {
        try await db.raw(
            """
            UPDATE webhook_events SET status = 'pending'
            WHERE \(Self.queued) AND status = 'failed' AND attempts < \(bind: maxAttempts) AND processed_at < \(bind: now) - (
                CASE WHEN attempts < 10 THEN attempts * 1000
                     WHEN attempts < 14 THEN (attempts - 9) * 60000
                     ELSE 3600000 END)
            RETURNING id
            """
        ).all().count
    }

    func replay(id: String, on db: any SQLDatabase) async throws -> Row? {
        try await db.raw(
            """
            UPDATE webhook_events SET status = 'pending', lease_until = NULL WHERE id = \(bind: id)
            RETURNING id, type, status, attempts, last_error, received_at, processed_at
            """
        ).first().map(Row.init(row:))
    }

    func list(status: WebhookEventStatus?, page: PageRequest, on db: any SQLDatabase) async throws -> [Row] {
        var query: SQLQueryString =
            "SELECT id, type, status, attempts, last_error, received_at, processed_at FROM webhook_events WHERE 1 = 1"
        if let status { query += " AND status = \(bind: status.rawValue)" }
        if let after = page.startingAfter {
            try await page.checkCursor(in: "webhook_events", on: db)
            query += " AND (received_at, id) < (SELECT received_at, id FROM webhook_events WHERE id = \(bind: after))"
        }
        query += " ORDER BY received_at DESC, id DESC LIMIT \(literal: page.limit + 1)"
        return try await db.raw(query).all().map(Row.init(row:))
    }

    func counts(on db: any SQLDatabase) async throws -> [WebhookEventStatus: Int] {
        var result: [WebhookEventStatus: Int] = [:]
        for row in try await db.raw("SELECT status, COUNT(*) AS n FROM webhook_events GROUP BY status").all() {
            result[try row.value("status")] = try row.int("n")
        }
        return result
    }
}
