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
    let subscriptions = SubscriptionRepository()
    let users = UserRepository()

    /// Applies `items` in a transaction of their own: a conflict with another processor decides again from fresh
    /// reads; `record` runs in the same transaction with the verdicts (the processor records its events there).
    /// Refunds the applier asked for are made once the transaction has committed.
    func apply(
        _ items: [Item], record: @Sendable ([Verdict], any SQLDatabase) async throws -> Void = { _, _ in }
    ) async throws -> Outcome {
        for attempt in 1...5 {
            do {
                var outcome = try await database.transaction { db in
                    let outcome = try await apply(items, on: db)
                    try await record(outcome.verdicts, db)
                    return outcome
                }
                outcome.woken += await afterCommit(outcome)
                return outcome
            } catch is Conflict {
                logger.debug("settlement raced another processor; deciding again", metadata: ["attempt": "\(attempt)"])
            }
        }
        throw TillError.busy
    }

    /// Applies what Stripe says about one payment (`sync`, closing a payment); returns the payment as it ends.
    @discardableResult
    func apply(paymentId: String, facts: [PaymentFact], details: StripeFacts.Details) async throws -> Payment? {
        let report = StripeFacts.Report(lookup: .init(paymentId: paymentId), facts: facts, details: details)
        _ = try await apply([Item(eventId: nil, report: report)])
        return try await database.withConnection { db in try await payments.find(id: paymentId, on: db) }
    }

    /// What an outcome leaves to do once its transaction has committed: on PostgreSQL, waking the events that waited
    /// for the PaymentIntents it taught or waited for; at Stripe, refunds in full, read-backs of failed refunds, and
    /// the decline codes of failed invoice attempts (Stripe keeps them on the invoice's PaymentIntent, not on the
    /// invoice). Returns how many waiting events it put back in the queue.
    @discardableResult
    func afterCommit(_ outcome: Outcome) async -> Int {
        // First, so that the processor is not kept waiting behind calls to Stripe.
        var woken = 0
        if !outcome.wakes.isEmpty {
            do {
                woken = try await database.withConnection { db in
                    try await WebhookEventRepository().wake(waitingFor: outcome.wakes.sorted(), on: db)
                }
            } catch {
                // The reconciler's pass wakes what this left waiting.
                logger.warning("could not wake events waiting for a PaymentIntent", metadata: ["error": "\(error)"])
            }
        }
        for payment in outcome.refunds { await refundInFull(payment) }
        for id in outcome.refundReads { await readRefunds(paymentId: id) }
        for (paymentId, invoiceId) in outcome.declines {
            await recordDecline(paymentId: paymentId, invoiceId: invoiceId)
        }
        for id in outcome.subscriptionReads { await readBack(subscription: id) }
        for (paymentId, invoiceId) in outcome.paidInvoices {
            do {
                guard let intentId = try await invoiceIntent(invoiceId) else { continue }
                try await database.withConnection { db in
                    try await payments.setDetails([(paymentId, intentId, nil)], on: db)
                }
            } catch {
                logger.warning(
                    "could not read a paid invoice's PaymentIntent from Stripe; a refund will look again",
                    metadata: ["payment.id": "\(paymentId)", "error": "\(error)"])
            }
        }
        return woken
    }

    /// Applies the subscription as Stripe has it now. A read-back is never stale and asks for no other, so this
    /// ends; if Stripe cannot be read, the next event (or a client's sync) puts the state right.
    func readBack(subscription id: String) async {
        do {
            guard
                let before = try await database.withConnection({ db in try await subscriptions.find(id: id, on: db) }),
                let stripeId = before.stripeSubscriptionId
            else { return }
            let read = StripeFacts.read(subscription: try await stripe.retrieveSubscription(stripeId))
            let report = StripeFacts.SubscriptionReport(
                lookup: .init(subscriptionId: id), facts: [.reported(read, at: nil)],
                unlessUpdatedSince: before.updatedAt)
            _ = try await apply([Item(eventId: nil, subject: .subscription(report))])
        } catch {
            logger.warning(
                "could not read a subscription back from Stripe after two reports of one second disagreed",
                metadata: ["subscription.id": "\(id)", "error": "\(error)"])
        }
    }

    /// The PaymentIntent of an invoice's newest payment (Stripe lists them newest first), when it has one.
    func invoiceIntent(_ invoiceId: String) async throws -> String? {
        try await stripe.listInvoicePayments(invoice: invoiceId).data.first { $0.paymentIntent != nil }?.paymentIntent
    }

    /// Reads the decline of a failed invoice attempt from its PaymentIntent and records it on the payment. A failure
    /// here loses only the code, never the payment.
    func recordDecline(paymentId: String, invoiceId: String) async {
        do {
            guard let intentId = try await invoiceIntent(invoiceId),
                let error = try await stripe.retrievePaymentIntent(intentId).lastPaymentError
            else {
                return
            }
            try await database.withConnection { db in
                try await payments.recordFailure(
                    id: paymentId, code: error.declineCode ?? error.code, message: error.message, on: db)
            }
        } catch {
            logger.warning(
                "could not read an invoice's decline from Stripe",
                metadata: ["payment.id": "\(paymentId)", "error": "\(error)"])
        }
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
                RefundCreateParams(
                    paymentIntent: intentId, reason: "requested_by_customer",
                    metadata: ["paymentId": payment.id, "reason": "order_not_fulfillable"]),
                // A key of its own for each attempt (Stripe's client retries a call under it): one asked for again
                // after a refund failed must not replay the failed one, and a retry under a new key cannot give back
                // twice, because without an amount Stripe gives back what is left and refuses a charge with nothing
                // left (`charge_already_refunded`).
                options: RequestOptions(idempotencyKey: "till-refund-full-\(payment.id)-\(IDs.make())"))
            try await database.withConnection { db in try await payments.clearNeedsRefund(id: payment.id, on: db) }
            logger.info("payment refunded in full at Stripe", metadata: ["payment.id": "\(payment.id)"])
        } catch let error as StripeError where error.code == "charge_already_refunded" {
            try? await database.withConnection { db in try await payments.clearNeedsRefund(id: payment.id, on: db) }
        } catch {
            logger.error(
                "refund in full failed; the reconciler will retry",
                metadata: ["payment.id": "\(payment.id)", "error": "\(error)"])
        }
    }

    /// Reads a payment's charge back from Stripe after a refund failed, and applies what it holds as refunded now.
    /// A refund asked for or reported while Stripe was read makes the read stale (`PaymentFact.refundsRead`): it is
    /// read again. The payment stays marked (`refund_reads`) until a read is applied, so the reconciler retries one
    /// lost to a crash or to Stripe.
    func readRefunds(paymentId: String) async {
        do {
            for _ in 1...3 {
                guard
                    let (payment, marks) = try await database.withConnection({ db in
                        try await payments.refundReads(id: paymentId, on: db)
                    })
                else { return }
                guard let intentId = payment.paymentIntentId,
                    let charge = try await stripe.retrievePaymentIntent(intentId, expand: ["latest_charge"])
                        .latestCharge?.object
                else {
                    // Nothing at Stripe to read: the mark goes, or the reconciler would try it on every pass.
                    logger.warning(
                        "a refund failed, but its payment has no charge to read",
                        metadata: ["payment.id": "\(paymentId)"])
                    try await database.withConnection { db in
                        try await payments.clearRefundReads(id: paymentId, marks: marks, on: db)
                    }
                    return
                }
                let fact = PaymentFact.refundsRead(amountRefunded: charge.amountRefunded, seen: payment.state)
                let decision = PaymentMachine.decide(payment.state, fact)
                if decision != .nothing {
                    let after = try await apply(paymentId: paymentId, facts: [fact], details: .init())
                    // Not as decided: the payment was asked or told about a refund meanwhile, so the read is stale.
                    guard let after, after.status == decision.status ?? payment.status,
                        after.amountRefunded == decision.amountRefunded ?? payment.amountRefunded
                    else { continue }
                }
                try await database.withConnection { db in
                    try await payments.clearRefundReads(id: paymentId, marks: marks, on: db)
                }
                return
            }
        } catch {
            logger.error(
                "could not read a charge back after its refund failed; the reconciler will retry",
                metadata: ["payment.id": "\(paymentId)", "error": "\(error)"])
        }
    }
}
