import Foundation

/// What to do besides moving the payment's status; applied in the same transaction.
public enum PaymentEffect: Sendable, Equatable {
    /// Deliver what was paid for: the order becomes `PAID` (re-reserving its stock if it had been cancelled, or
    /// refunding in full where that is impossible), or the plan's credits are granted.
    case fulfil
    /// Cancel the order and release its stock, unless another payment of it succeeded or is still live.
    case cancelOrderUnlessOtherPayment
    /// The order's refunded amount follows the payment's.
    case recordRefund(amountRefunded: Int)
    /// Flag the payment as disputed and log it.
    case flagDispute
    /// Record Stripe's decline code and message.
    case recordFailure(code: String?, message: String?)
    /// Read the charge back from Stripe once the transaction has committed (`PaymentFact.refundsRead` follows);
    /// kept on the payment until it is read, so a crash or a Stripe outage only delays it.
    case readRefundsBack
}

public struct PaymentDecision: Sendable, Equatable {
    /// The payment's new status; `nil` leaves it as it is.
    public var status: PaymentStatus?
    public var amountRefunded: Int?
    /// The refunds asked of Stripe still counted against what is left to refund; `nil` leaves them.
    public var refundRequested: Int?
    public var effects: [PaymentEffect]

    public init(
        status: PaymentStatus? = nil, amountRefunded: Int? = nil, refundRequested: Int? = nil,
        effects: [PaymentEffect] = []
    ) {
        self.status = status
        self.amountRefunded = amountRefunded
        self.refundRequested = refundRequested
        self.effects = effects
    }

    public static let nothing = PaymentDecision()
}

/// The payment state machine: a pure function from (payment, fact) to a decision. A paid payment never becomes
/// unpaid, and replaying a fact decides nothing new, so applying the decision with a conditional update on the old
/// state makes every effect happen at most once. The one way back is money Stripe gave back to the account when a
/// refund failed: a read of the charge lowers what is refunded, and the payment and its order follow.
public enum PaymentMachine {
    public static func decide(_ payment: PaymentState, _ fact: PaymentFact) -> PaymentDecision {
        switch fact {
        case .succeeded(let amount, let currency):
            guard payment.status.maySucceed else { return .nothing }
            guard amount == payment.amount, currency.lowercased() == payment.currency.lowercased() else {
                return PaymentDecision(status: .requiresReview)
            }
            return PaymentDecision(status: .succeeded, effects: [.fulfil])

        case .processing:
            guard payment.status == .initiated || payment.status == .failed else { return .nothing }
            return PaymentDecision(status: .processing)

        case .failed(let code, let message, let final):
            guard payment.status.isLive else { return .nothing }
            if final {
                return PaymentDecision(
                    status: .failed,
                    effects: [.recordFailure(code: code, message: message), .cancelOrderUnlessOtherPayment])
            }
            return PaymentDecision(status: .failed, effects: [.recordFailure(code: code, message: message)])

        case .canceled:
            guard payment.status.isLive else { return .nothing }
            return PaymentDecision(status: .canceled, effects: [.cancelOrderUnlessOtherPayment])

        case .refunded(let total) where payment.status == .requiresReview:
            // Money under review given back at Stripe (its dashboard, say): recorded, so that it can no longer be
            // accepted and delivered; the admin's refund ends it.
            guard total > payment.amountRefunded else { return .nothing }
            let capped = min(total, payment.amount)
            return PaymentDecision(amountRefunded: capped, effects: [.recordRefund(amountRefunded: capped)])

        case .refunded(let total):
            guard payment.status.isPaid, total > payment.amountRefunded else { return .nothing }
            let capped = min(total, payment.amount)
            return PaymentDecision(
                status: PaymentStatus.afterRefund(capped, of: payment.amount), amountRefunded: capped,
                effects: [.recordRefund(amountRefunded: capped)])

        case .refundFailed:
            guard payment.status.isPaid || payment.status == .requiresReview else { return .nothing }
            return PaymentDecision(effects: [.readRefundsBack])

        case .refundsRead(let total, let seen):
            guard payment.status.isPaid || payment.status == .requiresReview,
                payment.amountRefunded == seen.amountRefunded, payment.refundRequested == seen.refundRequested
            else { return .nothing }
            let refunded = min(max(total, 0), payment.amount)
            if payment.status == .requiresReview {
                // Its refund asked for stays asked for: while it is, the money cannot be accepted and delivered.
                guard refunded != payment.amountRefunded else { return .nothing }
                return PaymentDecision(amountRefunded: refunded, effects: [.recordRefund(amountRefunded: refunded)])
            }
            // What Stripe holds is what stays asked for: a failed refund no longer holds what is left to refund (nor
            // does a refund asked for at this very moment; Stripe still refuses more than the charge holds).
            let requested = min(payment.refundRequested, refunded)
            guard refunded != payment.amountRefunded || requested != payment.refundRequested else { return .nothing }
            if !payment.fulfilled, refunded < payment.amountRefunded || requested < payment.refundRequested {
                // Money Till was giving back because nothing was delivered for it: an admin decides what becomes of it
                // (refund it again, or accept it and deliver), rather than a refund asked for again and again of a
                // card whose refunds fail.
                return PaymentDecision(status: .requiresReview, amountRefunded: refunded, refundRequested: requested)
            }
            return PaymentDecision(
                status: PaymentStatus.afterRefund(refunded, of: payment.amount), amountRefunded: refunded,
                refundRequested: requested, effects: [.recordRefund(amountRefunded: refunded)])

        case .disputed:
            guard payment.status.isPaid || payment.status == .requiresReview else { return .nothing }
            return PaymentDecision(effects: [.flagDispute])

        case .reviewAccepted:
            // Money given back (or being given back, or disputed) is not delivered against.
            guard payment.status == .requiresReview, payment.amountRefunded == 0, payment.refundRequested == 0,
                !payment.disputed
            else { return .nothing }
            return PaymentDecision(status: .succeeded, effects: [.fulfil])

        case .reviewRefunded:
            // Nothing was delivered for this money: with it gone, the order ends as if never paid.
            guard payment.status == .requiresReview else { return .nothing }
            return PaymentDecision(
                status: .refunded, amountRefunded: payment.amount, effects: [.cancelOrderUnlessOtherPayment])

        case .refusedByStripe(let code, let message):
            guard payment.status == .initiated else { return .nothing }
            return PaymentDecision(status: .canceled, effects: [.recordFailure(code: code, message: message)])
        }
    }
}
