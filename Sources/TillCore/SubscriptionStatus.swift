import Foundation

/// A subscription's status in Till. `CANCELED` and `INCOMPLETE_EXPIRED` are final: nothing brings them back.
public enum SubscriptionStatus: String, Sendable, Codable, CaseIterable {
    /// Stored before Checkout; not paid yet.
    case incomplete = "INCOMPLETE"
    /// The Checkout Session expired unpaid.
    case incompleteExpired = "INCOMPLETE_EXPIRED"
    case active = "ACTIVE"
    /// A renewal failed and Stripe is retrying it.
    case pastDue = "PAST_DUE"
    case canceled = "CANCELED"

    /// The user has the plan: at most one live subscription per user.
    public var isLive: Bool { self == .active || self == .pastDue }

    /// Over for good.
    public var hasEnded: Bool { self == .canceled || self == .incompleteExpired }

    /// Till's reading of Stripe's subscription status. `unpaid` and `paused` keep the subscription but stop the
    /// money, as `past_due` does; `trialing` (no trials in v1.1) is active.
    public init?(stripe: String) {
        switch stripe {
        case "incomplete": self = .incomplete
        case "incomplete_expired": self = .incompleteExpired
        case "active", "trialing": self = .active
        case "past_due", "unpaid", "paused": self = .pastDue
        case "canceled": self = .canceled
        default: return nil
        }
    }
}
