import SQLKit

/// Stored first responses, per user and `Idempotency-Key`.
struct IdempotencyRepository: Sendable {
    struct Record: Sendable {
        let fingerprint: String
        let statusCode: Int
        let body: String
    }

    /// Claims the key inside the caller's transaction. A concurrent claim of the same key waits on the primary key
    /// until this transaction ends, then finds the row taken.
    func claim(userId: String, key: String, fingerprint: String, now: Int, on db: any SQLDatabase) async throws -> Bool
    {
        try await db.raw(
            """
            INSERT INTO idempotency_keys (user_id, idem_key, fingerprint, status_code, response_body, created_at)
            VALUES (\(bind: userId), \(bind: key), \(bind: fingerprint), 0, '', \(bind: now))
            ON CONFLICT (user_id, idem_key) DO NOTHING RETURNING idem_key
            """
        ).first() != nil
    }

    func complete(userId: String, key: String, statusCode: Int, body: String, on db: any SQLDatabase) async throws {
        try await db.raw(
            """
            UPDATE idempotency_keys SET status_code = \(bind: statusCode), response_body = \(bind: body)
            WHERE user_id = \(bind: userId) AND idem_key = \(bind: key)
            """
        ).run()
    }

    /// Stores a finished response outright (for outcomes that were rolled back, such as a lack of stock).
    func storeIfAbsent(
        userId: String, key: String, fingerprint: String, statusCode: Int, body: String, now: Int,
        on db: any SQLDatabase
    ) async throws {
        try await db.raw(
            """
            INSERT INTO idempotency_keys (user_id, idem_key, fingerprint, status_code, response_body, created_at)
            VALUES (\(bind: userId), \(bind: key), \(bind: fingerprint), \(bind: statusCode), \(bind: body), \(bind: now))
            ON CONFLICT (user_id, idem_key) DO NOTHING
            """
        ).run()
    }

    func find(userId: String, key: String, on db: any SQLDatabase) async throws -> Record? {
        guard
            let row = try await db.raw(
                """
                SELECT fingerprint, status_code, response_body FROM idempotency_keys
                WHERE user_id = \(bind: userId) AND idem_key = \(bind: key)
                """
            ).first()
        else { return nil }
        return Record(
            fingerprint: try row.string("fingerprint"), statusCode: try row.int("status_code"),
            body: try row.string("response_body"))
    }
}

extension IdempotencyRepository {
    /// Forgets keys older than `cutoff` (Stripe keeps its own for 24 hours; so does Till), so the table stays bounded.
    func deleteOlderThan(_ cutoff: Int, on db: any SQLDatabase) async throws {
        try await db.raw("DELETE FROM idempotency_keys WHERE created_at < \(bind: cutoff)").run()
    }
}
