import SQLKit
import TillCore

struct UserRepository: Sendable {
    /// Inserts the user; `false` when the email is taken (the unique key decides, not a prior read).
    func insert(_ user: User, on db: any SQLDatabase) async throws -> Bool {
        let row = try await db.raw(
            """
            INSERT INTO users (id, email, password_hash, role, plan_id, credit_balance, created_at)
            VALUES (\(bind: user.id), \(bind: user.email), \(bind: user.passwordHash), \(bind: user.role.rawValue),
                    \(bind: user.planId), \(bind: user.creditBalance), \(bind: user.createdAt))
            ON CONFLICT (email) DO NOTHING RETURNING id
            """
        ).first()
        return row != nil
    }

    /// Creates the admin, or makes an existing account with that email an admin with that password; the account's
    /// earlier tokens stop working (whoever held them did not necessarily know this password).
    func upsertAdmin(id: String, email: String, passwordHash: String, now: Int, on db: any SQLDatabase) async throws {
        try await db.raw(
            """
            INSERT INTO users (id, email, password_hash, role, credit_balance, created_at)
            VALUES (\(bind: id), \(bind: email), \(bind: passwordHash), 'admin', 0, \(bind: now))
            ON CONFLICT (email) DO UPDATE SET role = 'admin', password_hash = excluded.password_hash,
                tokens_valid_after = excluded.created_at
            """
        ).run()
    }

    /// Gives the user the plan and adds its credits (called once per successful plan payment).
    func grantPlan(userId: String, planId: String, on db: any SQLDatabase) async throws -> Bool {
        try await db.raw(
            """
            UPDATE users SET plan_id = \(bind: planId),
                credit_balance = credit_balance + (SELECT credits FROM plans WHERE id = \(bind: planId))
            WHERE id = \(bind: userId) RETURNING id
            """
        ).first() != nil
    }

    /// Adds the plan's credits (once per paid invoice of a subscription to it).
    func addCredits(userId: String, planId: String, on db: any SQLDatabase) async throws {
        try await db.raw(
            """
            UPDATE users SET credit_balance = credit_balance + (SELECT credits FROM plans WHERE id = \(bind: planId))
            WHERE id = \(bind: userId)
            """
        ).run()
    }

    func setPlan(userId: String, planId: String, on db: any SQLDatabase) async throws {
        try await db.raw("UPDATE users SET plan_id = \(bind: planId) WHERE id = \(bind: userId)").run()
    }

    /// Clears the user's plan if it is still `planId` (a plan granted since is kept).
    func clearPlan(userId: String, planId: String, on db: any SQLDatabase) async throws {
        try await db.raw(
            "UPDATE users SET plan_id = NULL WHERE id = \(bind: userId) AND plan_id = \(bind: planId)"
        ).run()
    }

    /// Records the user's Stripe Customer unless one is recorded already; answers the one recorded.
    func setStripeCustomer(userId: String, customerId: String, on db: any SQLDatabase) async throws -> String? {
        try await db.raw(
            """
            UPDATE users SET stripe_customer_id = COALESCE(stripe_customer_id, \(bind: customerId))
            WHERE id = \(bind: userId) RETURNING stripe_customer_id
            """
        ).first(decodingColumn: "stripe_customer_id", as: String?.self) ?? nil
    }

    func find(email: String, on db: any SQLDatabase) async throws -> User? {
        try await db.raw("SELECT \(unsafeRaw: User.columns) FROM users WHERE email = \(bind: email)")
            .first().map(User.init(row:))
    }

    func find(id: String, on db: any SQLDatabase) async throws -> User? {
        try await db.raw("SELECT \(unsafeRaw: User.columns) FROM users WHERE id = \(bind: id)")
            .first().map(User.init(row:))
    }
}
