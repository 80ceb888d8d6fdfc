import Foundation
import Logging
import SQLKit
import StripeAPI
import TillCore

/// Subscriptions to recurring plans: Checkout in `subscription` mode for the user's one Stripe Customer, reading,
/// cancelling and resuming, and the billing portal. Whatever Stripe answers is applied through the settlement
/// applier, as if it came by webhook, so there is one way a subscription changes.
struct SubscriptionService: Sendable {
    let database: any Database
    let stripe: StripeClient
    let settlement: SettlementService
    let config: AppConfig
    let clock: TillClock
    let logger: Logger
    let recentSyncs: RecentSyncs
    let stripeBudget = StripeCallBudget()
    /// One checkout of a user's at a time in this process: concurrent clicks on several plans then each close the
    /// last one's session in turn, instead of closing each other's until one gives up with 503 `busy`. (Instances
    /// sharing PostgreSQL are ordered by the user's row lock and the retries below.)
    let checkouts = KeyedAsyncLock()
    let subscriptions = SubscriptionRepository()
    let users = UserRepository()
    let catalog = CatalogRepository()

    struct CheckoutResponse: Encodable, Sendable {
        let url: String
        let sessionId: String
        let subscriptionId: String
        let expiresAt: String
    }

    struct PortalResponse: Encodable, Sendable {
        let url: String
    }

    // MARK: Checkout

    /// Opens (or finds again) the Checkout Session that starts a subscription to `plan`. The subscription's row is
    /// stored `INCOMPLETE` first, and its id keys the Stripe call, so a retry or a second click finds the same session.
    func checkout(plan: Plan, identity: Identity) async throws -> (created: Bool, CheckoutResponse) {
        try await checkouts.withLock(identity.userId) { try await checkout(plan: plan, identity: identity, attempt: 1) }
    }

    private func checkout(plan: Plan, identity: Identity, attempt: Int) async throws -> (
        created: Bool, CheckoutResponse
    ) {
        let customerId = try await customer(userId: identity.userId)
        let now = clock.nowMillis()
        let candidate = Subscription(id: IDs.make(), userId: identity.userId, planId: plan.id, now: now)
        var current = try await database.transaction { db in
            // The user's row first: one checkout of theirs at a time decides whether there is one already.
            if database.kind == .postgres {
                try await db.raw("SELECT id FROM users WHERE id = \(bind: identity.userId) FOR UPDATE").run()
            }
            if let current = try await subscriptions.current(userId: identity.userId, on: db) { return current }
            try await subscriptions.insert(candidate, on: db)
            return candidate
        }
        if current.status.isLive {
            throw TillError(.alreadySubscribed, "You already have a subscription (\(current.status.rawValue))")
        }
        if current.id == candidate.id {
            return (true, try await openSession(current, plan: plan, customer: customerId))
        }
        // An incomplete subscription of this user: its session, found again (its id keys the call) if the request
        // that opened it has not recorded it yet.
        let opened = current.checkoutSessionId == nil
        if opened {
            let itsPlan = current.planId == plan.id ? plan : try await self.plan(current.planId)
            do {
                _ = try await openSession(current, plan: itsPlan, customer: customerId)
            } catch {
                // Refused by Stripe (its key older than Stripe's 24 hours, say): that checkout is over; start anew.
                guard attempt < 3, try await subscription(id: current.id).status == .incompleteExpired else {
                    throw error
                }
                return try await checkout(plan: plan, identity: identity, attempt: attempt + 1)
            }
            current = try await subscription(id: current.id)
        }
        // 201 when this request opened the session (a retry after Stripe failed, say), 200 when it found it open.
        if current.planId == plan.id, let open = reusable(current, now: now) { return (opened, open) }
        // A checkout for another plan (or one about to expire): closed first, so that two sessions can never both
        // be paid, then a new subscription.
        guard attempt < 3 else { throw TillError.busy }
        // Ending a session and opening another (switching plans back and forth) is counted like the portal, so a
        // looping client cannot spend the account's rate limit; a second click on the same plan is not.
        if attempt == 1 { try stripeBudget.spend(identity, now: clock.nowMillis()) }
        try await close(current)
        return try await checkout(plan: plan, identity: identity, attempt: attempt + 1)
    }

    /// Creates (or, by the subscription's id, finds again) the Checkout Session of an incomplete subscription and
    /// records it. A subscription closed meanwhile keeps no session: it is expired at Stripe at once.
    private func openSession(_ s: Subscription, plan: Plan, customer customerId: String) async throws
        -> CheckoutResponse
    {
        guard let priceId = plan.stripePriceId else {
            throw TillError(.internalError, "The recurring plan has no Stripe price")
        }
        let metadata = ["subscriptionId": s.id, "userId": s.userId, "planId": plan.id]
        let session: CheckoutSession.Summary
        do {
            session = try await stripe.createCheckoutSession(
                CheckoutSessionCreateParams(
                    mode: "subscription", customer: customerId, lineItems: [.init(price: priceId, quantity: 1)],
                    successUrl: "\(config.publicBaseURL)/checkout/success?session_id={CHECKOUT_SESSION_ID}",
                    cancelUrl: "\(config.publicBaseURL)/account", clientReferenceId: s.userId,
                    expiresAt: s.createdAt / 1000 + PaymentService.minimumSessionSeconds + 30 * 60,
                    metadata: metadata, subscriptionData: .init(metadata: metadata)),
                options: RequestOptions(idempotencyKey: s.id), as: CheckoutSession.Summary.self)
        } catch {
            if PaymentService.refused(error) {
                // Stripe refused (and replays the refusal for this key): nothing can be paid through this checkout.
                try await apply(s.id, [.checkoutExpired(at: nil)])
            }
            logger.error("Stripe call failed", metadata: ["subscription.id": "\(s.id)", "error": "\(error)"])
            throw PaymentService.stripeError(error)
        }
        guard let url = session.url, let expiresAt = StripeFacts.time(session.expiresAt) else {
            throw TillError(.stripeError, "Stripe returned a session without a URL or expiry")
        }
        let recorded = try await database.withConnection { db in
            try await subscriptions.attachSession(
                id: s.id, sessionId: session.id, url: url, expiresAt: expiresAt, now: clock.nowMillis(), on: db)
        }
        guard recorded else {
            _ = try? await stripe.expireCheckoutSession(session.id)
            throw TillError(.subscriptionNotActive, "This checkout was closed meanwhile; start again")
        }
        logger.info(
            "subscription checkout created",
            metadata: ["subscription.id": "\(s.id)", "stripe.session_id": "\(session.id)"])
        return CheckoutResponse(
            url: url, sessionId: session.id, subscriptionId: s.id, expiresAt: Timestamps.rfc3339(expiresAt * 1000))
    }

    /// The open session of an incomplete subscription, while it has more than a minute left.
    private func reusable(_ s: Subscription, now: Int) -> CheckoutResponse? {
        guard let sessionId = s.checkoutSessionId, let url = s.checkoutURL, let expiresAt = s.expiresAt,
            expiresAt > now / 1000 + 60
        else { return nil }
        return CheckoutResponse(
            url: url, sessionId: sessionId, subscriptionId: s.id, expiresAt: Timestamps.rfc3339(expiresAt * 1000))
    }

    /// Ends an incomplete subscription's checkout: its session is expired at Stripe, then read back and settled, so
    /// the subscription ends only once Stripe says the session can no longer be paid. One paid meanwhile makes the
    /// subscription live instead, and the user is subscribed.
    private func close(_ s: Subscription) async throws {
        var s = s
        if s.checkoutSessionId == nil {
            _ = try await openSession(s, plan: try await plan(s.planId), customer: try await customer(userId: s.userId))
            s = try await subscription(id: s.id)
        }
        if let sessionId = s.checkoutSessionId {
            do {
                _ = try await stripe.expireCheckoutSession(sessionId)
            } catch  where error.kind == .api && error.httpStatus == 400 {
                // Not open any more (complete or expired): what it became is read back below.
            } catch {
                throw PaymentService.stripeError(error)
            }
        }
        let after = try await sync(s)
        if after.status.isLive {
            throw TillError(.alreadySubscribed, "You already have a subscription (\(after.status.rawValue))")
        }
        if after.status == .incomplete {
            // Complete but not paid yet (a delayed payment method): it may still start.
            throw TillError(
                .alreadySubscribed, "Your previous checkout is still being paid; wait for it, then try again")
        }
    }

    private func plan(_ id: String) async throws -> Plan {
        guard let plan = try await database.withConnection({ db in try await catalog.plan(id: id, on: db) }) else {
            throw TillError.notFound("Plan")
        }
        return plan
    }

    private func subscription(id: String) async throws -> Subscription {
        guard let s = try await database.withConnection({ db in try await subscriptions.find(id: id, on: db) }) else {
            throw TillError.notFound("Subscription")
        }
        return s
    }

    /// The user's Stripe Customer, created on first need with their email and `metadata.userId`. The user's id keys
    /// the call, so two requests at once make one customer.
    func customer(userId: String) async throws -> String {
        let user = try await database.withConnection { db in try await users.find(id: userId, on: db) }
        guard let user else { throw TillError.notFound("User") }
        if let existing = user.stripeCustomerId { return existing }
        let created: Customer
        do {
            created = try await stripe.createCustomer(
                CustomerCreateParams(email: user.email, metadata: ["userId": user.id]),
                options: RequestOptions(idempotencyKey: "till-customer-\(user.id)"))
        } catch {
            throw PaymentService.stripeError(error)
        }
        let recorded = try await database.withConnection { db in
            try await users.setStripeCustomer(userId: user.id, customerId: created.id, on: db)
        }
        return recorded ?? created.id
    }

    // MARK: Reading

    func subscription(id: String, identity: Identity) async throws -> Subscription {
        let found = try await database.withConnection { db in try await subscriptions.find(id: id, on: db) }
        guard let found, identity.isAdmin || found.userId == identity.userId else {
            throw TillError.notFound("Subscription")
        }
        return found
    }

    func list(identity: Identity, query: [String: String], page: PageRequest) async throws -> Page<Subscription> {
        var filter = SubscriptionRepository.Filter()
        if identity.isAdmin {
            filter.userId = query["userId"].flatMap { $0.isEmpty ? nil : $0 }
        } else {
            filter.userId = identity.userId
        }
        if let status = query["status"], !status.isEmpty {
            guard SubscriptionStatus(rawValue: status) != nil else {
                let all = SubscriptionStatus.allCases.map(\.rawValue).joined(separator: ", ")
                throw TillError.invalid("status must be one of \(all)")
            }
            filter.status = status
        }
        if let after = page.startingAfter {
            let exists = try await database.withConnection { db in try await subscriptions.find(id: after, on: db) }
            guard let exists, identity.isAdmin || exists.userId == identity.userId else {
                throw TillError.invalid("startingAfter is not a subscription of this list")
            }
        }
        let chosen = filter
        return page.page(
            try await database.withConnection { db in try await subscriptions.list(chosen, page: page, on: db) })
    }

    /// An invoice of the subscription, as Stripe has it (times in RFC 3339).
    struct InvoiceSummary: Encodable, Sendable {
        let id: String
        let status: String
        let billingReason: String?
        let amountDue: Int
        let amountPaid: Int
        let currency: String
        let attemptCount: Int
        let periodStart: String?
        let periodEnd: String?
        let nextPaymentAttempt: String?
        let createdAt: String?
        let hostedInvoiceUrl: String?

        init(_ invoice: Invoice) {
            id = invoice.id
            status = invoice.status.rawValue
            billingReason = invoice.billingReason
            amountDue = invoice.amountDue
            amountPaid = invoice.amountPaid
            currency = invoice.currency
            attemptCount = invoice.attemptCount
            let period = invoice.linePeriod
            periodStart = StripeFacts.time(period?.start).map(Subscription.rfc3339)
            periodEnd = StripeFacts.time(period?.end).map(Subscription.rfc3339)
            nextPaymentAttempt = StripeFacts.time(invoice.nextPaymentAttempt).map(Subscription.rfc3339)
            createdAt = StripeFacts.time(invoice.created).map(Subscription.rfc3339)
            hostedInvoiceUrl = invoice.fields["hosted_invoice_url"]?.string
        }
    }

    /// The subscription's newest 100 invoices, newest first, read from Stripe (Till keeps their payments, not the
    /// invoices); `hasMore` when Stripe holds older ones.
    func invoices(id: String, identity: Identity) async throws -> Page<InvoiceSummary> {
        let s = try await subscription(id: id, identity: identity)
        guard let stripeId = s.stripeSubscriptionId else { return Page(data: [], hasMore: false) }
        try stripeBudget.spend(identity, now: clock.nowMillis())
        do {
            let list = try await stripe.listInvoices(ListParams(limit: 100, subscription: stripeId))
            return Page(data: list.data.map(InvoiceSummary.init), hasMore: list.hasMore)
        } catch {
            throw PaymentService.stripeError(error)
        }
    }

    // MARK: Changing

    /// Cancels at the period's end (the subscription stays `ACTIVE` until then) or now.
    func cancel(id: String, atPeriodEnd: Bool, identity: Identity) async throws -> Subscription {
        var s = try await subscription(id: id, identity: identity)
        try stripeBudget.spend(identity, now: clock.nowMillis())
        if s.status == .incomplete {
            // Not started: its checkout is closed, and that is the end of it, unless it was paid meanwhile.
            do {
                try await close(s)
                return try await subscription(id: id, identity: identity)
            } catch let error as TillError where error.code == .alreadySubscribed {
                s = try await subscription(id: id, identity: identity)
                guard s.status.isLive else { throw error }
            }
        }
        guard s.status.isLive, let stripeId = s.stripeSubscriptionId else {
            throw TillError(.subscriptionNotActive, "The subscription has ended (\(s.status.rawValue))")
        }
        let stripeSubscription: StripeAPI.Subscription
        do {
            stripeSubscription =
                atPeriodEnd
                ? try await stripe.updateSubscription(stripeId, cancelAtPeriodEnd: true)
                : try await stripe.cancelSubscription(stripeId)
        } catch {
            throw await changeRefused(error, s)
        }
        let read = StripeFacts.read(subscription: stripeSubscription)
        try await apply(s.id, [atPeriodEnd ? .reported(read, at: nil) : .deleted(read, at: nil)])
        logger.info(
            "subscription cancelled", metadata: ["subscription.id": "\(s.id)", "at_period_end": "\(atPeriodEnd)"])
        return try await subscription(id: id, identity: identity)
    }

    /// Takes back a cancellation at period end.
    func resume(id: String, identity: Identity) async throws -> Subscription {
        let s = try await subscription(id: id, identity: identity)
        guard s.status.isLive, let stripeId = s.stripeSubscriptionId else {
            throw TillError(.subscriptionNotActive, "Only a live subscription can be resumed (\(s.status.rawValue))")
        }
        try stripeBudget.spend(identity, now: clock.nowMillis())
        let stripeSubscription: StripeAPI.Subscription
        do {
            stripeSubscription = try await stripe.updateSubscription(stripeId, cancelAtPeriodEnd: false)
        } catch {
            throw await changeRefused(error, s)
        }
        try await apply(s.id, [.reported(StripeFacts.read(subscription: stripeSubscription), at: nil)])
        return try await subscription(id: id, identity: identity)
    }

    /// What to answer when Stripe refused to change the subscription: when it had ended there before its webhook
    /// came (cancelled in the portal or the dashboard), it is read back and the answer is the 409 of an ended one.
    /// Concurrent requests (a "cancel now" racing a "resume") are refused at once: the first is admitted to sync, at
    /// most once a sync interval, and the others read Stripe's word without applying it.
    private func changeRefused(_ error: any Error, _ s: Subscription) async -> any Error {
        // Only a refusal of the change itself (not a rate limit or a key problem).
        guard let stripeError = error as? StripeError, stripeError.kind == .api,
            stripeError.httpStatus == 400 || stripeError.httpStatus == 404, let stripeId = s.stripeSubscriptionId
        else { return PaymentService.stripeError(error) }
        let status: SubscriptionStatus?
        if recentSyncs.admit("subscription:" + s.id, now: clock.nowMillis()) {
            status = (try? await sync(s))?.status
        } else {
            let read = try? await stripe.retrieveSubscription(stripeId)
            status = read.flatMap { SubscriptionStatus(stripe: $0.status.rawValue) }
        }
        guard let status, status.hasEnded else { return PaymentService.stripeError(error) }
        return TillError(.subscriptionNotActive, "The subscription has ended (\(status.rawValue))")
    }

    /// A Customer Portal session for the user's customer, returning to `/account`.
    func portal(identity: Identity) async throws -> PortalResponse {
        try stripeBudget.spend(identity, now: clock.nowMillis())
        let customerId = try await customer(userId: identity.userId)
        do {
            let session = try await stripe.createBillingPortalSession(
                BillingPortalSessionCreateParams(customer: customerId, returnUrl: "\(config.publicBaseURL)/account"))
            return PortalResponse(url: session.url)
        } catch {
            throw PaymentService.stripeError(error)
        }
    }

    // MARK: Sync

    /// Reads the subscription back from Stripe and applies it (the success page calls this, so a paid checkout shows
    /// `ACTIVE` even when the webhooks are late). At most one read per subscription per sync interval.
    func sync(id: String, identity: Identity) async throws -> Subscription {
        let s = try await subscription(id: id, identity: identity)
        guard recentSyncs.admit("subscription:" + s.id, now: clock.nowMillis()) else { return s }
        return try await sync(s)
    }

    /// What Stripe says now: the Checkout Session while there is no Stripe subscription, the paid invoices and the
    /// subscription itself once there is.
    func sync(_ s: Subscription) async throws -> Subscription {
        var facts: [SubscriptionFact] = []
        do {
            var stripeId = s.stripeSubscriptionId
            if stripeId == nil, let sessionId = s.checkoutSessionId {
                let session = try await stripe.retrieveCheckoutSession(sessionId)
                switch session.status {
                case .complete?:
                    stripeId = session.subscription.string
                    facts.append(
                        .checkoutCompleted(
                            stripeSubscriptionId: stripeId,
                            paid: session.paymentStatus == .paid || session.paymentStatus == .noPaymentRequired, at: nil
                        ))
                case .expired?: facts.append(.checkoutExpired(at: nil))
                default: break
                }
            }
            if let stripeId {
                let invoices = try await stripe.listInvoices(ListParams(limit: 100, subscription: stripeId))
                for invoice in invoices.data.reversed() where invoice.status == .paid {
                    facts.append(
                        .invoicePaid(
                            invoiceId: invoice.id, amount: invoice.amountPaid, currency: invoice.currency, at: nil))
                }
                facts.append(
                    .reported(StripeFacts.read(subscription: try await stripe.retrieveSubscription(stripeId)), at: nil))
            }
        } catch {
            throw PaymentService.stripeError(error)
        }
        if !facts.isEmpty { try await apply(s.id, facts) }
        return try await database.withConnection { db in try await subscriptions.find(id: s.id, on: db) } ?? s
    }

    private func apply(_ subscriptionId: String, _ facts: [SubscriptionFact]) async throws {
        let report = StripeFacts.SubscriptionReport(lookup: .init(subscriptionId: subscriptionId), facts: facts)
        _ = try await settlement.apply([.init(eventId: nil, subject: .subscription(report))])
    }
}
