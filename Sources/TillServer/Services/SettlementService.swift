import Logging
import SQLKit
import StripeAPI
import TillCore

/// The one path by which anything Stripe reports changes Till: webhooks, `sync` and the reconciler all come here.
/// Load → decide with `PaymentMachine` → apply the decision in one transaction, guarded by a conditional update on
/// the payment's old state, so that two processors racing on one payment apply each effect once.
struct SettlementService: Sendable {
    let database: any Database
    let stripe: StripeClient
    let clock: TillClock
    let logger: Logger
    let payments = PaymentRepository()
    let orders = OrderRepository()
    let catalog = CatalogRepository()

    /// A refund or dispute reported before the success it follows; the event is retried later.
    struct NotYetPaid: Error, CustomStringConvertible {
        let paymentId: String
        var description: String { "payment \(paymentId) is not paid yet; will retry after its success is applied" }
    }

    struct Conflict: Error {}

    /// The payment the report is about, or `nil` when Till does not know it.
    func payment(for lookup: StripeFacts.Lookup) async throws -> Payment? {
        try await database.withConnection { db in
            if let id = lookup.paymentId, let p = try await payments.find(id: id, on: db) { return p }
            if let id = lookup.sessionId, let p = try await payments.find(sessionId: id, on: db) { return p }
            if let id = lookup.paymentIntentId, let p = try await payments.find(paymentIntentId: id, on: db) { return p }
            return nil
        }
    }

    /// Applies `facts` in order; returns the payment as it ends.
    @discardableResult
    func apply(paymentId: String, facts: [PaymentFact], details: StripeFacts.Details) async throws -> Payment? {
        var last: Payment?
        for fact in facts {
            last = try await apply(paymentId: paymentId, fact: fact, details: details)
        }
        return last
    }

    func apply(paymentId: String, fact: PaymentFact, details: StripeFacts.Details) async throws -> Payment? {
        for attempt in 1...5 {
            do {
                let (payment, refundAll) = try await database.transaction { db in
                    try await applyOnce(paymentId: paymentId, fact: fact, details: details, on: db)
                }
                if refundAll, let payment { await refundInFull(payment) }
                return payment
            } catch is Conflict {
                logger.debug("settlement raced another processor; retrying", metadata: ["payment.id": "\(paymentId)", "attempt": "\(attempt)"])
            }
        }
        throw TillError(.internalError, "payment \(paymentId) kept changing under settlement")
    }

    private func applyOnce(paymentId: String, fact: PaymentFact, details: StripeFacts.Details, on db: any SQLDatabase) async throws -> (Payment?, Bool) {
        guard var payment = try await payments.find(id: paymentId, on: db) else { return (nil, false) }
        if details.paymentIntentId != nil || details.customerEmail != nil {
            try await payments.setDetails(id: paymentId, paymentIntentId: details.paymentIntentId, customerEmail: details.customerEmail, on: db)
        }
        switch fact {
        case .refunded, .disputed:
            if !payment.status.isPaid && payment.status.isLive { throw NotYetPaid(paymentId: paymentId) }
        default: break
        }
        let decision = PaymentMachine.decide(payment.state, fact)
        let now = clock.nowMillis()
        if let status = decision.status {
            guard try await payments.transition(id: paymentId, from: payment.state, to: status, amountRefunded: decision.amountRefunded, now: now, on: db) else {
                throw Conflict()
            }
            logger.info(
                "payment status changed",
                metadata: ["payment.id": "\(paymentId)", "from": "\(payment.status.rawValue)", "to": "\(status.rawValue)"])
            payment.status = status
            if let refunded = decision.amountRefunded { payment.amountRefunded = refunded }
        }
        var refundAll = false
        for effect in decision.effects {
            switch effect {
            case .fulfil:
                if try await fulfil(payment, now: now, on: db) {
                    try await payments.markFulfilled(id: paymentId, on: db)
                    payment.fulfilled = true
                } else {
                    refundAll = true
                    try await payments.markNeedsRefund(id: paymentId, on: db)
                }
            case .cancelOrderUnlessOtherPayment:
                try await cancelOrderUnlessOtherPayment(payment, now: now, on: db)
            case .recordRefund(let amountRefunded):
                if payment.kind == .order, payment.fulfilled, let orderId = payment.orderId {
                    try await orders.recordRefund(id: orderId, amountRefunded: amountRefunded, now: now, on: db)
                }
            case .flagDispute:
                try await payments.flagDispute(id: paymentId, on: db)
                logger.warning("payment disputed", metadata: ["payment.id": "\(paymentId)"])
            case .recordFailure(let code, let message):
                try await payments.recordFailure(id: paymentId, code: code, message: message, on: db)
            }
        }
        if case .requiresReview = decision.status {
            logger.error(
                "Stripe reported an amount or currency that differs from the payment; nothing fulfilled",
                metadata: ["payment.id": "\(paymentId)"])
        }
        return (try await payments.find(id: paymentId, on: db), refundAll)
    }

    /// Delivers what was paid for. `false` when it cannot be delivered and the money must go back.
    private func fulfil(_ payment: Payment, now: Int, on db: any SQLDatabase) async throws -> Bool {
        if payment.kind == .plan {
            guard let planId = payment.planId else { return false }
            let granted = try await UserRepository().grantPlan(userId: payment.userId, planId: planId, on: db)
            if granted { logger.info("plan granted", metadata: ["payment.id": "\(payment.id)", "plan.id": "\(planId)"]) }
            return granted
        }
        guard let orderId = payment.orderId else { return false }
        if try await orders.markPaid(id: orderId, from: .pending, now: now, on: db) {
            logger.info("order paid", metadata: ["order.id": "\(orderId)", "payment.id": "\(payment.id)"])
            return true
        }
        guard let order = try await orders.find(id: orderId, userId: nil, on: db), order.status == .cancelled else {
            // Paid already through another payment: this one is a double payment.
            logger.warning("order already paid by another payment; refunding this one", metadata: ["order.id": "\(orderId)", "payment.id": "\(payment.id)"])
            return false
        }
        // Paid after it was cancelled: take the stock again if it is there, else give the money back.
        var reserved: [OrderItem] = []
        for item in OrderRepository.lockOrder(order.items) {
            if try await catalog.reserve(productId: item.productId, quantity: item.quantity, now: now, on: db) {
                reserved.append(item)
            } else {
                for r in reserved { try await catalog.release(productId: r.productId, quantity: r.quantity, now: now, on: db) }
                logger.warning("late payment for a cancelled order and no stock left; refunding", metadata: ["order.id": "\(orderId)", "payment.id": "\(payment.id)"])
                return false
            }
        }
        guard try await orders.markPaid(id: orderId, from: .cancelled, now: now, on: db) else {
            for r in reserved { try await catalog.release(productId: r.productId, quantity: r.quantity, now: now, on: db) }
            return false
        }
        logger.info("late payment revived a cancelled order", metadata: ["order.id": "\(orderId)", "payment.id": "\(payment.id)"])
        return true
    }

    private func cancelOrderUnlessOtherPayment(_ payment: Payment, now: Int, on db: any SQLDatabase) async throws {
        guard payment.kind == .order, let orderId = payment.orderId else { return }
        if try await payments.otherLiveOrPaid(orderId: orderId, except: payment.id, on: db) { return }
        guard try await orders.cancelReleasingStock(id: orderId, now: now, on: db) else { return }
        logger.info("order cancelled after its payment ended", metadata: ["order.id": "\(orderId)", "payment.id": "\(payment.id)"])
    }

    /// Gives all the money of `payment` back at Stripe. The payment stays marked until Stripe accepts, so the
    /// reconciler tries again after a failure; Stripe's idempotency key makes repeats harmless.
    func refundInFull(_ payment: Payment) async {
        do {
            var intentId = payment.paymentIntentId
            if intentId == nil, let sessionId = payment.checkoutSessionId {
                intentId = try await stripe.retrieveCheckoutSession(sessionId).paymentIntent?.id
            }
            guard let intentId else {
                logger.error("cannot refund: no PaymentIntent known yet", metadata: ["payment.id": "\(payment.id)"])
                return
            }
            _ = try await stripe.createRefund(
                RefundCreateParams(paymentIntent: intentId, reason: "requested_by_customer", metadata: ["paymentId": payment.id, "reason": "order_not_fulfillable"]),
                options: RequestOptions(idempotencyKey: "till-refund-full-\(payment.id)"))
            try await database.withConnection { db in try await payments.clearNeedsRefund(id: payment.id, on: db) }
            logger.info("payment refunded in full at Stripe", metadata: ["payment.id": "\(payment.id)"])
        } catch let error as StripeError where error.code == "charge_already_refunded" {
            try? await database.withConnection { db in try await payments.clearNeedsRefund(id: payment.id, on: db) }
        } catch {
            logger.error("refund in full failed; the reconciler will retry", metadata: ["payment.id": "\(payment.id)", "error": "\(error)"])
        }
    }
}
