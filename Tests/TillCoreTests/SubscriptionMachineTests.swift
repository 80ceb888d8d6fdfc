import Testing
import TillCore

@Suite("Subscription state machine")
struct SubscriptionMachineTests {
    static func stripe(_ status: String, start: Int = 1000, end: Int = 2000, cancelAtPeriodEnd: Bool = false)
        -> StripeSubscription
    {
        StripeSubscription(
            id: "sub_1", status: status, currentPeriodStart: start, currentPeriodEnd: end,
            cancelAtPeriodEnd: cancelAtPeriodEnd, canceledAt: status == "canceled" ? 1000 : nil,
            endedAt: status == "canceled" ? 1000 : nil)
    }

    static let completed = SubscriptionFact.checkoutCompleted(stripeSubscriptionId: "sub_1", paid: true, at: 1000)
    static let expired = SubscriptionFact.checkoutExpired(at: 1000)
    static let active = SubscriptionFact.reported(stripe("active"), at: 1000)
    static let pastDue = SubscriptionFact.reported(stripe("past_due"), at: 1000)
    static let canceled = SubscriptionFact.reported(stripe("canceled"), at: 1000)
    static let deleted = SubscriptionFact.deleted(stripe("canceled"), at: 1000)
    static let paid = SubscriptionFact.invoicePaid(invoiceId: "in_1", amount: 900, currency: "usd", at: 1000)
    static let failed = SubscriptionFact.invoicePaymentFailed(
        invoiceId: "in_1", attempt: "evt_1", amount: 900, currency: "usd", at: 1000)
    /// Older than the newest event applied (900 in every starting state).
    static let stalePastDue = SubscriptionFact.reported(stripe("past_due"), at: 800)
    static let staleActive = SubscriptionFact.reported(stripe("active"), at: 800)
    static let readPastDue = SubscriptionFact.reported(stripe("past_due"), at: nil)
    static let invoiced = SubscriptionFact.invoicedPeriod(start: 1000, end: 2000)

    static let recordPaid = SubscriptionEffect.recordPaidInvoice(invoiceId: "in_1", amount: 900, currency: "usd")
    static let recordFailed = SubscriptionEffect.recordFailedAttempt(
        invoiceId: "in_1", attempt: "evt_1", amount: 900, currency: "usd")

    struct Row: Sendable, CustomTestStringConvertible {
        let from: SubscriptionStatus
        let fact: SubscriptionFact
        let to: SubscriptionStatus
        let effects: [SubscriptionEffect]
        var testDescription: String { "\(from.rawValue) + \(fact) → \(to.rawValue)" }
    }

    /// Every fact against every status.
    static let table: [Row] = {
        var rows: [Row] = [
            // INCOMPLETE: the checkout's subscription, not paid yet
            Row(from: .incomplete, fact: completed, to: .active, effects: [.grantPlan]),
            Row(from: .incomplete, fact: expired, to: .incompleteExpired, effects: []),
            Row(from: .incomplete, fact: active, to: .active, effects: [.grantPlan]),
            Row(from: .incomplete, fact: pastDue, to: .pastDue, effects: [.grantPlan]),
            Row(from: .incomplete, fact: canceled, to: .canceled, effects: []),
            Row(from: .incomplete, fact: deleted, to: .canceled, effects: []),
            Row(from: .incomplete, fact: paid, to: .active, effects: [recordPaid, .grantPlan]),
            Row(from: .incomplete, fact: failed, to: .incomplete, effects: [recordFailed]),
            Row(from: .incomplete, fact: stalePastDue, to: .incomplete, effects: []),
            Row(from: .incomplete, fact: staleActive, to: .incomplete, effects: []),
            Row(from: .incomplete, fact: readPastDue, to: .pastDue, effects: [.grantPlan]),
            Row(from: .incomplete, fact: invoiced, to: .incomplete, effects: []),
            // ACTIVE
            Row(from: .active, fact: completed, to: .active, effects: []),
            Row(from: .active, fact: expired, to: .active, effects: []),
            Row(from: .active, fact: active, to: .active, effects: []),
            Row(from: .active, fact: pastDue, to: .pastDue, effects: []),
            Row(from: .active, fact: canceled, to: .canceled, effects: [.clearPlan]),
            Row(from: .active, fact: deleted, to: .canceled, effects: [.clearPlan]),
            Row(from: .active, fact: paid, to: .active, effects: [recordPaid]),
            Row(from: .active, fact: failed, to: .pastDue, effects: [recordFailed]),
            Row(from: .active, fact: stalePastDue, to: .active, effects: []),
            Row(from: .active, fact: staleActive, to: .active, effects: []),
            Row(from: .active, fact: readPastDue, to: .pastDue, effects: []),
            Row(from: .active, fact: invoiced, to: .active, effects: []),
            // PAST_DUE: a renewal failed, Stripe retries
            Row(from: .pastDue, fact: completed, to: .pastDue, effects: []),
            Row(from: .pastDue, fact: expired, to: .pastDue, effects: []),
            Row(from: .pastDue, fact: active, to: .active, effects: []),
            Row(from: .pastDue, fact: pastDue, to: .pastDue, effects: []),
            Row(from: .pastDue, fact: canceled, to: .canceled, effects: [.clearPlan]),
            Row(from: .pastDue, fact: deleted, to: .canceled, effects: [.clearPlan]),
            Row(from: .pastDue, fact: paid, to: .active, effects: [recordPaid]),
            Row(from: .pastDue, fact: failed, to: .pastDue, effects: [recordFailed]),
            Row(from: .pastDue, fact: stalePastDue, to: .pastDue, effects: []),
            Row(from: .pastDue, fact: staleActive, to: .pastDue, effects: []),
            Row(from: .pastDue, fact: readPastDue, to: .pastDue, effects: []),
            Row(from: .pastDue, fact: invoiced, to: .pastDue, effects: []),
        ]
        // The ends are final: only money already taken (or refused) is still recorded.
        for end in [SubscriptionStatus.canceled, .incompleteExpired] {
            for fact in [
                completed, expired, active, pastDue, canceled, deleted, stalePastDue, staleActive, readPastDue,
                invoiced,
            ] {
                rows.append(Row(from: end, fact: fact, to: end, effects: []))
            }
            rows.append(Row(from: end, fact: paid, to: end, effects: [recordPaid]))
            rows.append(Row(from: end, fact: failed, to: end, effects: [recordFailed]))
        }
        return rows
    }()

    static func state(_ status: SubscriptionStatus) -> SubscriptionState {
        SubscriptionState(
            status: status, stripeSubscriptionId: status == .incomplete ? nil : "sub_1", currentPeriodStart: 0,
            currentPeriodEnd: 1000, lastEventAt: 900)
    }

    @Test("every fact against every status", arguments: table)
    func row(_ row: Row) {
        let decision = SubscriptionMachine.decide(Self.state(row.from), row.fact)
        #expect((decision.state?.status ?? row.from) == row.to)
        #expect(decision.effects == row.effects)
    }

    @Test func tableCoversEveryStatusAndFact() {
        #expect(Set(Self.table.map(\.from)) == Set(SubscriptionStatus.allCases))
        for status in SubscriptionStatus.allCases {
            #expect(Self.table.filter { $0.from == status }.count == 12)
        }
    }

    @Test func endedSubscriptionsNeverChange() {
        for end in [SubscriptionStatus.canceled, .incompleteExpired] {
            for row in Self.table where row.from == end {
                #expect(SubscriptionMachine.decide(Self.state(end), row.fact).state == nil)
            }
        }
    }

    @Test func reportedCopiesPeriodAndCancellation() {
        let fact = SubscriptionFact.reported(
            Self.stripe("active", start: 2000, end: 3000, cancelAtPeriodEnd: true), at: 2000)
        let next = SubscriptionMachine.decide(Self.state(.active), fact).state
        #expect(next?.currentPeriodStart == 2000)
        #expect(next?.currentPeriodEnd == 3000)
        #expect(next?.cancelAtPeriodEnd == true)
        #expect(next?.lastEventAt == 2000)
    }

    @Test func aCancellationTakenBackClearsItsTime() {
        var cancelling = Self.state(.active)
        cancelling.cancelAtPeriodEnd = true
        cancelling.canceledAt = 950
        let resumed = SubscriptionMachine.decide(cancelling, .reported(Self.stripe("active"), at: 1000)).state
        #expect(resumed?.cancelAtPeriodEnd == false)
        #expect(resumed?.canceledAt == nil)
        // An end that does not say when it was asked for keeps the time already known.
        let ended = SubscriptionMachine.decide(
            cancelling,
            .deleted(
                StripeSubscription(
                    id: "sub_1", status: "canceled", currentPeriodStart: 0, currentPeriodEnd: 1000,
                    cancelAtPeriodEnd: true, canceledAt: nil, endedAt: 1000),
                at: 1000)
        ).state
        #expect(ended?.status == .canceled && ended?.canceledAt == 950)
    }

    @Test func anInvoicesPeriodOnlyMovesThePeriodForward() {
        let newer = SubscriptionMachine.decide(Self.state(.active), .invoicedPeriod(start: 1000, end: 2000)).state
        #expect(newer?.currentPeriodStart == 1000)
        #expect(newer?.currentPeriodEnd == 2000)
        #expect(newer?.status == .active)
        #expect(SubscriptionMachine.decide(Self.state(.active), .invoicedPeriod(start: 0, end: 500)) == .nothing)
        #expect(SubscriptionMachine.decide(Self.state(.canceled), .invoicedPeriod(start: 1000, end: 2000)) == .nothing)
    }

    @Test("two reports of one second that disagree: the later-delivered is applied and checked against Stripe")
    func sameSecondDisagreementIsReadBack() {
        var state = Self.state(.active)
        state.lastEventAt = 1000
        let cancel = SubscriptionFact.reported(Self.stripe("active", cancelAtPeriodEnd: true), at: 1000)
        let decision = SubscriptionMachine.decide(state, cancel)
        #expect(decision.state?.cancelAtPeriodEnd == true)
        #expect(decision.effects == [.readBack])
        // What Stripe says when read is never stale and asks for no further read.
        let read = SubscriptionMachine.decide(
            decision.state ?? state, .reported(Self.stripe("active", cancelAtPeriodEnd: false), at: nil))
        #expect(read.state?.cancelAtPeriodEnd == false)
        #expect(read.effects.isEmpty)
        // The same report again (a copy), or one of a later second, needs no read.
        #expect(SubscriptionMachine.decide(decision.state ?? state, cancel).effects.isEmpty)
        let later = SubscriptionFact.reported(Self.stripe("active", cancelAtPeriodEnd: false), at: 1001)
        #expect(SubscriptionMachine.decide(decision.state ?? state, later).effects.isEmpty)
        // A report of the same second that only fills in the period (a new subscription's first events, a renewal)
        // needs none either.
        #expect(
            SubscriptionMachine.decide(state, .reported(Self.stripe("active", start: 1000, end: 3000), at: 1000))
                .effects.isEmpty)
        var new = state
        new.currentPeriodEnd = nil
        #expect(SubscriptionMachine.decide(new, cancel).effects.isEmpty)
    }

    @Test func aCopyOfAnEventDecidesNothingNew() {
        let once = SubscriptionMachine.decide(Self.state(.active), Self.pastDue)
        let twice = SubscriptionMachine.decide(once.state ?? Self.state(.active), Self.pastDue)
        #expect(twice.state == nil)
        #expect(twice.effects.isEmpty)
    }

    /// Folds `facts` from `start`; returns the end state, the invoices recorded paid, and whether the user holds the
    /// plan (granted and cleared as the effects say).
    static func run(_ start: SubscriptionState, _ facts: [SubscriptionFact], hasPlan: Bool) -> (
        SubscriptionState, Set<String>, Bool
    ) {
        var state = start
        var invoices = Set<String>()
        var plan = hasPlan
        for fact in facts {
            let decision = SubscriptionMachine.decide(state, fact)
            state = decision.state ?? state
            for effect in decision.effects {
                switch effect {
                case .recordPaidInvoice(let id, _, _): invoices.insert(id)
                case .grantPlan: plan = true
                case .clearPlan: plan = false
                case .recordFailedAttempt, .readBack: break
                }
            }
        }
        return (state, invoices, plan)
    }

    static func permutations<T>(_ items: [T]) -> [[T]] {
        guard items.count > 1 else { return [items] }
        return items.indices.flatMap { i in
            var rest = items
            let first = rest.remove(at: i)
            return permutations(rest).map { [first] + $0 }
        }
    }

    static let day = 86_400

    struct Story: Sendable, CustomTestStringConvertible {
        let name: String
        let from: SubscriptionStatus
        let facts: [SubscriptionFact]
        let to: SubscriptionStatus
        let invoices: Set<String>
        var testDescription: String { name }
    }

    static func paid(_ invoice: String, at: Int) -> SubscriptionFact {
        .invoicePaid(invoiceId: invoice, amount: 900, currency: "usd", at: at)
    }

    static func failed(_ invoice: String, attempt: String, at: Int) -> SubscriptionFact {
        .invoicePaymentFailed(invoiceId: invoice, attempt: attempt, amount: 900, currency: "usd", at: at)
    }

    static let stories: [Story] = [
        // The first checkout: created, invoice paid, session completed (Stripe sends them in any order).
        Story(
            name: "subscribe", from: .incomplete,
            facts: [
                .reported(stripe("active", start: 1000, end: 2000), at: 1000), paid("in_1", at: 1000),
                .checkoutCompleted(stripeSubscriptionId: "sub_1", paid: true, at: 1000), paid("in_1", at: 1000),
            ], to: .active, invoices: ["in_1"]),
        // A renewal: the period moves on, its invoice is paid (and delivered twice).
        Story(
            name: "renewal", from: .active,
            facts: [
                .reported(stripe("active", start: 2000, end: 3000), at: 2000), paid("in_2", at: 2000),
                paid("in_2", at: 2000),
            ], to: .active, invoices: ["in_2"]),
        // A failed renewal, then a retry that pays.
        Story(
            name: "failed then paid", from: .active,
            facts: [
                .reported(stripe("past_due", start: 2000, end: 3000), at: 2000),
                failed("in_2", attempt: "evt_f1", at: 2000),
                paid("in_2", at: 2000 + 3 * day),
                .reported(stripe("active", start: 2000, end: 3000), at: 2000 + 3 * day),
            ], to: .active, invoices: ["in_2"]),
        // A renewal that fails, all in one second: the new period's `active`, the failure, `past_due`.
        Story(
            name: "renewal failed in one second", from: .active,
            facts: [
                .reported(stripe("active", start: 2000, end: 3000), at: 2000),
                failed("in_2", attempt: "evt_f1", at: 2000),
                .reported(stripe("past_due", start: 2000, end: 3000), at: 2000),
            ], to: .pastDue, invoices: []),
        // Cancelled at the period's end: deleted before the last invoice's news arrives.
        Story(
            name: "deleted before paid", from: .active,
            facts: [
                .reported(stripe("active", cancelAtPeriodEnd: true), at: 1500), paid("in_1", at: 1000),
                .deleted(stripe("canceled"), at: 2000),
            ], to: .canceled, invoices: ["in_1"]),
        // Retries exhausted: the last failure, then the deletion, and an older update.
        Story(
            name: "retries exhausted", from: .pastDue,
            facts: [
                failed("in_2", attempt: "evt_f4", at: 2000 + 7 * day), .deleted(stripe("canceled"), at: 2000 + 7 * day),
                .reported(stripe("past_due", start: 2000, end: 3000), at: 2000 + 5 * day),
            ], to: .canceled, invoices: []),
    ]

    /// One subscription's events in every order end in the same place: the newest state wins, every paid invoice
    /// is recorded, and the user holds the plan exactly when the subscription is live.
    @Test(arguments: stories)
    func everyOrdering(_ story: Story) {
        let (name, from, facts, to, invoices) = (story.name, story.from, story.facts, story.to, story.invoices)

        var start = Self.state(from)
        start.lastEventAt = from == .incomplete ? nil : 1000
        var ends = Set<String>()
        for order in Self.permutations(facts) {
            let (end, paid, hasPlan) = Self.run(start, order, hasPlan: from.isLive)
            #expect(end.status == to, "\(name): \(order)")
            #expect(paid == invoices, "\(name): \(order)")
            #expect(hasPlan == to.isLive, "\(name): \(order)")
            ends.insert("\(end.status) \(end.currentPeriodEnd ?? 0) \(end.cancelAtPeriodEnd)")
        }
        #expect(ends.count == 1, "\(name): every ordering ends alike, got \(ends)")
    }
}
