import SQLKit
import TillCore

/// The one applier of payment decisions. Whatever brings a report (a webhook event stored by the inbox, one claimed by
/// the processor, a session or intent read back by `sync` or the reconciler), it comes here as an `Item`; a single
/// report is a batch of one.
///
/// 1. Decide: each item's facts go through `PaymentMachine`, in arrival order, against its payment's state as the
///    earlier items of the batch leave it. Nothing is written yet.
/// 2. Apply: the decisions are cut into runs of consecutive steps that touch distinct payments, orders and users and
///    carry the same effects. A run is written as one guarded transition for all its payments, then each effect in
///    the decision's order, each as few statements as the repositories allow. Steps of a run share nothing, and the
///    effects that share stock only add to it or take it in arrival order, so a run ends exactly as its steps would one
///    by one: the differential test holds the batch to that.
extension SettlementService {
    /// One report to apply, with the webhook event it came from, if any.
    struct Item: Sendable {
        let eventId: String?
        let subject: StripeFacts.Subject?

        init(eventId: String?, subject: StripeFacts.Subject?) {
            self.eventId = eventId
            self.subject = subject
        }

        init(eventId: String?, report: StripeFacts.Report) {
            self.init(eventId: eventId, subject: .payment(report))
        }

        var report: StripeFacts.Report? {
            if case .payment(let report)? = subject { report } else { nil }
        }
    }

    /// What became of an item.
    enum Verdict: Sendable, Equatable {
        case processed
        /// Not about a payment Till knows.
        case ignored
        /// A refund or dispute reported before the success it follows: nothing was applied; try again later.
        case deferred(String)
        /// A refund or dispute of a PaymentIntent no payment has yet (a Checkout payment learns its intent with its
        /// success). Stored as ignored, and put back in the queue when a payment learns that intent, so a success
        /// that comes after it still meets it; an intent Till never made keeps it ignored.
        case waiting(paymentIntentId: String)
    }

    struct Outcome: Sendable {
        /// One per item, in the items' order.
        var verdicts: [Verdict] = []
        /// Payments whose money must go back in full, to refund at Stripe once the transaction has committed.
        var refunds: [Payment] = []
        /// Failed attempts at invoices, whose decline code is read from Stripe once the transaction has committed.
        var declines: [(paymentId: String, invoiceId: String)] = []
        /// Paid invoices, whose PaymentIntent is read from Stripe once the transaction has committed (so that a
        /// refund or dispute of it finds the payment).
        var paidInvoices: [(paymentId: String, invoiceId: String)] = []

        /// Subscriptions (Till's ids) to read back from Stripe once the transaction has committed: two reports of
        /// one second disagreed.
        var subscriptionReads: [String] = []

        /// Payments whose charge is read back from Stripe once the transaction has committed: a refund failed.
        var refundReads: [String] = []
        /// Events that waited for a PaymentIntent a payment has now learned, put back in the queue for the processor.
        var woken = 0
        /// PaymentIntents learned or waited for, whose waiting events are put back in the queue once the transaction
        /// has committed (on PostgreSQL).
        var wakes = Set<String>()

        /// Something is left to do at Stripe once the transaction has committed (`SettlementService.afterCommit`).
        var leavesWork: Bool {
            !refunds.isEmpty || !declines.isEmpty || !paidInvoices.isEmpty || !subscriptionReads.isEmpty
                || !refundReads.isEmpty || !wakes.isEmpty
        }
    }

    /// A payment changed between being read and being written (another processor got there first): the whole batch
    /// is rolled back and decided again from fresh reads.
    struct Conflict: Error {}

    /// One decision about one payment.
    struct Step: Sendable {
        let before: Payment
        let decision: PaymentDecision

        /// The effects' kinds: steps are grouped into runs only with steps of the same kinds.
        var signature: [String] { decision.effects.map(\.kind) }
    }

    /// Decides and applies `items` inside the caller's transaction. Throws `Conflict` when a payment moved since it
    /// was read.
    func apply(_ items: [Item], on db: any SQLDatabase) async throws -> Outcome {
        let now = clock.nowMillis()
        var outcome = Outcome()
        // Subscriptions first: their rows are taken before payments and users, in every transaction; their changes
        // to users wait until the payments' are made.
        var userChanges: [UserChange] = []
        let subscriptionVerdicts = try await applySubscriptions(
            items, now: now, into: &outcome, users: &userChanges, on: db)
        var current = try await load(items.compactMap { $0.report?.lookup }, on: db)
        let loaded = current.byId
        var steps: [Step] = []
        for (index, item) in items.enumerated() {
            if let verdict = subscriptionVerdicts[index] {
                outcome.verdicts.append(verdict)
                continue
            }
            guard let report = item.report, let found = current.resolve(report.lookup) else {
                if let report = item.report, let intentId = report.lookup.paymentIntentId,
                    report.facts.contains(where: \.followsSuccess)
                {
                    outcome.verdicts.append(.waiting(paymentIntentId: intentId))
                } else {
                    outcome.verdicts.append(.ignored)
                }
                continue
            }
            var payment = found
            var verdict = Verdict.processed
            for fact in report.facts {
                if fact.followsSuccess, !payment.status.isPaid, payment.status.maySucceed {
                    verdict = .deferred(
                        "payment \(payment.id) is not paid yet; will retry after its success is applied")
                    break
                }
                let decision = PaymentMachine.decide(payment.state, fact)
                if decision != .nothing { steps.append(Step(before: payment, decision: decision)) }
                // The next decision about this payment starts from this one's outcome, as its guarded write will.
                if let status = decision.status { payment.status = status }
                if let refunded = decision.amountRefunded { payment.amountRefunded = refunded }
                if decision.effects.contains(.flagDispute) { payment.disputed = true }
            }
            if verdict == .processed {
                payment.paymentIntentId = payment.paymentIntentId ?? report.details.paymentIntentId
                payment.customerEmail = report.details.customerEmail ?? payment.customerEmail
            }
            current.update(payment)
            outcome.verdicts.append(verdict)
        }

        var fulfilled = Set<String>()
        for run in Self.runs(steps) {
            try await apply(run, fulfilled: &fulfilled, into: &outcome, now: now, on: db)
        }
        let details = current.byId.values.compactMap {
            p -> (id: String, paymentIntentId: String?, customerEmail: String?)? in
            guard let before = loaded[p.id],
                before.paymentIntentId != p.paymentIntentId || before.customerEmail != p.customerEmail
            else { return nil }
            return (p.id, p.paymentIntentId, p.customerEmail)
        }
        try await payments.setDetails(details.sorted { $0.id < $1.id }, on: db)
        try await applyUserChanges(userChanges, on: db)
        let learned = Set(details.compactMap { d in loaded[d.id]?.paymentIntentId == nil ? d.paymentIntentId : nil })
        var waiting = Set<String>()
        for (index, verdict) in outcome.verdicts.enumerated() {
            guard case .waiting(let intentId) = verdict else { continue }
            // Its payment learned the intent in this batch: the processor tries it again.
            if learned.contains(intentId) {
                outcome.verdicts[index] = .deferred("its payment learned its PaymentIntent in the same batch")
            } else {
                waiting.insert(intentId)
            }
        }
        if database.kind == .sqlite {
            // One writer: a stored event that waits for one of these intents was committed before this transaction
            // began, so it is seen here; and an event that waits now was decided after every payment that knows its
            // intent was committed.
            outcome.woken = try await WebhookEventRepository().wake(waitingFor: learned.sorted(), on: db)
        } else {
            // Transactions run side by side: an event may wait for an intent a payment learns in a transaction that
            // neither sees, so both sides look again once committed (`afterCommit`).
            outcome.wakes = learned.union(waiting)
        }
        return outcome
    }

    /// Cuts steps, in order, into runs of steps about distinct payments, orders and users, with the same effects.
    static func runs(_ steps: [Step]) -> [[Step]] {
        var runs: [[Step]] = []
        var run: [Step] = []
        var touched = Set<String>()
        for step in steps {
            // Plan grants of one user add up in any order, but a run keeps them apart all the same.
            let keys =
                ["payment:" + step.before.id] + (step.before.orderId.map { ["order:" + $0] } ?? [])
                + (step.before.kind == .plan ? ["user:" + step.before.userId] : [])
            let clashes = keys.contains { touched.contains($0) }
            if let first = run.first, clashes || first.signature != step.signature {
                runs.append(run)
                run = []
                touched = []
            }
            run.append(step)
            touched.formUnion(keys)
        }
        if !run.isEmpty { runs.append(run) }
        return runs
    }

    /// Writes one run: the guarded transitions, then each effect in the decisions' order. `fulfilled` gathers the
    /// payments this batch delivered; what is left to do at Stripe after the commit goes into `outcome`.
    private func apply(
        _ run: [Step], fulfilled: inout Set<String>, into outcome: inout Outcome, now: Int, on db: any SQLDatabase
    ) async throws {
        // A decision moves the status, the amounts refunded and asked for, or some of them (money under review given
        // back keeps its status).
        let moves = run.compactMap { step -> PaymentRepository.Transition? in
            let decision = step.decision
            guard decision.status != nil || decision.amountRefunded != nil || decision.refundRequested != nil else {
                return nil
            }
            return PaymentRepository.Transition(
                id: step.before.id, from: step.before.state, to: decision.status ?? step.before.status,
                amountRefunded: decision.amountRefunded ?? step.before.amountRefunded,
                refundRequested: decision.refundRequested ?? step.before.refundRequested)
        }
        try await db.lockInOrder("payments", ids: moves.map(\.id), kind: database.kind)
        guard try await payments.transition(moves, now: now, on: db) == moves.count else { throw Conflict() }
        for step in run {
            guard let status = step.decision.status else { continue }
            logger.info(
                "payment status changed",
                metadata: [
                    "payment.id": "\(step.before.id)", "from": "\(step.before.status.rawValue)",
                    "to": "\(status.rawValue)",
                ])
            if status == .requiresReview {
                logger.error(
                    step.before.status.isPaid
                        ? "a refund of money nothing was delivered for failed; the payment awaits an admin's review"
                        : "Stripe reported an amount or currency that differs from the payment; nothing fulfilled",
                    metadata: ["payment.id": "\(step.before.id)"])
            }
        }
        // Every step of a run has the same effects, in the same order.
        for (index, _) in (run.first?.decision.effects ?? []).enumerated() {
            let effects = run.map { ($0.before, $0.decision.effects[index]) }
            switch effects[0].1 {
            case .fulfil:
                let delivered = try await fulfil(effects.map(\.0), now: now, on: db)
                fulfilled.formUnion(delivered)
                try await payments.markFulfilled(ids: effects.map(\.0.id).filter { delivered.contains($0) }, on: db)
                let undeliverable = effects.map(\.0).filter { !delivered.contains($0.id) }
                try await payments.markNeedsRefund(ids: undeliverable.map(\.id), on: db)
                outcome.refunds += undeliverable
            case .readRefundsBack:
                try await payments.markRefundReads(ids: effects.map(\.0.id), on: db)
                outcome.refundReads += effects.map(\.0.id)
            case .cancelOrderUnlessOtherPayment:
                try await cancelOrdersUnlessOtherPayment(effects.map(\.0), now: now, on: db)
            case .recordRefund:
                for case (let payment, .recordRefund(let amountRefunded)) in effects {
                    // Only the payment that delivered the order speaks for the order's refunds.
                    guard payment.kind == .order, let orderId = payment.orderId,
                        payment.fulfilled || fulfilled.contains(payment.id)
                    else { continue }
                    try await orders.recordRefund(
                        id: orderId, amountRefunded: amountRefunded,
                        status: OrderStatus.afterRefund(amountRefunded, of: payment.amount), now: now, on: db)
                }
            case .flagDispute:
                for (payment, _) in effects {
                    try await payments.flagDispute(id: payment.id, on: db)
                    logger.warning("payment disputed", metadata: ["payment.id": "\(payment.id)"])
                }
            case .recordFailure:
                for case (let payment, .recordFailure(let code, let message)) in effects {
                    try await payments.recordFailure(id: payment.id, code: code, message: message, on: db)
                }
            }
        }
    }

    /// Delivers what each payment paid for; returns the ids of those delivered. An order still `PENDING` becomes
    /// `PAID` (one statement for all of them); one cancelled meanwhile takes its stock again if it is there; one paid
    /// already through another payment, a plan payment without its plan: not delivered, so the money goes back.
    private func fulfil(_ paid: [Payment], now: Int, on db: any SQLDatabase) async throws -> Set<String> {
        var delivered = Set<String>()
        // Users before products, as in every transaction that takes both (orders lock the buyer's row, then stock).
        for payment in paid where payment.kind == .plan {
            guard let planId = payment.planId,
                try await UserRepository().grantPlan(userId: payment.userId, planId: planId, on: db)
            else {
                logger.warning(
                    "plan payment without its plan; refunding",
                    metadata: ["payment.id": "\(payment.id)", "plan.id": "\(payment.planId ?? "")"])
                continue
            }
            logger.info("plan granted", metadata: ["payment.id": "\(payment.id)", "plan.id": "\(planId)"])
            delivered.insert(payment.id)
        }
        let orderPayments = paid.filter { $0.kind == .order && $0.orderId != nil }
        let orderIds = orderPayments.compactMap(\.orderId)
        try await db.lockInOrder("orders", ids: orderIds, kind: database.kind)
        var nowPaid = try await orders.markPaid(ids: orderIds, from: .pending, now: now, kind: database.kind, on: db)
        for payment in orderPayments {
            guard let orderId = payment.orderId else { continue }
            if nowPaid.remove(orderId) != nil {
                logger.info("order paid", metadata: ["order.id": "\(orderId)", "payment.id": "\(payment.id)"])
                delivered.insert(payment.id)
            } else if try await revive(orderId: orderId, payment: payment, now: now, on: db) {
                delivered.insert(payment.id)
            }
        }
        return delivered
    }

    /// A success for an order that is not pending: paid already through another payment (a double payment: refund
    /// this one), or cancelled (take the stock again if it is there, else refund).
    private func revive(orderId: String, payment: Payment, now: Int, on db: any SQLDatabase) async throws -> Bool {
        guard let order = try await orders.find(id: orderId, userId: nil, on: db), order.status == .cancelled else {
            logger.warning(
                "order already paid by another payment; refunding this one",
                metadata: ["order.id": "\(orderId)", "payment.id": "\(payment.id)"])
            return false
        }
        // The order's row is taken before its products' (orders before stock, everywhere).
        guard
            try await !orders.markPaid(ids: [orderId], from: .cancelled, now: now, kind: database.kind, on: db).isEmpty
        else {
            return false
        }
        var reserved: [OrderItem] = []
        for item in OrderRepository.lockOrder(order.items) {
            if try await catalog.reserve(productId: item.productId, quantity: item.quantity, now: now, on: db) {
                reserved.append(item)
                continue
            }
            for r in reserved {
                try await catalog.release(productId: r.productId, quantity: r.quantity, now: now, on: db)
            }
            try await orders.restoreCancelled(order, on: db)
            logger.warning(
                "late payment for a cancelled order and no stock left; refunding",
                metadata: ["order.id": "\(orderId)", "payment.id": "\(payment.id)"])
            return false
        }
        logger.info(
            "late payment revived a cancelled order",
            metadata: ["order.id": "\(orderId)", "payment.id": "\(payment.id)"])
        return true
    }

    /// Cancels the payments' orders, their stock released, unless another payment of the order holds it.
    private func cancelOrdersUnlessOtherPayment(_ ended: [Payment], now: Int, on db: any SQLDatabase) async throws {
        var orderIds: [String] = []
        for payment in ended where payment.kind == .order {
            guard let orderId = payment.orderId else { continue }
            if try await !payments.otherHoldingOrder(orderId: orderId, except: payment.id, on: db) {
                orderIds.append(orderId)
            }
        }
        for orderId in try await orders.cancelReleasingStock(ids: orderIds, now: now, kind: database.kind, on: db)
            .sorted()
        {
            logger.info("order cancelled after its payment ended", metadata: ["order.id": "\(orderId)"])
        }
    }

    /// The payments the lookups name, by Till's id first, then by Stripe's ids for those not found by it.
    private func load(_ lookups: [StripeFacts.Lookup], on db: any SQLDatabase) async throws -> Loaded {
        var loaded = Loaded()
        loaded.add(try await payments.find(.id, in: Set(lookups.compactMap(\.paymentId)), on: db))
        let rest = lookups.filter { $0.paymentId.flatMap { loaded.byId[$0] } == nil }
        loaded.add(try await payments.find(.checkoutSessionId, in: Set(rest.compactMap(\.sessionId)), on: db))
        loaded.add(try await payments.find(.paymentIntentId, in: Set(rest.compactMap(\.paymentIntentId)), on: db))
        return loaded
    }

    /// Payments by Till's id and by Stripe's ids, as the batch's decisions leave them.
    struct Loaded {
        var byId: [String: Payment] = [:]
        var bySession: [String: String] = [:]
        var byIntent: [String: String] = [:]

        mutating func add(_ rows: [Payment]) {
            for p in rows { update(p) }
        }

        mutating func update(_ p: Payment) {
            byId[p.id] = p
            if let s = p.checkoutSessionId { bySession[s] = p.id }
            if let i = p.paymentIntentId { byIntent[i] = p.id }
        }

        func resolve(_ lookup: StripeFacts.Lookup) -> Payment? {
            if let id = lookup.paymentId, let p = byId[id] { return p }
            if let id = lookup.sessionId.flatMap({ bySession[$0] }) { return byId[id] }
            if let id = lookup.paymentIntentId.flatMap({ byIntent[$0] }) { return byId[id] }
            return nil
        }
    }
}

extension PaymentFact {
    /// Reports something that happens to money already taken (a refund, a dispute).
    var followsSuccess: Bool {
        switch self {
        case .refunded, .disputed, .refundFailed: true
        default: false
        }
    }
}

extension PaymentEffect {
    /// The effect's kind, without its values.
    var kind: String {
        switch self {
        case .fulfil: "fulfil"
        case .cancelOrderUnlessOtherPayment: "cancel"
        case .recordRefund: "refund"
        case .flagDispute: "dispute"
        case .recordFailure: "failure"
        case .readRefundsBack: "read-refunds"
        }
    }
}
