import Logging
import SQLKit
import TillCore

/// The schema as an ordered list of steps; each runs once, recorded in `till_migrations`.
/// The SQL is the common ground of SQLite and PostgreSQL: TEXT ids, BIGINT money and epoch-millisecond times.
/// Constraints guard the invariants (stock and balances never negative, one user per email).
@_spi(Bench) public enum Migrations {
    struct Migration: Sendable {
        let version: Int
        let name: String
        let statements: [String]
        /// What SQLite runs instead, where it cannot run `statements` (it cannot alter a table's constraints).
        var sqlite: [String]? = nil
        /// A step SQL cannot express on both databases, run after the statements in the same transaction.
        var code: (@Sendable (any SQLDatabase, DatabaseKind, Logger) async throws -> Void)? = nil

        func statements(for kind: DatabaseKind) -> [String] {
            kind == .sqlite ? sqlite ?? statements : statements
        }
    }

    /// What a payment is for: an order, a plan, or an invoice of a subscription.
    static let paymentSubject = """
        CHECK ((kind = 'order' AND order_id IS NOT NULL) OR (kind = 'plan' AND plan_id IS NOT NULL)
            OR (kind = 'subscription' AND subscription_id IS NOT NULL AND invoice_id IS NOT NULL))
        """

    /// The payments table from version 6 on, for SQLite's copy.
    static let paymentsV6 = """
        CREATE TABLE payments_v6 (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('order', 'plan', 'subscription')),
            method TEXT NOT NULL CHECK (method IN ('checkout', 'intent', 'invoice')),
            order_id TEXT REFERENCES orders (id),
            plan_id TEXT REFERENCES plans (id),
            user_id TEXT NOT NULL REFERENCES users (id),
            checkout_session_id TEXT UNIQUE,
            payment_intent_id TEXT UNIQUE,
            checkout_url TEXT,
            client_secret TEXT,
            amount BIGINT NOT NULL CHECK (amount > 0),
            currency TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('INITIATED', 'PROCESSING', 'SUCCEEDED', 'PARTIALLY_REFUNDED',
                'REFUNDED', 'FAILED', 'CANCELED', 'REQUIRES_REVIEW')),
            amount_refunded BIGINT NOT NULL DEFAULT 0 CHECK (amount_refunded >= 0 AND amount_refunded <= amount),
            refund_requested BIGINT NOT NULL DEFAULT 0 CHECK (refund_requested >= 0 AND refund_requested <= amount),
            needs_refund BIGINT NOT NULL DEFAULT 0,
            disputed BIGINT NOT NULL DEFAULT 0,
            fulfilled BIGINT NOT NULL DEFAULT 0,
            failure_code TEXT,
            failure_message TEXT,
            customer_email TEXT,
            expires_at BIGINT,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL,
            succeeded_at BIGINT,
            subscription_id TEXT REFERENCES subscriptions (id),
            invoice_id TEXT,
            invoice_attempt TEXT,
        """ + paymentSubject + ")"

    static let paymentColumnsV5 = """
        id, kind, method, order_id, plan_id, user_id, checkout_session_id, payment_intent_id, checkout_url, client_secret,
        amount, currency, status, amount_refunded, refund_requested, needs_refund, disputed, fulfilled, failure_code,
        failure_message, customer_email, expires_at, created_at, updated_at, succeeded_at
        """

    /// Version 6's statements after the payments table has its new columns and constraints.
    static let subscriptionIndexes = [
        "CREATE UNIQUE INDEX payments_invoice_attempt ON payments (invoice_id, invoice_attempt) WHERE invoice_id IS NOT NULL",
        "CREATE INDEX payments_subscription ON payments (subscription_id, created_at) WHERE subscription_id IS NOT NULL",
    ]

    static let all: [Migration] = [
        Migration(
            version: 1, name: "users, catalog, orders, idempotency keys",
            statements: [
                """
                CREATE TABLE users (
                    id TEXT PRIMARY KEY,
                    email TEXT NOT NULL UNIQUE,
                    password_hash TEXT NOT NULL,
                    role TEXT NOT NULL CHECK (role IN ('customer', 'admin')),
                    plan_id TEXT,
                    credit_balance BIGINT NOT NULL DEFAULT 0 CHECK (credit_balance >= 0),
                    created_at BIGINT NOT NULL
                )
                """,
                """
                CREATE TABLE products (
                    id TEXT PRIMARY KEY,
                    name TEXT NOT NULL,
                    description TEXT,
                    unit_amount BIGINT NOT NULL CHECK (unit_amount > 0),
                    currency TEXT NOT NULL,
                    inventory BIGINT NOT NULL CHECK (inventory >= 0),
                    active BIGINT NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL
                )
                """,
                "CREATE INDEX products_created ON products (created_at, id)",
                """
                CREATE TABLE plans (
                    id TEXT PRIMARY KEY,
                    name TEXT NOT NULL,
                    unit_amount BIGINT NOT NULL CHECK (unit_amount > 0),
                    currency TEXT NOT NULL,
                    credits BIGINT NOT NULL CHECK (credits > 0),
                    stripe_price_id TEXT,
                    active BIGINT NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
                    created_at BIGINT NOT NULL
                )
                """,
                "CREATE INDEX plans_created ON plans (created_at, id)",
                """
                CREATE TABLE orders (
                    id TEXT PRIMARY KEY,
                    user_id TEXT NOT NULL REFERENCES users (id),
                    status TEXT NOT NULL
                        CHECK (status IN ('PENDING', 'PAID', 'PARTIALLY_REFUNDED', 'REFUNDED', 'CANCELLED')),
                    amount BIGINT NOT NULL CHECK (amount > 0),
                    currency TEXT NOT NULL,
                    amount_refunded BIGINT NOT NULL DEFAULT 0 CHECK (amount_refunded >= 0 AND amount_refunded <= amount),
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL,
                    paid_at BIGINT,
                    cancelled_at BIGINT
                )
                """,
                "CREATE INDEX orders_user_created ON orders (user_id, created_at, id)",
                "CREATE INDEX orders_created ON orders (created_at, id)",
                "CREATE INDEX orders_status_created ON orders (status, created_at)",
                """
                CREATE TABLE order_items (
                    order_id TEXT NOT NULL REFERENCES orders (id),
                    position BIGINT NOT NULL,
                    product_id TEXT NOT NULL REFERENCES products (id),
                    name TEXT NOT NULL,
                    quantity BIGINT NOT NULL CHECK (quantity > 0),
                    unit_amount BIGINT NOT NULL CHECK (unit_amount > 0),
                    PRIMARY KEY (order_id, position)
                )
                """,
                """
                CREATE TABLE idempotency_keys (
                    user_id TEXT NOT NULL,
                    idem_key TEXT NOT NULL,
                    fingerprint TEXT NOT NULL,
                    status_code BIGINT NOT NULL,
                    response_body TEXT NOT NULL,
                    created_at BIGINT NOT NULL,
                    PRIMARY KEY (user_id, idem_key)
                )
                """,
            ]),
        Migration(
            version: 2, name: "payments, webhook inbox, settings",
            statements: [
                "CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
                """
                CREATE TABLE payments (
                    id TEXT PRIMARY KEY,
                    kind TEXT NOT NULL CHECK (kind IN ('order', 'plan')),
                    method TEXT NOT NULL CHECK (method IN ('checkout', 'intent')),
                    order_id TEXT REFERENCES orders (id),
                    plan_id TEXT REFERENCES plans (id),
                    user_id TEXT NOT NULL REFERENCES users (id),
                    checkout_session_id TEXT UNIQUE,
                    payment_intent_id TEXT UNIQUE,
                    checkout_url TEXT,
                    client_secret TEXT,
                    amount BIGINT NOT NULL CHECK (amount > 0),
                    currency TEXT NOT NULL,
                    status TEXT NOT NULL CHECK (status IN ('INITIATED', 'PROCESSING', 'SUCCEEDED', 'PARTIALLY_REFUNDED',
                        'REFUNDED', 'FAILED', 'CANCELED', 'REQUIRES_REVIEW')),
                    amount_refunded BIGINT NOT NULL DEFAULT 0 CHECK (amount_refunded >= 0 AND amount_refunded <= amount),
                    refund_requested BIGINT NOT NULL DEFAULT 0 CHECK (refund_requested >= 0 AND refund_requested <= amount),
                    needs_refund BIGINT NOT NULL DEFAULT 0,
                    disputed BIGINT NOT NULL DEFAULT 0,
                    fulfilled BIGINT NOT NULL DEFAULT 0,
                    failure_code TEXT,
                    failure_message TEXT,
                    customer_email TEXT,
                    expires_at BIGINT,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL,
                    succeeded_at BIGINT,
                    CHECK ((kind = 'order' AND order_id IS NOT NULL) OR (kind = 'plan' AND plan_id IS NOT NULL))
                )
                """,
                "CREATE INDEX payments_order ON payments (order_id, created_at)",
                "CREATE INDEX payments_user ON payments (user_id, created_at, id)",
                "CREATE INDEX payments_created ON payments (created_at, id)",
                "CREATE INDEX payments_status ON payments (status, updated_at)",
                // One payable session or intent per order (or per user and plan) at a time: a double click or a
                // retried request finds the open one instead of making a second.
                """
                CREATE UNIQUE INDEX payments_one_open_order ON payments (order_id, method)
                WHERE kind = 'order' AND status IN ('INITIATED', 'FAILED')
                """,
                """
                CREATE UNIQUE INDEX payments_one_open_plan ON payments (user_id, plan_id, method)
                WHERE kind = 'plan' AND status IN ('INITIATED', 'FAILED')
                """,
                """
                CREATE TABLE webhook_events (
                    id TEXT PRIMARY KEY,
                    type TEXT NOT NULL,
                    payload TEXT NOT NULL,
                    status TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'processed', 'ignored', 'failed')),
                    attempts BIGINT NOT NULL DEFAULT 0,
                    lease_until BIGINT,
                    last_error TEXT,
                    received_at BIGINT NOT NULL,
                    processed_at BIGINT
                )
                """,
                "CREATE INDEX webhook_events_status ON webhook_events (status, received_at)",
            ]),
        // Settling a payment used to move entries in three status indexes, each a random page to write. These
        // partial indexes hold only the rows their queries look for (pending orders, live payments, queued
        // events), so a settled row leaves them and is written to none.
        Migration(
            version: 3, name: "partial status indexes",
            statements: [
                "DROP INDEX orders_status_created",
                "CREATE INDEX orders_pending ON orders (created_at) WHERE status = 'PENDING'",
                "DROP INDEX payments_status",
                "CREATE INDEX payments_live ON payments (updated_at) WHERE status IN ('INITIATED', 'PROCESSING', 'FAILED')",
                "CREATE INDEX payments_needing_refund ON payments (id) WHERE needs_refund = 1",
                "DROP INDEX webhook_events_status",
                "CREATE INDEX webhook_events_queue ON webhook_events (received_at) WHERE status IN ('pending', 'processing', 'failed')",
                "CREATE INDEX webhook_events_received ON webhook_events (received_at, id)",
            ]),
        // Idempotency keys are forgotten after 24 hours (Stripe's window) by the reconciler.
        Migration(
            version: 4, name: "idempotency keys expire",
            statements: ["CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at)"]),
        // The admin console: orders by status newest first (its search, and the dashboard's counts read from the
        // index alone), and the money paid in a window (the index covers every column the sums read). The status
        // index costs a settlement one more index entry moved, the price of a dashboard that does not scan orders.
        Migration(
            version: 5, name: "admin console indexes",
            statements: [
                "CREATE INDEX orders_status ON orders (status, created_at, id)",
                "CREATE INDEX payments_succeeded ON payments (succeeded_at, currency, amount, amount_refunded)",
            ]),
        // Subscriptions (API v1.1). A paid invoice is a payment keyed by (invoice, 'paid'), a failed attempt by
        // (invoice, its event's id): the unique index is what makes each one, and its credits, happen once.
        Migration(
            version: 6, name: "subscriptions",
            statements: subscriptionTables + [
                // PostgreSQL named the old checks itself (payments_kind_check, payments_method_check, and a
                // numbered payments_check for what a payment is for): they are found by what they check.
                """
                DO $$ DECLARE c text; BEGIN
                    FOR c IN SELECT conname FROM pg_constraint
                        WHERE conrelid = 'payments'::regclass AND contype = 'c'
                          AND (pg_get_constraintdef(oid) LIKE '%kind%' OR pg_get_constraintdef(oid) LIKE '%method%')
                    LOOP
                        EXECUTE format('ALTER TABLE payments DROP CONSTRAINT %I', c);
                    END LOOP;
                END $$
                """,
                "ALTER TABLE payments ADD COLUMN subscription_id TEXT REFERENCES subscriptions (id)",
                "ALTER TABLE payments ADD COLUMN invoice_id TEXT",
                "ALTER TABLE payments ADD COLUMN invoice_attempt TEXT",
                "ALTER TABLE payments ADD CONSTRAINT payments_kind_check CHECK (kind IN ('order', 'plan', 'subscription'))",
                "ALTER TABLE payments ADD CONSTRAINT payments_method_check CHECK (method IN ('checkout', 'intent', 'invoice'))",
                "ALTER TABLE payments ADD CONSTRAINT payments_subject " + paymentSubject,
            ] + subscriptionIndexes,
            sqlite: subscriptionTables + [
                paymentsV6,
                "INSERT INTO payments_v6 (\(paymentColumnsV5)) SELECT \(paymentColumnsV5) FROM payments",
                "DROP TABLE payments",
                "ALTER TABLE payments_v6 RENAME TO payments",
                "CREATE INDEX payments_order ON payments (order_id, created_at)",
                "CREATE INDEX payments_user ON payments (user_id, created_at, id)",
                "CREATE INDEX payments_created ON payments (created_at, id)",
                """
                CREATE UNIQUE INDEX payments_one_open_order ON payments (order_id, method)
                WHERE kind = 'order' AND status IN ('INITIATED', 'FAILED')
                """,
                """
                CREATE UNIQUE INDEX payments_one_open_plan ON payments (user_id, plan_id, method)
                WHERE kind = 'plan' AND status IN ('INITIATED', 'FAILED')
                """,
                "CREATE INDEX payments_live ON payments (updated_at) WHERE status IN ('INITIATED', 'PROCESSING', 'FAILED')",
                "CREATE INDEX payments_needing_refund ON payments (id) WHERE needs_refund = 1",
                "CREATE INDEX payments_succeeded ON payments (succeeded_at, currency, amount, amount_refunded)",
            ] + subscriptionIndexes),
        // The dashboard's orders by status, kept by triggers instead of counted: counting 1,000,000 orders took
        // 79 ms on SQLite and 148 ms on PostgreSQL. SQLite (one writer) keeps the counts themselves. PostgreSQL
        // appends each statement's changes to order_status_deltas, which no two transactions contend for, and the
        // reconciler folds them into the counts; a count is the sum of both. The triggers are made before the
        // counts are seeded, in the same transaction, so no order is missed or counted twice.
        Migration(
            version: 7, name: "order counts by status",
            statements: orderCountTables + [
                """
                CREATE FUNCTION till_order_status_deltas() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF TG_OP = 'INSERT' THEN
                        INSERT INTO order_status_deltas (status, delta)
                        SELECT status, COUNT(*) FROM new_orders GROUP BY status;
                    ELSIF TG_OP = 'DELETE' THEN
                        INSERT INTO order_status_deltas (status, delta)
                        SELECT status, -COUNT(*) FROM old_orders GROUP BY status;
                    ELSE
                        INSERT INTO order_status_deltas (status, delta)
                        SELECT status, SUM(delta) FROM (
                            SELECT status, 1 AS delta FROM new_orders
                            UNION ALL SELECT status, -1 FROM old_orders) changes
                        GROUP BY status HAVING SUM(delta) <> 0;
                    END IF;
                    RETURN NULL;
                END $$
                """,
                """
                CREATE TRIGGER orders_counted_insert AFTER INSERT ON orders REFERENCING NEW TABLE AS new_orders
                FOR EACH STATEMENT EXECUTE FUNCTION till_order_status_deltas()
                """,
                """
                CREATE TRIGGER orders_counted_update AFTER UPDATE ON orders
                REFERENCING OLD TABLE AS old_orders NEW TABLE AS new_orders
                FOR EACH STATEMENT EXECUTE FUNCTION till_order_status_deltas()
                """,
                """
                CREATE TRIGGER orders_counted_delete AFTER DELETE ON orders REFERENCING OLD TABLE AS old_orders
                FOR EACH STATEMENT EXECUTE FUNCTION till_order_status_deltas()
                """,
            ] + seedOrderCounts,
            sqlite: orderCountTables + [
                """
                CREATE TRIGGER orders_counted_insert AFTER INSERT ON orders BEGIN
                    UPDATE order_status_counts SET n = n + 1 WHERE status = NEW.status;
                END
                """,
                """
                CREATE TRIGGER orders_counted_update AFTER UPDATE OF status ON orders WHEN OLD.status <> NEW.status BEGIN
                    UPDATE order_status_counts SET n = n - 1 WHERE status = OLD.status;
                    UPDATE order_status_counts SET n = n + 1 WHERE status = NEW.status;
                END
                """,
                """
                CREATE TRIGGER orders_counted_delete AFTER DELETE ON orders BEGIN
                    UPDATE order_status_counts SET n = n - 1 WHERE status = OLD.status;
                END
                """,
            ] + seedOrderCounts),
        // An account made an admin, or whose password the operator set, refuses the tokens issued before.
        Migration(
            version: 8, name: "tokens valid after",
            statements: ["ALTER TABLE users ADD COLUMN tokens_valid_after BIGINT NOT NULL DEFAULT 0"]),
        // Emails are kept in Unicode's composed form (`Validation.normalizedEmail`): accounts stored before in
        // another form are rewritten, so that they can still sign in.
        Migration(version: 9, name: "emails in NFC", statements: [], code: normalizeEmails),
        // A refund or dispute of a PaymentIntent no payment has yet waits for it, stored ignored; the index holds only
        // those, so a batch that teaches payments their intents finds what waited for them without a scan.
        Migration(
            version: 10, name: "events waiting for a payment intent",
            statements: [
                "ALTER TABLE webhook_events ADD COLUMN waits_for TEXT",
                "CREATE INDEX webhook_events_waiting ON webhook_events (waits_for) WHERE waits_for IS NOT NULL",
            ]),
        // A payment whose refund failed is marked until its charge has been read back; the reconciler finds the
        // marked ones. A database migrated for a while on a build whose version 10 added the column has it already.
        Migration(version: 11, name: "refunds to read back", statements: [], code: addRefundReads),
        // Marks only ever grow, and a read records the marks it handled: a read that stalled cannot clear a mark made
        // after it (a count cleared to zero and marked again would look the same). Counts an earlier build drove
        // below zero start again from zero.
        Migration(
            version: 12, name: "refund reads handled",
            statements: [
                "ALTER TABLE payments ADD COLUMN refund_reads_done BIGINT NOT NULL DEFAULT 0",
                "UPDATE payments SET refund_reads = 0 WHERE refund_reads < 0",
                "DROP INDEX payments_refund_reads",
                "CREATE INDEX payments_refund_reads ON payments (id) WHERE refund_reads > refund_reads_done",
            ]),
    ]

    /// Rewrites every email not in NFC. One whose NFC form another account already has is left as it is (and
    /// logged): two accounts are never merged.
    static func addRefundReads(_ db: any SQLDatabase, _ kind: DatabaseKind, _ logger: Logger) async throws {
        let present =
            kind == .postgres
            ? try await db.raw(
                """
                SELECT 1 FROM information_schema.columns
                WHERE table_schema = current_schema() AND table_name = 'payments' AND column_name = 'refund_reads'
                """
            ).first() != nil
            : try await db.raw("SELECT 1 FROM pragma_table_info('payments') WHERE name = 'refund_reads'").first() != nil
        if !present {
            try await db.raw("ALTER TABLE payments ADD COLUMN refund_reads BIGINT NOT NULL DEFAULT 0").run()
        }
        try await db.raw("CREATE INDEX IF NOT EXISTS payments_refund_reads ON payments (id) WHERE refund_reads > 0")
            .run()
    }

    static func normalizeEmails(_ db: any SQLDatabase, _ kind: DatabaseKind, _ logger: Logger) async throws {
        // Only emails with a character beyond ASCII can be in another form.
        let nonASCII: SQLQueryString =
            kind == .postgres ? "length(email) <> octet_length(email)" : "length(email) <> length(CAST(email AS BLOB))"
        let rows = try await db.raw("SELECT id, email FROM users WHERE " + nonASCII).all()
        for row in rows {
            let id = try row.string("id")
            let email = try row.string("email")
            let normalized = Validation.normalizedEmail(email)
            // Bytes, not Swift's `==`, which already holds canonically equivalent strings equal.
            guard !normalized.utf8.elementsEqual(email.utf8) else { continue }
            let taken = try await db.raw("SELECT id FROM users WHERE email = \(bind: normalized)").first()
            guard taken == nil else {
                logger.warning(
                    "two accounts differ only in their email's Unicode form; this one keeps its old form",
                    metadata: ["user.id": "\(id)"])
                continue
            }
            try await db.raw("UPDATE users SET email = \(bind: normalized) WHERE id = \(bind: id)").run()
        }
    }

    static let orderCountTables = [
        "CREATE TABLE order_status_counts (status TEXT PRIMARY KEY, n BIGINT NOT NULL)",
        "CREATE TABLE order_status_deltas (status TEXT NOT NULL, delta BIGINT NOT NULL)",
    ]

    /// One row per status (the orders table's CHECK allows no other), with the orders there are.
    static let seedOrderCounts = [
        "INSERT INTO order_status_counts (status, n) SELECT status, COUNT(*) FROM orders GROUP BY status",
        """
        INSERT INTO order_status_counts (status, n) SELECT column1, 0 FROM (VALUES \(
            OrderStatus.allCases.map { "('\($0.rawValue)')" }.joined(separator: ", "))) AS v
        WHERE column1 NOT IN (SELECT status FROM order_status_counts)
        """,
    ]

    /// Version 6's new tables and columns, the same on both databases.
    static let subscriptionTables = [
        "ALTER TABLE users ADD COLUMN stripe_customer_id TEXT",
        "CREATE UNIQUE INDEX users_stripe_customer ON users (stripe_customer_id) WHERE stripe_customer_id IS NOT NULL",
        "ALTER TABLE plans ADD COLUMN billing_interval TEXT CHECK (billing_interval IN ('day', 'week', 'month', 'year'))",
        "ALTER TABLE plans ADD COLUMN billing_interval_count BIGINT CHECK (billing_interval_count > 0)",
        """
        CREATE TABLE subscriptions (
            id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL REFERENCES users (id),
            plan_id TEXT NOT NULL REFERENCES plans (id),
            status TEXT NOT NULL
                CHECK (status IN ('INCOMPLETE', 'INCOMPLETE_EXPIRED', 'ACTIVE', 'PAST_DUE', 'CANCELED')),
            stripe_subscription_id TEXT UNIQUE,
            checkout_session_id TEXT UNIQUE,
            checkout_url TEXT,
            expires_at BIGINT,
            current_period_start BIGINT,
            current_period_end BIGINT,
            cancel_at_period_end BIGINT NOT NULL DEFAULT 0,
            canceled_at BIGINT,
            ended_at BIGINT,
            last_event_created BIGINT,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL
        )
        """,
        "CREATE INDEX subscriptions_user ON subscriptions (user_id, created_at, id)",
        "CREATE INDEX subscriptions_created ON subscriptions (created_at, id)",
        "CREATE INDEX subscriptions_live ON subscriptions (current_period_end) WHERE status IN ('ACTIVE', 'PAST_DUE')",
        "CREATE INDEX subscriptions_incomplete ON subscriptions (created_at) WHERE status = 'INCOMPLETE'",
    ]

    /// Applies every migration not yet recorded, each in its own transaction. On PostgreSQL an advisory lock makes
    /// instances starting together take turns. Returns the versions applied now.
    @discardableResult
    @_spi(Bench) public static func run(on database: any Database, logger: Logger) async throws -> [Int] {
        // Under the same lock as the migrations: PostgreSQL's IF NOT EXISTS is not safe against a second instance
        // making the table at the same moment (a duplicate type error, and that instance exited).
        try await database.transaction { db in
            if database.kind == .postgres {
                try await db.raw("SELECT pg_advisory_xact_lock(7414057)").run()
            }
            try await db.raw(
                "CREATE TABLE IF NOT EXISTS till_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)"
            ).run()
        }
        var applied: [Int] = []
        for migration in all {
            let ran = try await database.transaction { db in
                if database.kind == .postgres {
                    try await db.raw("SELECT pg_advisory_xact_lock(7414057)").run()
                }
                let done = try await db.raw(
                    "SELECT version FROM till_migrations WHERE version = \(bind: migration.version)"
                ).first()
                if done != nil { return false }
                for statement in migration.statements(for: database.kind) {
                    try await db.raw(SQLQueryString(statement)).run()
                }
                try await migration.code?(db, database.kind, logger)
                try await db.raw(
                    "INSERT INTO till_migrations (version, name, applied_at) VALUES (\(bind: migration.version), \(bind: migration.name), \(bind: TillClock.system.nowMillis()))"
                ).run()
                return true
            }
            if ran {
                logger.info(
                    "applied migration",
                    metadata: ["migration.version": "\(migration.version)", "migration.name": "\(migration.name)"])
                applied.append(migration.version)
            }
        }
        return applied
    }
}
