import SQLKit
import TillCore

/// A user's subscription to a recurring plan. Stripe's times (period, canceled, ended, last event, the session's
/// expiry) are kept in Stripe's seconds; Till's own (created, updated) in milliseconds, as everywhere.
struct Subscription: Sendable {
    let id: String
    let userId: String
    let planId: String
    var status: SubscriptionStatus
    var stripeSubscriptionId: String?
    var checkoutSessionId: String?
    var checkoutURL: String?
    var expiresAt: Int?
    var currentPeriodStart: Int?
    var currentPeriodEnd: Int?
    var cancelAtPeriodEnd: Bool
    var canceledAt: Int?
    var endedAt: Int?
    var lastEventCreated: Int?
    let createdAt: Int
    var updatedAt: Int

    init(row: any SQLRow) throws {
        id = try row.string("id")
        userId = try row.string("user_id")
        planId = try row.string("plan_id")
        status = try row.value("status")
        stripeSubscriptionId = try row.optionalString("stripe_subscription_id")
        checkoutSessionId = try row.optionalString("checkout_session_id")
        checkoutURL = try row.optionalString("checkout_url")
        expiresAt = try row.optionalInt("expires_at")
        currentPeriodStart = try row.optionalInt("current_period_start")
        currentPeriodEnd = try row.optionalInt("current_period_end")
        cancelAtPeriodEnd = try row.bool("cancel_at_period_end")
        canceledAt = try row.optionalInt("canceled_at")
        endedAt = try row.optionalInt("ended_at")
        lastEventCreated = try row.optionalInt("last_event_created")
        createdAt = try row.int("created_at")
        updatedAt = try row.int("updated_at")
    }

    init(id: String, userId: String, planId: String, now: Int) {
        self.id = id
        self.userId = userId
        self.planId = planId
        status = .incomplete
        cancelAtPeriodEnd = false
        createdAt = now
        updatedAt = now
    }

    var state: SubscriptionState {
        get {
            SubscriptionState(
                status: status, stripeSubscriptionId: stripeSubscriptionId, currentPeriodStart: currentPeriodStart,
                currentPeriodEnd: currentPeriodEnd, cancelAtPeriodEnd: cancelAtPeriodEnd, canceledAt: canceledAt,
                endedAt: endedAt, lastEventAt: lastEventCreated)
        }
        set {
            status = newValue.status
            stripeSubscriptionId = newValue.stripeSubscriptionId
            currentPeriodStart = newValue.currentPeriodStart
            currentPeriodEnd = newValue.currentPeriodEnd
            cancelAtPeriodEnd = newValue.cancelAtPeriodEnd
            canceledAt = newValue.canceledAt
            endedAt = newValue.endedAt
            lastEventCreated = newValue.lastEventAt
        }
    }

    static let columns = """
        id, user_id, plan_id, status, stripe_subscription_id, checkout_session_id, checkout_url, expires_at,
        current_period_start, current_period_end, cancel_at_period_end, canceled_at, ended_at, last_event_created,
        created_at, updated_at
        """
}

/// `subscription` in the contract, with `checkoutSessionId` besides (the success page finds it by its session).
extension Subscription: Encodable {
    enum CodingKeys: String, CodingKey {
        case id, userId, planId, status, stripeSubscriptionId, checkoutSessionId, currentPeriodStart
        case currentPeriodEnd, cancelAtPeriodEnd, canceledAt, endedAt, createdAt, updatedAt
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(userId, forKey: .userId)
        try c.encode(planId, forKey: .planId)
        try c.encode(status.rawValue, forKey: .status)
        try c.encode(stripeSubscriptionId, forKey: .stripeSubscriptionId)
        try c.encode(checkoutSessionId, forKey: .checkoutSessionId)
        try c.encode(currentPeriodStart.map(Self.rfc3339), forKey: .currentPeriodStart)
        try c.encode(currentPeriodEnd.map(Self.rfc3339), forKey: .currentPeriodEnd)
        try c.encode(cancelAtPeriodEnd, forKey: .cancelAtPeriodEnd)
        try c.encode(canceledAt.map(Self.rfc3339), forKey: .canceledAt)
        try c.encode(endedAt.map(Self.rfc3339), forKey: .endedAt)
        try c.encode(Timestamps.rfc3339(createdAt), forKey: .createdAt)
        try c.encode(Timestamps.rfc3339(updatedAt), forKey: .updatedAt)
    }

    /// Stripe's seconds as RFC 3339 (the reader keeps them within what a date can show).
    static func rfc3339(_ seconds: Int) -> String { Timestamps.rfc3339(seconds * 1000) }
}
