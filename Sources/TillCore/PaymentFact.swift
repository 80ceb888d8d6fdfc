import Foundation

/// What Stripe says happened to one payment, from a webhook event or from re-reading the session or intent.
public enum PaymentFact: Sendable, Equatable {
    /// Money was taken: `amount` and `currency` as Stripe reports them.
    case succeeded(amount: Int, currency: String)
    /// A delayed payment method was accepted and is on its way.
    case processing
    /// An attempt was declined. `final` when nothing can pay this payment any more
    /// (`checkout.session.async_payment_failed`); otherwise the customer may try again.
    case failed(code: String?, message: String?, final: Bool)
    /// The session expired or the intent was cancelled: nothing more can be paid here.
    case canceled
    /// The charge now has `amountRefunded` refunded in all (Stripe's running total). Events can come in any order, so
    /// this only ever raises what is recorded.
    case refunded(amountRefunded: Int)
    /// A refund failed (or was cancelled) after it was reported, and Stripe gave the money back to the account: what
    /// the charge holds as refunded is read back from Stripe.
    case refundFailed
    /// The charge, read back from Stripe after a refund failed, holds `amountRefunded` as refunded now: less than
    /// recorded. Exact, not only raising; decided only if the payment's amounts refunded and asked for are still those
    /// of `seen`, its state when the read began (a refund asked for or reported meanwhile makes the read stale).
    case refundsRead(amountRefunded: Int, seen: PaymentState)
    /// A dispute was opened on the charge.
    case disputed
    /// An admin looked at a payment under review (`REQUIRES_REVIEW`) and accepted what Stripe took for the order.
    case reviewAccepted
    /// An admin gave the money of a payment under review back in full at Stripe.
    case reviewRefunded
    /// Stripe refused to create the session or intent: nothing can be paid through this payment, and the next
    /// attempt starts a new one (Stripe would replay the refusal for the same idempotency key). The order stays.
    case refusedByStripe(code: String?, message: String?)
}

/// The facts of a payment that the decision needs.
public struct PaymentState: Sendable, Equatable {
    public var status: PaymentStatus
    public var amount: Int
    public var currency: String
    public var amountRefunded: Int
    /// Refunds asked of Stripe (an admin's, or one under review), confirmed or not.
    public var refundRequested: Int
    public var disputed: Bool
    /// What it paid for was delivered (the order paid, the credits granted).
    public var fulfilled: Bool

    public init(
        status: PaymentStatus, amount: Int, currency: String, amountRefunded: Int = 0, refundRequested: Int = 0,
        disputed: Bool = false, fulfilled: Bool = false
    ) {
        self.status = status
        self.amount = amount
        self.currency = currency
        self.amountRefunded = amountRefunded
        self.refundRequested = refundRequested
        self.disputed = disputed
        self.fulfilled = fulfilled
    }
}
