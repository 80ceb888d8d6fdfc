import SQLKit
import TillCore

/// Subscription reports, in the one applier: each subscription's row is locked (all of a batch's in id order), its
/// facts decided by `SubscriptionMachine`, the new state written and each effect applied, in the caller's
/// transaction. A paid invoice's payment is inserted once (unique on the invoice), and its credits go with that
/// insert, so a copy of `invoice.paid`, however many and whenever they come, grants nothing more.
extension SettlementService {
    /// Applies the items about subscriptions; returns their verdicts by item index.
    func applySubscriptions(_ items: [Item], now: Int, into outcome: inout Outcome, on db: any SQLDatabase)
        async throws -> [Int: Verdict]
    {
        var reports: [(index: Int, id: String?, report: StripeFacts.SubscriptionReport)] = []
        for (index, item) in items.enumerated() {
            guard case .subscription(let report)? = item.subject else { continue }
            reports.append((index, try await resolve(report.lookup, on: db), report))
        }
        guard !reports.isEmpty else { return [:] }
        try await db.lockInOrder("subscriptions", ids: Array(Set(reports.compactMap(\.id))), kind: database.kind)
        var verdicts: [Int: Verdict] = [:]
        for (index, id, report) in reports {
            guard let id, let subscription = try await subscriptions.findForUpdate(id: id, kind: database.kind, on: db)
            else {
                verdicts[index] = .ignored
                continue
            }
            try await apply(report, to: subscription, now: now, into: &outcome, on: db)
            verdicts[index] = .processed
        }
        return verdicts
    }

    /// Decides and applies one report about `subscription`, whose row the transaction holds.
    private func apply(
        _ report: StripeFacts.SubscriptionReport, to subscription: Subscription, now: Int, into outcome: inout Outcome,
        on db: any SQLDatabase
    ) async throws {
        var s = subscription
        for fact in report.facts {
            let decision = SubscriptionMachine.decide(s.state, fact)
            if let state = decision.state { s.state = state }
            for effect in decision.effects {
                switch effect {
                case .recordPaidInvoice(let invoiceId, let amount, let currency):
                    guard amount > 0 else { continue }  // nothing was taken: no payment, no credits
                    guard
                        try await subscriptions.insertInvoicePayment(
                            s, invoiceId: invoiceId, attempt: 0, status: .succeeded, amount: amount,
                            currency: currency, paymentIntentId: report.paymentIntentId, now: now, on: db) != nil
                    else { continue }
                    try await users.addCredits(userId: s.userId, planId: s.planId, on: db)
                    logger.info(
                        "subscription invoice paid; credits granted",
                        metadata: ["subscription.id": "\(s.id)", "invoice.id": "\(invoiceId)"])
                case .recordFailedAttempt(let invoiceId, let attempt, let amount, let currency):
                    guard amount > 0,
                        let paymentId = try await subscriptions.insertInvoicePayment(
                            s, invoiceId: invoiceId, attempt: attempt, status: .failed, amount: amount,
                            currency: currency, paymentIntentId: nil, now: now, on: db)
                    else { continue }
                    outcome.declines.append((paymentId, invoiceId))
                    logger.warning(
                        "subscription invoice payment failed",
                        metadata: ["subscription.id": "\(s.id)", "invoice.id": "\(invoiceId)", "attempt": "\(attempt)"])
                case .grantPlan:
                    try await users.setPlan(userId: s.userId, planId: s.planId, on: db)
                case .clearPlan:
                    try await users.clearPlan(userId: s.userId, planId: s.planId, on: db)
                }
            }
        }
        if s.status.hasEnded, s.endedAt == nil { s.endedAt = now / 1000 }
        guard s.state != subscription.state else { return }
        try await subscriptions.save(s, now: now, on: db)
        if s.status != subscription.status {
            logger.info(
                "subscription status changed",
                metadata: [
                    "subscription.id": "\(s.id)", "from": "\(subscription.status.rawValue)",
                    "to": "\(s.status.rawValue)",
                ])
        }
    }

    /// Till's subscription a report is about: by Till's id from metadata, then by Stripe's ids.
    private func resolve(_ lookup: StripeFacts.SubscriptionReport.Lookup, on db: any SQLDatabase) async throws
        -> String?
    {
        if let id = lookup.subscriptionId, try await subscriptions.id(where: .id, is: id, on: db) != nil { return id }
        if let stripeId = lookup.stripeSubscriptionId,
            let id = try await subscriptions.id(where: .stripeSubscriptionId, is: stripeId, on: db)
        {
            return id
        }
        if let sessionId = lookup.sessionId {
            return try await subscriptions.id(where: .checkoutSessionId, is: sessionId, on: db)
        }
        return nil
    }
}
