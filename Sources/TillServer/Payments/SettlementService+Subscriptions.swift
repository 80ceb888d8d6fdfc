import SQLKit
import TillCore

/// Subscription reports, in the one applier: each subscription's row is locked (all of a batch's in id order), its
/// facts decided by `SubscriptionMachine`, the new state written and each effect applied, in the caller's
/// transaction. A paid invoice's payment is inserted once (unique on the invoice), and its credits go with that
/// insert, so a copy of `invoice.paid`, however many and whenever they come, grants nothing more.
///
/// Rows are taken in one order in every transaction: subscriptions, then payments, then users. The changes to users
/// (credits, plan) are therefore gathered here and made after the batch's payments, by `applyUserChanges`.
extension SettlementService {
    /// A change to a user that a subscription's decision asks for.
    struct UserChange: Sendable {
        enum Kind: Sendable {
            case addCredits
            case setPlan
            case clearPlan
        }
        let kind: Kind
        let userId: String
        let planId: String
    }

    /// Applies the items about subscriptions; returns their verdicts by item index.
    func applySubscriptions(
        _ items: [Item], now: Int, into outcome: inout Outcome, users changes: inout [UserChange],
        on db: any SQLDatabase
    ) async throws -> [Int: Verdict] {
        var reports: [(index: Int, id: String?, report: StripeFacts.SubscriptionReport)] = []
        for (index, item) in items.enumerated() {
            guard case .subscription(let report)? = item.subject else { continue }
            reports.append((index, try await resolve(report.lookup, on: db), report))
        }
        guard !reports.isEmpty else { return [:] }
        try await db.lockInOrder("subscriptions", ids: Array(Set(reports.compactMap(\.id))), kind: database.kind)
        var verdicts: [Int: Verdict] = [:]
        for (index, found, report) in reports {
            // One not found may be found in turn: an earlier report of the batch may have recorded the Stripe id it
            // names. One found stays found (a subscription's ids never change).
            let resolved: String? = if let found { found } else { try await resolve(report.lookup, on: db) }
            guard let id = resolved,
                let subscription = try await subscriptions.findForUpdate(id: id, kind: database.kind, on: db)
            else {
                verdicts[index] = .ignored
                continue
            }
            try await apply(report, to: subscription, now: now, into: &outcome, users: &changes, on: db)
            verdicts[index] = .processed
        }
        return verdicts
    }

    /// Makes the users' changes, by user id (each user's in the order decided).
    func applyUserChanges(_ changes: [UserChange], on db: any SQLDatabase) async throws {
        let ordered = changes.enumerated().sorted { ($0.element.userId, $0.offset) < ($1.element.userId, $1.offset) }
        for (_, change) in ordered {
            switch change.kind {
            case .addCredits: try await users.addCredits(userId: change.userId, planId: change.planId, on: db)
            case .setPlan: try await users.setPlan(userId: change.userId, planId: change.planId, on: db)
            case .clearPlan: try await users.clearPlan(userId: change.userId, planId: change.planId, on: db)
            }
        }
    }

    /// Decides and applies one report about `subscription`, whose row the transaction holds.
    private func apply(
        _ report: StripeFacts.SubscriptionReport, to subscription: Subscription, now: Int, into outcome: inout Outcome,
        users changes: inout [UserChange], on db: any SQLDatabase
    ) async throws {
        if let since = report.unlessUpdatedSince, subscription.updatedAt != since { return }
        var s = subscription
        // An invoice names Stripe's subscription too: kept, so that the subscription can be cancelled even when its
        // invoice was the first news of it.
        if s.stripeSubscriptionId == nil, !s.status.hasEnded {
            s.stripeSubscriptionId = report.lookup.stripeSubscriptionId
        }
        for fact in report.facts {
            let decision = SubscriptionMachine.decide(s.state, fact)
            if let state = decision.state { s.state = state }
            for effect in decision.effects {
                switch effect {
                case .recordPaidInvoice(let invoiceId, let amount, let currency):
                    guard amount > 0,  // nothing was taken: no payment, no credits
                        let paymentId = try await subscriptions.insertInvoicePayment(
                            s, invoiceId: invoiceId, attempt: SubscriptionRepository.paidAttempt, status: .succeeded,
                            amount: amount, currency: currency, now: now, on: db)
                    else { continue }
                    changes.append(UserChange(kind: .addCredits, userId: s.userId, planId: s.planId))
                    outcome.paidInvoices.append((paymentId, invoiceId))
                    logger.info(
                        "subscription invoice paid; credits granted",
                        metadata: ["subscription.id": "\(s.id)", "invoice.id": "\(invoiceId)"])
                case .recordFailedAttempt(let invoiceId, let attempt, let amount, let currency):
                    guard amount > 0,
                        let paymentId = try await subscriptions.insertInvoicePayment(
                            s, invoiceId: invoiceId, attempt: attempt, status: .failed, amount: amount,
                            currency: currency, now: now, on: db)
                    else { continue }
                    outcome.declines.append((paymentId, invoiceId))
                    logger.warning(
                        "subscription invoice payment failed",
                        metadata: ["subscription.id": "\(s.id)", "invoice.id": "\(invoiceId)"])
                case .grantPlan:
                    changes.append(UserChange(kind: .setPlan, userId: s.userId, planId: s.planId))
                case .clearPlan:
                    changes.append(UserChange(kind: .clearPlan, userId: s.userId, planId: s.planId))
                case .readBack:
                    if !outcome.subscriptionReads.contains(s.id) { outcome.subscriptionReads.append(s.id) }
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
