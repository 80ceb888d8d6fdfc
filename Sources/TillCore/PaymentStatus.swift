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

    /// Open for the customer to pay again through the same session or intent (not while one is processing).
    public var isPayable: Bool { self == .initiated || self == .failed }

    /// Keeps its order from being cancelled when another payment of the order ends: money taken or under review,
    /// or an attempt still under way (a failed attempt does not hold the order).
    public var holdsOrder: Bool { isPaid || [.initiated, .processing, .requiresReview].contains(self) }

    /// An admin may refund it.
    public var isRefundable: Bool { self == .succeeded || self == .partiallyRefunded }

    /// The payment's status once Stripe reports `amountRefunded` of `amount` refunded.
    public static func afterRefund(_ amountRefunded: Int, of amount: Int) -> PaymentStatus {
        amountRefunded >= amount ? .refunded : .partiallyRefunded
    }
}

public enum PaymentKind: String, Sendable, Codable, CaseIterable {
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
                status: PaymentStatus.afterRefund(capped, of: payment.amount), amountRefunded: capped,
                effects: [.recordRefund(amountRefunded: capped)])

        case .disputed:
            guard payment.status.isPaid else { return .nothing }
            return PaymentDecision(effects: [.flagDispute])

        case .refusedByStripe(let code, let message):
            guard payment.status == .initiated else { return .nothing }
            return PaymentDecision(status: .canceled, effects: [.recordFailure(code: code, message: message)])
        }
    }
}
