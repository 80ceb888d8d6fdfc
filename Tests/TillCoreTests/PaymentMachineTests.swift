import Testing
import TillCore

@Suite("Payment state machine")
struct PaymentMachineTests {
    static let paid = PaymentFact.succeeded(amount: 1999, currency: "usd")
    static let facts: [PaymentFact] = [
        paid, .processing, .failed(code: "card_declined", message: "Declined", final: false),
        .failed(code: "async_payment_failed", message: nil, final: true), .canceled, .refunded(amountRefunded: 500),
        .refunded(amountRefunded: 1999), .disputed, .succeeded(amount: 1000, currency: "usd"),
        .succeeded(amount: 1999, currency: "eur"),
        .reviewAccepted, .reviewRefunded, .refusedByStripe(code: "url_invalid", message: "Not a valid URL"),
        .refundFailed,
        .refundsRead(amountRefunded: 0, seen: PaymentState(status: .refunded, amount: 1999, currency: "usd")),
    ]

    func state(_ status: PaymentStatus, refunded: Int = 0) -> PaymentState {
        PaymentState(status: status, amount: 1999, currency: "usd", amountRefunded: refunded)
    }

    struct Row: Sendable, CustomTestStringConvertible {
        let from: PaymentStatus
        let fact: PaymentFact
        let to: PaymentStatus?
        let effects: [PaymentEffect]
        var testDescription: String { "\(from.rawValue) + \(fact) → \(to?.rawValue ?? "unchanged")" }
    }

    static let table: [Row] = [
        // checkout.session.completed (paid), async_payment_succeeded, payment_intent.succeeded
        Row(from: .initiated, fact: paid, to: .succeeded, effects: [.fulfil]),
        Row(from: .processing, fact: paid, to: .succeeded, effects: [.fulfil]),
        Row(from: .failed, fact: paid, to: .succeeded, effects: [.fulfil]),  // FAILED is not final while payable
        Row(from: .canceled, fact: paid, to: .succeeded, effects: [.fulfil]),  // late success: fulfil or refund
        Row(from: .succeeded, fact: paid, to: nil, effects: []),  // duplicates change nothing
        Row(from: .refunded, fact: paid, to: nil, effects: []),
        Row(from: .requiresReview, fact: paid, to: nil, effects: []),
        // amount or currency differs from the order
        Row(from: .initiated, fact: .succeeded(amount: 1000, currency: "usd"), to: .requiresReview, effects: []),
        Row(from: .initiated, fact: .succeeded(amount: 1999, currency: "eur"), to: .requiresReview, effects: []),
        // checkout.session.completed (unpaid)
        Row(from: .initiated, fact: .processing, to: .processing, effects: []),
        Row(from: .succeeded, fact: .processing, to: nil, effects: []),
        // payment_intent.payment_failed never cancels the order
        Row(
            from: .initiated, fact: .failed(code: "card_declined", message: "Declined", final: false), to: .failed,
            effects: [.recordFailure(code: "card_declined", message: "Declined")]),
        Row(
            from: .succeeded, fact: .failed(code: "card_declined", message: "Declined", final: false), to: nil,
            effects: []),
        // checkout.session.async_payment_failed cancels it
        Row(
            from: .processing, fact: .failed(code: "async_payment_failed", message: nil, final: true), to: .failed,
            effects: [.recordFailure(code: "async_payment_failed", message: nil), .cancelOrderUnlessOtherPayment]),
        // checkout.session.expired, payment_intent.canceled
        Row(from: .initiated, fact: .canceled, to: .canceled, effects: [.cancelOrderUnlessOtherPayment]),
        Row(from: .failed, fact: .canceled, to: .canceled, effects: [.cancelOrderUnlessOtherPayment]),
        Row(from: .succeeded, fact: .canceled, to: nil, effects: []),  // PAID never goes back
        Row(from: .canceled, fact: .canceled, to: nil, effects: []),
        // charge.refunded
        Row(
            from: .succeeded, fact: .refunded(amountRefunded: 500), to: .partiallyRefunded,
            effects: [.recordRefund(amountRefunded: 500)]),
        Row(
            from: .succeeded, fact: .refunded(amountRefunded: 1999), to: .refunded,
            effects: [.recordRefund(amountRefunded: 1999)]),
        Row(from: .initiated, fact: .refunded(amountRefunded: 500), to: nil, effects: []),
        // refund.failed, charge.refund.updated (failed): the charge is read back
        Row(from: .refunded, fact: .refundFailed, to: nil, effects: [.readRefundsBack]),
        Row(from: .requiresReview, fact: .refundFailed, to: nil, effects: [.readRefundsBack]),
        Row(from: .initiated, fact: .refundFailed, to: nil, effects: []),
        // charge.dispute.created
        Row(from: .succeeded, fact: .disputed, to: nil, effects: [.flagDispute]),
        Row(from: .initiated, fact: .disputed, to: nil, effects: []),
        // an admin settles money under review: accepted, it delivers the order; refunded, the order is let go
        Row(from: .requiresReview, fact: .reviewAccepted, to: .succeeded, effects: [.fulfil]),
        Row(from: .requiresReview, fact: .reviewRefunded, to: .refunded, effects: [.cancelOrderUnlessOtherPayment]),
        Row(from: .succeeded, fact: .reviewAccepted, to: nil, effects: []),
        Row(from: .initiated, fact: .reviewRefunded, to: nil, effects: []),
        Row(from: .requiresReview, fact: .canceled, to: nil, effects: []),  // the sweep never ends money under review
        // money under review given back or disputed at Stripe meanwhile: recorded, so it cannot be accepted after
        Row(
            from: .requiresReview, fact: .refunded(amountRefunded: 500), to: nil,
            effects: [.recordRefund(amountRefunded: 500)]),
        Row(from: .requiresReview, fact: .disputed, to: nil, effects: [.flagDispute]),
        // Stripe refused to open the session: the payment ends, the order stays payable
        Row(
            from: .initiated, fact: .refusedByStripe(code: "url_invalid", message: "Not a valid URL"), to: .canceled,
            effects: [.recordFailure(code: "url_invalid", message: "Not a valid URL")]),
    ]

    @Test("every row of the contract's table", arguments: table)
    func row(_ row: Row) {
        let decision = PaymentMachine.decide(state(row.from), row.fact)
        #expect(decision.status == row.to)
        #expect(decision.effects == row.effects)
    }

    @Test("money under review that is given back, being given back or disputed cannot be accepted")
    func acceptanceNeedsAllTheMoney() {
        let review = state(.requiresReview)
        #expect(PaymentMachine.decide(review, .reviewAccepted).status == .succeeded)
        var claimed = review
        claimed.refundRequested = review.amount
        #expect(PaymentMachine.decide(claimed, .reviewAccepted) == .nothing)
        var refunded = review
        refunded.amountRefunded = 1
        #expect(PaymentMachine.decide(refunded, .reviewAccepted) == .nothing)
        var disputed = review
        disputed.disputed = true
        #expect(PaymentMachine.decide(disputed, .reviewAccepted) == .nothing)
        // The refund under review still ends a claimed payment.
        #expect(PaymentMachine.decide(claimed, .reviewRefunded).status == .refunded)
    }

    @Test("a refund that failed: the charge read back lowers what is refunded, and what is asked for with it")
    func failedRefundReadBack() {
        var refunded = PaymentState(
            status: .refunded, amount: 1999, currency: "usd", amountRefunded: 1999, refundRequested: 1999,
            fulfilled: true)
        let back = PaymentMachine.decide(refunded, .refundsRead(amountRefunded: 0, seen: refunded))
        #expect(
            back
                == PaymentDecision(
                    status: .succeeded, amountRefunded: 0, refundRequested: 0,
                    effects: [.recordRefund(amountRefunded: 0)]))
        let partly = PaymentMachine.decide(refunded, .refundsRead(amountRefunded: 500, seen: refunded))
        #expect(partly.status == .partiallyRefunded && partly.amountRefunded == 500 && partly.refundRequested == 500)
        // A read begun before a refund was reported, or asked for, is stale: nothing.
        var before = refunded
        before.amountRefunded = 500
        #expect(PaymentMachine.decide(refunded, .refundsRead(amountRefunded: 0, seen: before)) == .nothing)
        before = refunded
        before.refundRequested = 1000
        #expect(PaymentMachine.decide(refunded, .refundsRead(amountRefunded: 0, seen: before)) == .nothing)
        // The same as recorded: nothing.
        #expect(PaymentMachine.decide(refunded, .refundsRead(amountRefunded: 1999, seen: refunded)) == .nothing)
        // A refund that failed before its charge.refunded came: only what was asked for goes.
        refunded.status = .succeeded
        refunded.amountRefunded = 0
        let asked = PaymentMachine.decide(refunded, .refundsRead(amountRefunded: 0, seen: refunded))
        #expect(asked.refundRequested == 0 && asked.status == .succeeded)
        // Money given back because nothing was delivered for it: an admin decides, no refund loop.
        let undelivered = PaymentState(
            status: .refunded, amount: 1999, currency: "usd", amountRefunded: 1999, refundRequested: 1999)
        #expect(
            PaymentMachine.decide(undelivered, .refundsRead(amountRefunded: 0, seen: undelivered))
                == PaymentDecision(status: .requiresReview, amountRefunded: 0, refundRequested: 0))
        // Under review, what is asked for stays (it keeps the money from being accepted).
        let review = PaymentState(
            status: .requiresReview, amount: 1999, currency: "usd", amountRefunded: 1999, refundRequested: 1999)
        let reviewed = PaymentMachine.decide(review, .refundsRead(amountRefunded: 0, seen: review))
        #expect(reviewed.status == nil && reviewed.amountRefunded == 0 && reviewed.refundRequested == nil)
        #expect(
            PaymentMachine.decide(state(.initiated), .refundsRead(amountRefunded: 0, seen: state(.initiated)))
                == .nothing)
    }

    @Test("refunds only grow, and a repeated total changes nothing")
    func refundsGrow() {
        let partial = state(.partiallyRefunded, refunded: 500)
        #expect(PaymentMachine.decide(partial, .refunded(amountRefunded: 500)) == .nothing)
        #expect(PaymentMachine.decide(partial, .refunded(amountRefunded: 300)) == .nothing)
        let more = PaymentMachine.decide(partial, .refunded(amountRefunded: 1200))
        #expect(more.status == .partiallyRefunded)
        #expect(more.amountRefunded == 1200)
        #expect(PaymentMachine.decide(state(.refunded, refunded: 1999), .refunded(amountRefunded: 1999)) == .nothing)
    }

    @Test(
        "a paid payment never becomes unpaid, whatever comes after",
        arguments: [PaymentStatus.succeeded, .partiallyRefunded, .refunded])
    func monotonic(status: PaymentStatus) {
        for fact in Self.facts {
            if let next = PaymentMachine.decide(state(status, refunded: status == .succeeded ? 0 : 500), fact).status {
                #expect(next.isPaid, "\(status) + \(fact) → \(next)")
            }
        }
    }

    /// Every order of the events one checkout payment can see: whatever the order, it fulfils at most once, ends
    /// paid if a success came, and is never both fulfilled and cancelled by these events.
    @Test("every ordering of one payment's events fulfils once")
    func orderings() {
        let events: [PaymentFact] = [
            .failed(code: "card_declined", message: nil, final: false), Self.paid, Self.paid, .canceled, .processing,
        ]
        for permutation in permutations(events) {
            var s = state(.initiated)
            var fulfilments = 0
            for fact in permutation {
                let decision = PaymentMachine.decide(s, fact)
                fulfilments += decision.effects.filter { $0 == .fulfil }.count
                if let next = decision.status { s.status = next }
                if let refunded = decision.amountRefunded { s.amountRefunded = refunded }
            }
            #expect(fulfilments == 1, "\(permutation)")
            #expect(s.status == .succeeded, "\(permutation)")
        }
    }

    func permutations<T>(_ items: [T]) -> [[T]] {
        guard items.count > 1 else { return [items] }
        return items.indices.flatMap { index -> [[T]] in
            var rest = items
            let head = rest.remove(at: index)
            return permutations(rest).map { [head] + $0 }
        }
    }
}
