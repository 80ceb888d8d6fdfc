import Foundation

public enum PaymentStatus: String, Sendable, Codable, CaseIterable {
    case initiated = "INITIATED"
    case processing = "PROCESSING"
    case succeeded = "SUCCEEDED"
    case partiallyRefunded = "PARTIALLY_REFUNDED"
    case refunded = "REFUNDED"
    case failed = "FAILED"
    case canceled = "CANCELED"
    case requiresReview = "REQUIRES_REVIEW"

    /// Money was taken: these never go back to an unpaid status.
    public var isPaid: Bool { [.succeeded, .partiallyRefunded, .refunded].contains(self) }

    /// May still be paid (a failed attempt is not final while its session or intent is open).
    public var isLive: Bool { [.initiated, .processing, .failed].contains(self) }

    /// May still end `SUCCEEDED`: live, or canceled here while Stripe may still report a late success.
    public var maySucceed: Bool { isLive || self == .canceled }

    /// Money in flight (a delayed method) or under review: its order is neither cancelled nor released by time or by
    /// its owner until this payment ends.
    public var holdsOrderOpen: Bool { self == .processing || self == .requiresReview }

    /// Open for the customer to pay again through the same session or intent (not while one is processing).
    public var isPayable: Bool { self == .initiated || self == .failed }

    /// Keeps its order from being cancelled when another payment of the order ends: money taken or under review,
    /// or an attempt still under way (a failed attempt does not hold the order).
    public var holdsOrder: Bool { isPaid || [.initiated, .processing, .requiresReview].contains(self) }

    /// An admin may refund it.
    public var isRefundable: Bool { self == .succeeded || self == .partiallyRefunded }

    /// The payment's status once Stripe reports `amountRefunded` of `amount` refunded.
    public static func afterRefund(_ amountRefunded: Int, of amount: Int) -> PaymentStatus {
        amountRefunded >= amount ? .refunded : amountRefunded > 0 ? .partiallyRefunded : .succeeded
    }
}

public enum PaymentKind: String, Sendable, Codable, CaseIterable {
    case order
    case plan
    /// One paid invoice, or one failed attempt to pay it, of a subscription.
    case subscription
}
