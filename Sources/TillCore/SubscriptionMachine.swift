import Foundation

/// What Stripe says happened to one subscription, from a webhook event or from reading the subscription back.
/// `at` is the event's `created` (Stripe's seconds); `nil` for a read back, which is current when it is made.
public enum SubscriptionFact: Sendable, Equatable {
    /// Checkout finished: Stripe's subscription id, and whether its first invoice was paid.
    case checkoutCompleted(stripeSubscriptionId: String?, paid: Bool, at: Int?)
    /// The Checkout Session expired unpaid.
    case checkoutExpired(at: Int?)
    /// Stripe's subscription as it is (`customer.subscription.created|updated`, or read back).
    case reported(StripeSubscription, at: Int?)
    /// Stripe ended the subscription (`customer.subscription.deleted`).
    case deleted(StripeSubscription, at: Int?)
    /// An invoice of the subscription was paid: `amount` in minor units.
    case invoicePaid(invoiceId: String, amount: Int, currency: String, at: Int?)
    /// An invoice billed the period from `start` to `end`: the subscription's period is at least that one.
    case invoicedPeriod(start: Int, end: Int)
    /// An attempt to pay an invoice failed. `attempt` names the attempt (Stripe's event id: its `attempt_count`
    /// stops counting manual retries).
    case invoicePaymentFailed(invoiceId: String, attempt: String, amount: Int, currency: String, at: Int?)

    public var at: Int? {
        switch self {
        case .checkoutCompleted(_, _, let at), .checkoutExpired(let at), .reported(_, let at), .deleted(_, let at),
            .invoicePaid(_, _, _, let at), .invoicePaymentFailed(_, _, _, _, let at):
            at
        case .invoicedPeriod: nil
        }
    }
}

/// The fields of Stripe's subscription that Till keeps. Times are Stripe's seconds.
public struct StripeSubscription: Sendable, Equatable {
    public var id: String
    /// Stripe's status string (`active`, `past_due`, ...).
    public var status: String
    public var currentPeriodStart: Int?
    public var currentPeriodEnd: Int?
    public var cancelAtPeriodEnd: Bool
    public var canceledAt: Int?
    public var endedAt: Int?

    public init(
        id: String, status: String, currentPeriodStart: Int? = nil, currentPeriodEnd: Int? = nil,
        cancelAtPeriodEnd: Bool = false, canceledAt: Int? = nil, endedAt: Int? = nil
    ) {
        self.id = id
        self.status = status
        self.currentPeriodStart = currentPeriodStart
        self.currentPeriodEnd = currentPeriodEnd
        self.cancelAtPeriodEnd = cancelAtPeriodEnd
        self.canceledAt = canceledAt
        self.endedAt = endedAt
    }
}

/// The facts of a subscription that the decision needs. Times are Stripe's seconds.
public struct SubscriptionState: Sendable, Equatable {
    public var status: SubscriptionStatus
    public var stripeSubscriptionId: String?
    public var currentPeriodStart: Int?
    public var currentPeriodEnd: Int?
    public var cancelAtPeriodEnd: Bool
    public var canceledAt: Int?
    public var endedAt: Int?
    /// `created` of the newest event applied: an older one about the subscription's state changes nothing.
    public var lastEventAt: Int?

    public init(
        status: SubscriptionStatus, stripeSubscriptionId: String? = nil, currentPeriodStart: Int? = nil,
        currentPeriodEnd: Int? = nil, cancelAtPeriodEnd: Bool = false, canceledAt: Int? = nil, endedAt: Int? = nil,
        lastEventAt: Int? = nil
    ) {
        self.status = status
        self.stripeSubscriptionId = stripeSubscriptionId
        self.currentPeriodStart = currentPeriodStart
        self.currentPeriodEnd = currentPeriodEnd
        self.cancelAtPeriodEnd = cancelAtPeriodEnd
        self.canceledAt = canceledAt
        self.endedAt = endedAt
        self.lastEventAt = lastEventAt
    }
}

/// What to do besides changing the subscription's row; applied in the same transaction.
public enum SubscriptionEffect: Sendable, Equatable {
    /// Record the invoice's `SUCCEEDED` payment and, when it is new, add the plan's credits: once per invoice.
    case recordPaidInvoice(invoiceId: String, amount: Int, currency: String)
    /// Record a `FAILED` payment for this attempt at the invoice, once per attempt.
    case recordFailedAttempt(invoiceId: String, attempt: String, amount: Int, currency: String)
    /// The user's `planId` becomes the subscription's plan.
    case grantPlan
    /// The user's `planId` is cleared (if it is still this subscription's plan).
    case clearPlan
    /// Read the subscription back from Stripe once the transaction has committed: two reports of one second
    /// disagreed, and their order of delivery does not say which is newer (a cancel and a resume at once).
    case readBack
}

public struct SubscriptionDecision: Sendable, Equatable {
    /// The subscription's new state; `nil` leaves it as it is.
    public var state: SubscriptionState?
    public var effects: [SubscriptionEffect]

    public init(state: SubscriptionState? = nil, effects: [SubscriptionEffect] = []) {
        self.state = state
        self.effects = effects
    }

    public static let nothing = SubscriptionDecision()
}

/// The subscription state machine: a pure function from (subscription, fact) to a decision.
///
/// - Money is never lost: every paid invoice is recorded (and its credits granted, once per invoice, which the
///   applier's unique key on the invoice guarantees), whatever the subscription's status, also after it ended.
/// - An ended subscription (`CANCELED`, `INCOMPLETE_EXPIRED`) never changes again.
/// - Facts about the subscription's state carry their event's time; one older than the newest applied changes
///   nothing, so reordered deliveries end where the newest says. A deletion is final whenever it comes. Within
///   one second, a failure's `past_due` wins over the renewal's `active`; any other report of the same second that
///   changes the state is applied and then checked against Stripe (`readBack`).
/// - The plan follows liveness: granted when the subscription becomes live, cleared when a live one ends.
public enum SubscriptionMachine {
    public static func decide(_ s: SubscriptionState, _ fact: SubscriptionFact) -> SubscriptionDecision {
        var next = s
        var effects: [SubscriptionEffect] = []
        let stale = isStale(s, fact.at)

        switch fact {
        case .invoicePaid(let invoiceId, let amount, let currency, _):
            effects.append(.recordPaidInvoice(invoiceId: invoiceId, amount: amount, currency: currency))
            if !stale, s.status == .incomplete || s.status == .pastDue { next.status = .active }

        case .invoicePaymentFailed(let invoiceId, let attempt, let amount, let currency, _):
            effects.append(
                .recordFailedAttempt(invoiceId: invoiceId, attempt: attempt, amount: amount, currency: currency))
            if !stale, s.status == .active { next.status = .pastDue }

        case .invoicedPeriod(let start, let end):
            // Periods only move forward, so an old invoice's period changes nothing; a new one's is the period
            // before customer.subscription.updated says so.
            guard !s.status.hasEnded, end > s.currentPeriodEnd ?? Int.min else { return .nothing }
            next.currentPeriodStart = start
            next.currentPeriodEnd = end

        case .checkoutCompleted(let stripeId, let paid, _):
            guard !s.status.hasEnded else { return .nothing }
            if next.stripeSubscriptionId == nil { next.stripeSubscriptionId = stripeId }
            if paid, s.status == .incomplete { next.status = .active }

        case .checkoutExpired:
            guard s.status == .incomplete, s.stripeSubscriptionId == nil else { return .nothing }
            next.status = .incompleteExpired

        case .reported(let stripe, _):
            guard !s.status.hasEnded, !stale, let status = SubscriptionStatus(stripe: stripe.status) else {
                return .nothing
            }
            if status.hasEnded {
                end(&next, stripe, as: status)
            } else {
                copy(stripe, into: &next)
                // Stripe never takes a subscription back to incomplete; an old read does not either. Within one
                // second (Stripe's resolution) a renewal reports `active` and then its failure `past_due`, in any
                // order of delivery: only a paid invoice, not an update of the same second, ends `PAST_DUE`.
                let sameSecond = fact.at != nil && fact.at == s.lastEventAt
                let backwards =
                    (status == .incomplete && s.status.isLive)
                    || (sameSecond && status == .active && s.status == .pastDue)
                if !backwards { next.status = status }
                // Only what a report decides (the status, a cancellation at period end), and only once the
                // subscription has been reported: the first reports of a new one share a second and fill it in.
                if sameSecond, s.currentPeriodEnd != nil,
                    next.status != s.status || next.cancelAtPeriodEnd != s.cancelAtPeriodEnd
                {
                    effects.append(.readBack)
                }
            }

        case .deleted(let stripe, _):
            guard !s.status.hasEnded else { return .nothing }
            end(&next, stripe, as: .canceled)
        }

        if !s.status.hasEnded, let at = fact.at { next.lastEventAt = max(s.lastEventAt ?? at, at) }
        if !s.status.isLive, next.status.isLive { effects.append(.grantPlan) }
        if s.status.isLive, !next.status.isLive { effects.append(.clearPlan) }
        return SubscriptionDecision(state: next == s ? nil : next, effects: effects)
    }

    /// A fact about the state older than the newest applied one. Reads back (`at == nil`) are never stale.
    static func isStale(_ s: SubscriptionState, _ at: Int?) -> Bool {
        guard let at, let last = s.lastEventAt else { return false }
        return at < last
    }

    private static func copy(_ stripe: StripeSubscription, into s: inout SubscriptionState) {
        if s.stripeSubscriptionId == nil { s.stripeSubscriptionId = stripe.id }
        s.currentPeriodStart = stripe.currentPeriodStart ?? s.currentPeriodStart
        s.currentPeriodEnd = stripe.currentPeriodEnd ?? s.currentPeriodEnd
        s.cancelAtPeriodEnd = stripe.cancelAtPeriodEnd
        // Stripe clears `canceled_at` when a cancellation at period end is taken back.
        s.canceledAt = stripe.cancelAtPeriodEnd ? stripe.canceledAt ?? s.canceledAt : stripe.canceledAt
    }

    private static func end(_ s: inout SubscriptionState, _ stripe: StripeSubscription, as status: SubscriptionStatus) {
        let canceledAt = s.canceledAt
        copy(stripe, into: &s)
        s.canceledAt = stripe.canceledAt ?? canceledAt
        s.status = status
        s.cancelAtPeriodEnd = false
        s.endedAt = stripe.endedAt ?? s.endedAt
    }
}
