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
}

public enum PaymentKind: String, Sendable, Codable {
    case order
    case plan
}

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
    /// The charge now has `amountRefunded` refunded in all (Stripe's running total).
    case refunded(amountRefunded: Int)
    /// A dispute was opened on the charge.
    case disputed
}

/// The facts of a payment that the decision needs.
public struct PaymentState: Sendable, Equatable {
    public var status: PaymentStatus
    public var amount: Int
    public var currency: String
    public var amountRefunded: Int

    public init(status: PaymentStatus, amount: Int, currency: String, amountRefunded: Int = 0) {
        self.status = status
        self.amount = amount
        self.currency = currency
        self.amountRefunded = amountRefunded
    }
}

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
}

public struct PaymentDecision: Sendable, Equatable {
    /// The payment's new status; `nil` leaves it as it is.
    public var status: PaymentStatus?
    public var amountRefunded: Int?
    public var effects: [PaymentEffect]

    public init(status: PaymentStatus? = nil, amountRefunded: Int? = nil, effects: [PaymentEffect] = []) {
        self.status = status
        self.amountRefunded = amountRefunded
        self.effects = effects
    }

    public static let nothing = PaymentDecision()
}

/// The payment state machine: a pure function from (payment, fact) to a decision. It is monotonic: a paid payment
/// never becomes unpaid, a settled one never reopens, and replaying a fact decides nothing new, so applying the
/// decision with a conditional update on the old status makes every effect happen at most once.
public enum PaymentMachine {
    public static func decide(_ payment: PaymentState, _ fact: PaymentFact) -> PaymentDecision {
        switch fact {
        case .succeeded(let amount, let currency):
            guard payment.status.isLive || payment.status == .canceled else { return .nothing }
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
                    status: .failed, effects: [.recordFailure(code: code, message: message), .cancelOrderUnlessOtherPayment])
            }
            return PaymentDecision(status: .failed, effects: [.recordFailure(code: code, message: message)])

        case .canceled:
            guard payment.status.isLive else { return .nothing }
            return PaymentDecision(status: .canceled, effects: [.cancelOrderUnlessOtherPayment])

        case .refunded(let total):
            guard payment.status.isPaid, total > payment.amountRefunded else { return .nothing }
            let capped = min(total, payment.amount)
            return PaymentDecision(
                status: capped >= payment.amount ? .refunded : .partiallyRefunded, amountRefunded: capped,
                effects: [.recordRefund(amountRefunded: capped)])

        case .disputed:
            guard payment.status.isPaid else { return .nothing }
            return PaymentDecision(effects: [.flagDispute])
        }
    }
}
