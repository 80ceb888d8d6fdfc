import StripeAPI
import TillCore

/// Turns what Stripe reports (an event, or a session or intent read back) into facts about one of Till's payments.
enum StripeFacts {
    /// How to find the payment an object is about: Till's own id from metadata first, then Stripe's ids.
    struct Lookup: Sendable, Equatable {
        var paymentId: String?
        var sessionId: String?
        var paymentIntentId: String?
    }

    /// Details worth keeping whatever the decision.
    struct Details: Sendable, Equatable {
        var paymentIntentId: String?
        var customerEmail: String?
    }

    struct Report: Sendable, Equatable {
        let lookup: Lookup
        let facts: [PaymentFact]
        let details: Details
    }

    static func from(_ event: Event) -> Report? {
        switch (event.type, event.data.object) {
        case (.checkoutSessionCompleted, .checkoutSession(let s)):
            let fact: PaymentFact = s.paymentStatus == .unpaid ? .processing : .succeeded(amount: s.amountTotal ?? 0, currency: s.currency ?? "")
            return session(s, [fact])
        case (.checkoutSessionAsyncPaymentSucceeded, .checkoutSession(let s)):
            return session(s, [.succeeded(amount: s.amountTotal ?? 0, currency: s.currency ?? "")])
        case (.checkoutSessionAsyncPaymentFailed, .checkoutSession(let s)):
            return session(s, [.failed(code: "async_payment_failed", message: "The delayed payment failed.", final: true)])
        case (.checkoutSessionExpired, .checkoutSession(let s)):
            return session(s, [.canceled])
        case (.paymentIntentSucceeded, .paymentIntent(let pi)):
            return intent(pi, [.succeeded(amount: pi.amountReceived > 0 ? pi.amountReceived : pi.amount, currency: pi.currency)])
        case (.paymentIntentPaymentFailed, .paymentIntent(let pi)):
            let error = pi.lastPaymentError
            return intent(pi, [.failed(code: error?.declineCode ?? error?.code, message: error?.message, final: false)])
        case (.paymentIntentCanceled, .paymentIntent(let pi)):
            return intent(pi, [.canceled])
        case (.paymentIntentProcessing, .paymentIntent(let pi)):
            return intent(pi, [.processing])
        case (.chargeRefunded, .charge(let c)):
            return Report(
                lookup: Lookup(paymentId: c.metadata["paymentId"], paymentIntentId: c.paymentIntent),
                facts: [.refunded(amountRefunded: c.amountRefunded)], details: Details(paymentIntentId: c.paymentIntent))
        case (.chargeDisputeCreated, .dispute(let d)):
            return Report(
                lookup: Lookup(paymentIntentId: d.paymentIntent), facts: [.disputed], details: Details(paymentIntentId: d.paymentIntent))
        default:
            return nil
        }
    }

    static func session(_ s: CheckoutSession, _ facts: [PaymentFact]) -> Report {
        Report(
            lookup: Lookup(paymentId: s.metadata["paymentId"], sessionId: s.id),
            facts: facts,
            details: Details(paymentIntentId: s.paymentIntent?.id, customerEmail: s.customerDetails?.email ?? s.customerEmail))
    }

    static func intent(_ pi: PaymentIntent, _ facts: [PaymentFact]) -> Report {
        Report(
            lookup: Lookup(paymentId: pi.metadata["paymentId"], paymentIntentId: pi.id), facts: facts,
            details: Details(paymentIntentId: pi.id, customerEmail: pi.receiptEmail))
    }

    /// What a session read back from Stripe says (with its intent, when it has one, expanded).
    static func read(session s: CheckoutSession, intent: PaymentIntent?, charge: Charge?) -> [PaymentFact] {
        var facts: [PaymentFact] = []
        switch (s.status, s.paymentStatus) {
        case (.complete?, .paid), (.complete?, .noPaymentRequired):
            facts.append(.succeeded(amount: s.amountTotal ?? 0, currency: s.currency ?? ""))
        case (.complete?, _):
            facts.append(.processing)
        case (.expired?, _):
            facts.append(.canceled)
        default:
            if let error = intent?.lastPaymentError {
                facts.append(.failed(code: error.declineCode ?? error.code, message: error.message, final: false))
            }
        }
        return facts + chargeFacts(charge)
    }

    /// What an intent read back from Stripe says.
    static func read(intent pi: PaymentIntent, charge: Charge?) -> [PaymentFact] {
        var facts: [PaymentFact] = []
        switch pi.status {
        case .succeeded: facts.append(.succeeded(amount: pi.amountReceived > 0 ? pi.amountReceived : pi.amount, currency: pi.currency))
        case .processing: facts.append(.processing)
        case .canceled: facts.append(.canceled)
        case .requiresPaymentMethod:
            if let error = pi.lastPaymentError {
                facts.append(.failed(code: error.declineCode ?? error.code, message: error.message, final: false))
            }
        default: break
        }
        return facts + chargeFacts(charge)
    }

    private static func chargeFacts(_ charge: Charge?) -> [PaymentFact] {
        guard let charge, charge.status == "succeeded" else { return [] }
        var facts: [PaymentFact] = []
        if charge.amountRefunded > 0 { facts.append(.refunded(amountRefunded: charge.amountRefunded)) }
        if charge.disputed { facts.append(.disputed) }
        return facts
    }
}
