import Foundation
import Logging
import SQLKit
import StripeAPI
import TillCore

/// Taking money: Checkout Sessions and PaymentIntents for orders and plans, the payment records, refunds and sync.
struct PaymentService: Sendable {
    let database: any Database
    let stripe: StripeClient
    let settlement: SettlementService
    let config: AppConfig
    let publishableKey: String
    let clock: TillClock
    let logger: Logger
    let payments = PaymentRepository()
    let orders = OrderRepository()
    let catalog = CatalogRepository()
    let users = UserRepository()
    let recentSyncs: RecentSyncs

    struct CheckoutResponse: Encodable, Sendable {
        let url: String
        let sessionId: String
        let paymentId: String
        let expiresAt: String
    }

    struct IntentResponse: Encodable, Sendable {
        let clientSecret: String
        let paymentIntentId: String
        let paymentId: String
        let publishableKey: String
    }

    /// Stripe refuses a session that expires in less than 30 minutes; a margin keeps clock skew out of the way.
    static let minimumSessionSeconds = 30 * 60 + 60

    // MARK: Checkout for an order

    func checkout(orderId: String, identity: Identity, attempt: Int = 1) async throws -> (
        created: Bool, CheckoutResponse
    ) {
        let payable = try await payableOrder(orderId, identity: identity, withOwnerEmail: true)
        let order = payable.order
        let now = clock.nowMillis()
        let (payment, new) = try await openOrNew(now: now, read: .read(payable.open(.checkout))) { db in
            try await payments.open(orderId: order.id, method: .checkout, on: db)
        } insert: {
            Payment(
                id: IDs.make(), kind: .order, method: .checkout, orderId: order.id, planId: nil, userId: order.userId,
                amount: order.amount, currency: order.currency, now: now)
        }
        if let existing = try await reusableSession(payment) { return (false, existing) }

        // From the payment's start, not the clock: a retry of the call (Stripe unreachable, Till restarted) sends the
        // same parameters under the same Idempotency-Key, so Stripe replays the session it made instead of refusing
        // the key (which would end the payment while a payable session exists).
        let start = payment.createdAt / 1000
        let ttlEnd = order.createdAt / 1000 + config.orderTTLSeconds
        let expiresAt = min(max(ttlEnd, start + Self.minimumSessionSeconds), start + 24 * 3600 - 60)
        let metadata = ["orderId": order.id, "paymentId": payment.id]
        let params = CheckoutSessionCreateParams(
            lineItems: order.items.map {
                .init(
                    priceData: .init(
                        currency: order.currency, unitAmount: $0.unitAmount, productData: .init(name: $0.name)),
                    quantity: $0.quantity)
            },
            successUrl: "\(config.publicBaseURL)/checkout/success?session_id={CHECKOUT_SESSION_ID}",
            cancelUrl: "\(config.publicBaseURL)/checkout/cancel?orderId=\(order.id)",
            clientReferenceId: order.id, customerEmail: payable.ownerEmail, expiresAt: expiresAt, metadata: metadata,
            paymentIntentData: .init(metadata: metadata))
        return try await createSession(payment, params) {
            attempt == 1 && !new ? try await checkout(orderId: orderId, identity: identity, attempt: 2) : nil
        }
    }

    // MARK: Checkout for a plan

    func activePlan(id: String) async throws -> Plan {
        let plan = try await database.withConnection { db in try await catalog.plan(id: id, on: db) }
        guard let plan, plan.active else { throw TillError.notFound("Plan") }
        return plan
    }

    /// A one-off plan (a recurring one is a subscription: `SubscriptionService.checkout`).
    func checkout(plan: Plan, identity: Identity, attempt: Int = 1) async throws -> (created: Bool, CheckoutResponse) {
        let now = clock.nowMillis()
        let (payment, new) = try await openOrNew(now: now, read: .unread) { db in
            try await payments.open(userId: identity.userId, planId: plan.id, on: db)
        } insert: {
            Payment(
                id: IDs.make(), kind: .plan, method: .checkout, orderId: nil, planId: plan.id, userId: identity.userId,
                amount: plan.unitAmount, currency: plan.currency, now: now)
        }
        if let existing = try await reusableSession(payment) { return (false, existing) }
        let user = try await database.withConnection { db in try await users.find(id: identity.userId, on: db) }
        let metadata = ["planId": plan.id, "paymentId": payment.id, "userId": identity.userId]
        let line: CheckoutSessionCreateParams.LineItem =
            plan.stripePriceId.map { .init(price: $0, quantity: 1) }
            ?? .init(
                priceData: .init(
                    currency: plan.currency, unitAmount: plan.unitAmount, productData: .init(name: plan.name)),
                quantity: 1)
        let params = CheckoutSessionCreateParams(
            lineItems: [line],
            successUrl: "\(config.publicBaseURL)/checkout/success?session_id={CHECKOUT_SESSION_ID}",
            cancelUrl: "\(config.publicBaseURL)/account",
            clientReferenceId: identity.userId, customerEmail: user?.email,
            expiresAt: payment.createdAt / 1000 + Self.minimumSessionSeconds + 30 * 60, metadata: metadata,
            paymentIntentData: .init(metadata: metadata))
        return try await createSession(payment, params) {
            attempt == 1 && !new ? try await checkout(plan: plan, identity: identity, attempt: 2) : nil
        }
    }

    // MARK: PaymentIntent for an order

    func paymentIntent(orderId: String, identity: Identity) async throws -> (created: Bool, IntentResponse) {
        let payable = try await payableOrder(orderId, identity: identity, withOwnerEmail: false)
        let order = payable.order
        let now = clock.nowMillis()
        let (payment, _) = try await openOrNew(now: now, read: .read(payable.open(.intent))) { db in
            try await payments.open(orderId: order.id, method: .intent, on: db)
        } insert: {
            Payment(
                id: IDs.make(), kind: .order, method: .intent, orderId: order.id, planId: nil, userId: order.userId,
                amount: order.amount, currency: order.currency, now: now)
        }
        if let intentId = payment.paymentIntentId, let secret = payment.clientSecret {
            return (
                false,
                IntentResponse(
                    clientSecret: secret, paymentIntentId: intentId, paymentId: payment.id,
                    publishableKey: publishableKey)
            )
        }
        let intent: PaymentIntent
        do {
            intent = try await stripe.createPaymentIntent(
                PaymentIntentCreateParams(
                    amount: order.amount, currency: order.currency,
                    metadata: ["orderId": order.id, "paymentId": payment.id],
                    description: "Order \(order.id)"),
                options: RequestOptions(idempotencyKey: "till-intent-\(payment.id)"))
        } catch {
            throw try await stripeFailed(error, payment: payment).error
        }
        let attached = try await database.withConnection { db in
            try await payments.attachStripe(
                id: payment.id, sessionId: nil, intentId: intent.id, url: nil, clientSecret: intent.clientSecret,
                expiresAt: nil,
                now: clock.nowMillis(), on: db)
        }
        if attached == .closed {
            var made = payment
            made.paymentIntentId = intent.id
            await endAndReadBack(made)
            throw Self.closedMeanwhile
        }
        return (
            attached == .first,
            IntentResponse(
                clientSecret: intent.clientSecret ?? "", paymentIntentId: intent.id, paymentId: payment.id,
                publishableKey: publishableKey)
        )
    }

    // MARK: Reading

    struct OrderPayments: Encodable, Sendable {
        let orderId: String
        /// The status of the payment that paid the order once one has (a later payment, opened meanwhile and
        /// refunded as a duplicate, does not speak for the order); before that the latest payment's; null before the
        /// first payment.
        @Nullable var status: String?
        let amount: Int
        let currency: String
        let createdAt: String
        let payments: [Payment]
    }

    func orderPayments(orderId: String, identity: Identity) async throws -> OrderPayments {
        let owner = identity.isAdmin ? nil : identity.userId
        return try await database.withConnection { db in
            guard let order = try await orders.find(id: orderId, userId: owner, on: db) else {
                throw TillError.notFound("Order")
            }
            let list = try await payments.forOrder(orderId, on: db)
            return OrderPayments(
                orderId: order.id, status: (list.first(where: \.fulfilled) ?? list.first)?.status.rawValue,
                amount: order.amount, currency: order.currency,
                createdAt: Timestamps.rfc3339(order.createdAt), payments: list)
        }
    }

    func payment(id: String, identity: Identity) async throws -> Payment {
        let payment = try await database.withConnection { db in try await payments.find(id: id, on: db) }
        guard let payment, identity.isAdmin || payment.userId == identity.userId else {
            throw TillError.notFound("Payment")
        }
        return payment
    }

    func list(identity: Identity, query: [String: String], page: PageRequest) async throws -> Page<Payment> {
        if let status = query["status"], PaymentStatus(rawValue: status) == nil {
            throw TillError.invalid(
                "status must be one of \(PaymentStatus.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let filter = PaymentRepository.Filter(
            userId: identity.isAdmin ? query["userId"] : identity.userId, status: query["status"],
            orderId: query["orderId"],
            sessionId: query["sessionId"], paymentIntentId: query["paymentIntentId"],
            subscriptionId: query["subscriptionId"])
        return try await database.withConnection { db in
            if let after = page.startingAfter {
                let cursor = try await payments.find(id: after, on: db)
                if cursor == nil || !(identity.isAdmin || cursor?.userId == identity.userId) {
                    throw PageRequest.unknownCursor
                }
            }
            return page.page(try await payments.list(filter, page: page, on: db))
        }
    }

    // MARK: Refunds and sync

    /// Asks Stripe to refund `amount` (default: all that is left). The payment changes when Stripe reports the
    /// refund (`charge.refunded`), so this answers 202 with the payment as it stands.
    func refund(id: String, amount requested: Int?) async throws -> Payment {
        let payment = try await database.withConnection { db in try await payments.find(id: id, on: db) }
        guard let payment else { throw TillError.notFound("Payment") }
        if payment.status == .requiresReview { return try await refundUnderReview(payment, amount: requested) }
        guard payment.status.isRefundable else {
            throw TillError(
                .paymentNotRefundable,
                "Only a SUCCEEDED or PARTIALLY_REFUNDED payment can be refunded (this one is \(payment.status.rawValue))"
            )
        }
        let left = payment.amount - max(payment.amountRefunded, payment.refundRequested)
        let amount = requested ?? left
        // Also when the amount sent is all that is left (the admin page fills it in).
        let allThatIsLeft = requested == nil || requested == left
        guard amount > 0 else { throw TillError.invalid("Nothing is left to refund on this payment") }
        guard amount <= left else { throw TillError.invalid("amount must be at most \(left), what is left to refund") }
        let now = clock.nowMillis()
        guard
            let requested = try await database.withConnection({ db in
                try await payments.requestRefund(id: id, amount: amount, now: now, on: db)
            })
        else {
            throw TillError.invalid("amount must be at most what is left to refund")
        }
        guard let intentId = try await paymentIntent(of: payment) else {
            try await database.withConnection { db in
                try await payments.cancelRefundRequest(id: id, amount: amount, on: db)
            }
            throw TillError(.stripeError, "The payment has no PaymentIntent to refund yet")
        }
        // Each request is a refund of its own, so its key is too: one built from amounts alone could be reached again
        // by a later request (after a failed one freed its reservation) and be answered with an earlier refund,
        // moving no money. Stripe's client retries a call under the same key.
        let key = "till-refund-\(id)-\(IDs.make())"
        do {
            _ = try await stripe.createRefund(
                // "What is left" goes to Stripe without an amount, so it refunds all it holds of the charge: more than
                // the order when an admin accepted an overpayment (the order's amount would have kept the rest).
                RefundCreateParams(
                    paymentIntent: intentId, amount: allThatIsLeft ? nil : amount,
                    metadata: ["paymentId": id, "tillRefundKey": key]),
                options: RequestOptions(idempotencyKey: key))
        } catch {
            // No answer, or Stripe's own failure: the refund may have been made. Stripe's list of the intent's refunds
            // says whether one carries this request's key; one that does is this request's refund, and the
            // reservation stays for its charge.refunded. Without it, an admin told "failed" who tried again after
            // that event would refund twice.
            let unanswered = error.kind == .connection || error.httpStatus >= 500
            let made = unanswered ? await refundMade(intentId: intentId, key: key) : false
            if !made {
                try await database.withConnection { db in
                    try await payments.cancelRefundRequest(id: id, amount: amount, on: db)
                }
                // Not in Stripe's list is not proof: a call that timed out may still be running there.
                guard unanswered else { throw Self.stripeError(error) }
                throw TillError(
                    .stripeError,
                    "Stripe gave no clear answer, and whether it made the refund is unknown: check the payment (a refund Stripe made shows once its event arrives) before trying again"
                )
            }
        }
        logger.info("refund requested", metadata: ["payment.id": "\(id)", "amount": "\(amount)"])
        return try await database.withConnection { db in try await payments.find(id: id, on: db) } ?? payment
    }

    /// Whether Stripe's list of the intent's refunds holds one made under `key` (false when Stripe cannot say).
    private func refundMade(intentId: String, key: String) async -> Bool {
        guard let refunds = try? await stripe.listRefunds(paymentIntent: intentId) else { return false }
        return refunds.data.contains { $0.metadata["tillRefundKey"] == key }
    }

    /// Gives back, in full, money whose amount or currency did not match its order: refunded at Stripe (all of the
    /// charge, whatever its amount), then settled as `reviewRefunded`, which lets the order go and its stock back.
    /// The PaymentIntent that took the payment's money. A subscription's invoice names it only in its invoice
    /// payments: read there the first time, and kept (so the refund's `charge.refunded` finds the payment).
    private func paymentIntent(of payment: Payment) async throws -> String? {
        if let known = payment.paymentIntentId { return known }
        guard payment.kind == .subscription, let invoiceId = payment.invoiceId else { return nil }
        let paid: String?
        do {
            paid = try await settlement.invoiceIntent(invoiceId)
        } catch {
            throw Self.stripeError(error)
        }
        guard let paid else { return nil }
        try await database.withConnection { db in
            try await payments.setDetails([(payment.id, paid, nil)], on: db)
        }
        return paid
    }

    private func refundUnderReview(_ payment: Payment, amount: Int?) async throws -> Payment {
        guard amount == nil else {
            throw TillError.invalid("A payment under review is refunded in full: send no amount")
        }
        guard let intentId = try await paymentIntent(of: payment) else {
            throw TillError(.stripeError, "The payment has no PaymentIntent to refund yet")
        }
        // Claimed before Stripe is asked, so that an admin accepting it at the same moment cannot deliver the order
        // for money that is being given back (the acceptance's decision refuses a claimed payment).
        let claimed = try await database.withConnection { db in
            try await payments.claimReviewRefund(id: payment.id, now: clock.nowMillis(), on: db)
        }
        guard claimed else {
            throw TillError(
                .paymentNotUnderReview,
                "The payment is no longer under review (it was accepted meanwhile): refund it again")
        }
        do {
            _ = try await stripe.createRefund(
                RefundCreateParams(
                    paymentIntent: intentId, metadata: ["paymentId": payment.id, "reason": "review_refunded"]),
                // A key of its own for each request: asked again after a refund that failed, it is a new refund (a
                // fixed key would replay the failed one); without an amount, a second key cannot give back twice.
                options: RequestOptions(idempotencyKey: "till-refund-review-\(payment.id)-\(IDs.make())"))
        } catch  where error.code == "charge_already_refunded" {
            // Given back at Stripe already (its dashboard): nothing left to send, the payment ends all the same.
        } catch {
            try await database.withConnection { db in try await payments.releaseReviewRefund(id: payment.id, on: db) }
            throw Self.stripeError(error)
        }
        logger.info("payment under review refunded", metadata: ["payment.id": "\(payment.id)"])
        return try await settlement.apply(paymentId: payment.id, facts: [.reviewRefunded], details: .init()) ?? payment
    }

    /// An admin accepts what Stripe took for a payment under review: the order is delivered as if it had matched.
    func acceptReview(id: String) async throws -> Payment {
        let payment = try await database.withConnection { db in try await payments.find(id: id, on: db) }
        guard let payment else { throw TillError.notFound("Payment") }
        guard payment.status == .requiresReview else {
            throw TillError(
                .paymentNotUnderReview,
                "Only a payment under review can be accepted (this one is \(payment.status.rawValue))")
        }
        // The machine refuses money refunded, being refunded or disputed meanwhile: then nothing moves.
        let accepted = try await settlement.apply(paymentId: payment.id, facts: [.reviewAccepted], details: .init())
        guard let accepted, accepted.status == .succeeded else {
            throw TillError(
                .paymentNotUnderReview,
                "Money of this payment was refunded, is being refunded or was disputed while it was under review: refund it instead"
            )
        }
        logger.info("payment under review accepted", metadata: ["payment.id": "\(payment.id)"])
        return accepted
    }

    /// Re-reads the session or intent from Stripe and applies what it says through the webhook's path.
    func sync(id: String, identity: Identity?) async throws -> Payment {
        let payment = try await database.withConnection { db in try await payments.find(id: id, on: db) }
        guard let payment, identity == nil || identity!.isAdmin || payment.userId == identity!.userId else {
            throw TillError.notFound("Payment")
        }
        // A client looping on this route must not spend Till's Stripe rate limit: one read of a payment per interval.
        guard recentSyncs.admit(payment.id, now: clock.nowMillis()) else { return payment }
        return try await sync(payment)
    }

    func sync(_ payment: Payment) async throws -> Payment {
        let facts: [PaymentFact]
        var details = StripeFacts.Details()
        do {
            if let sessionId = payment.checkoutSessionId {
                let session = try await stripe.retrieveCheckoutSession(sessionId, expand: ["payment_intent"])
                let intent = session.paymentIntent?.object
                let charge = try await latestCharge(intent)
                facts = StripeFacts.read(session: session, intent: intent, charge: charge)
                details = .init(
                    paymentIntentId: session.paymentIntent?.id,
                    customerEmail: session.customerDetails?.email ?? session.customerEmail)
            } else if let intentId = payment.paymentIntentId {
                let intent = try await stripe.retrievePaymentIntent(intentId, expand: ["latest_charge"])
                facts = StripeFacts.read(intent: intent, charge: intent.latestCharge?.object)
                details = .init(paymentIntentId: intent.id)
            } else {
                return payment
            }
        } catch {
            throw Self.stripeError(error)
        }
        return try await settlement.apply(paymentId: payment.id, facts: facts, details: details) ?? payment
    }

    private func latestCharge(_ intent: PaymentIntent?) async throws -> Charge? {
        guard let intent, intent.status == .succeeded else { return nil }
        return try await stripe.retrievePaymentIntent(intent.id, expand: ["latest_charge"]).latestCharge?.object
    }

    /// Cancels a pending order: its open sessions and intents are ended at Stripe first, each settled through the
    /// applier (whose decision cancels the order once no payment holds it), then an order that had none is cancelled
    /// here, its stock released. Returns the order as it ends: `CANCELLED`, or `PAID` when a payment turned out to be
    /// paid; `nil` when it no longer exists.
    func cancelOrder(id orderId: String) async throws -> Order? {
        let seen = try await database.withConnection { db in try await payments.forOrder(orderId, on: db) }
        if try await closeOpenPayments(seen) {
            let now = clock.nowMillis()
            _ = try await database.transaction { db in
                try await orders.cancelReleasingStock(ids: [orderId], now: now, kind: database.kind, on: db)
            }
            // A session or intent recorded while this ran (a payment started meanwhile, or one seen before its
            // Stripe object was recorded) is ended here. None can be recorded after the order is cancelled:
            // `attachStripe` refuses it, and its own request ends it.
            let known = Dictionary(uniqueKeysWithValues: seen.map { ($0.id, $0) })
            for payment in try await database.withConnection({ db in try await payments.forOrder(orderId, on: db) })
            where payment.stripeObjectId != known[payment.id]?.stripeObjectId {
                await endAndReadBack(payment)
            }
        }
        return try await database.withConnection { db in try await orders.find(id: orderId, userId: nil, on: db) }
    }

    /// Ends the order's open sessions and intents at Stripe before the order is cancelled, so nothing can be paid
    /// for an order that no longer holds stock. `false` when one of them turned out to be paid (and was applied).
    private func closeOpenPayments(_ payments: [Payment]) async throws -> Bool {
        for payment in payments where payment.status.isLive {
            do {
                try await endAtStripe(payment)
            } catch  where error.kind == .api && (400..<500).contains(error.httpStatus) {
                // Already complete or expired at Stripe: find out which.
                logger.info(
                    "closing a payment at Stripe was refused; syncing it",
                    metadata: ["payment.id": "\(payment.id)", "stripe.code": "\(error.code ?? "")"])
            } catch {
                throw Self.stripeError(error)
            }
            let after = try await sync(payment)
            if after.status.isPaid { return false }
            if after.status.holdsOrderOpen {
                throw TillError(
                    .orderNotPayable,
                    "A payment of this order is \(after.status.rawValue); the order cannot be cancelled until it ends")
            }
            if after.status.isLive {
                try await settlement.apply(paymentId: payment.id, facts: [.canceled], details: .init())
            }
        }
        return true
    }

    /// Ends the payment's session (or, without one, its intent) at Stripe, under keys of the payment's own.
    private func endAtStripe(_ payment: Payment) async throws(StripeError) {
        if let sessionId = payment.checkoutSessionId {
            _ = try await stripe.expireCheckoutSession(
                sessionId, options: RequestOptions(idempotencyKey: "till-expire-\(payment.id)"))
        } else if let intentId = payment.paymentIntentId {
            _ = try await stripe.cancelPaymentIntent(
                intentId, options: RequestOptions(idempotencyKey: "till-cancel-\(payment.id)"))
        }
    }

    // MARK: Helpers

    /// A payable order with what paying it needs, read under one hold of the connection.
    private struct PayableOrder {
        let order: Order
        let payments: [Payment]
        /// Given to Stripe's Checkout, so the buyer does not type it again (read only for a checkout).
        let ownerEmail: String?

        /// The order's open payment by `method`, as read.
        func open(_ method: PaymentMethod) -> Payment? {
            payments.first { $0.kind == .order && $0.method == method && $0.status.isPayable }
        }
    }

    private func payableOrder(_ orderId: String, identity: Identity, withOwnerEmail: Bool) async throws
        -> PayableOrder
    {
        let owner = identity.isAdmin ? nil : identity.userId
        let read = try await database.withConnection { db -> PayableOrder? in
            guard let order = try await orders.find(id: orderId, userId: owner, on: db) else { return nil }
            return PayableOrder(
                order: order, payments: try await payments.forOrder(orderId, on: db),
                ownerEmail: withOwnerEmail ? try await users.find(id: order.userId, on: db)?.email : nil)
        }
        guard let read else { throw TillError.notFound("Order") }
        guard read.order.status == .pending else {
            throw TillError(
                .orderNotPayable, "Order is \(read.order.status.rawValue); only a PENDING order can be paid")
        }
        if let holding = read.payments.first(where: { $0.status.holdsOrderOpen }) {
            throw TillError(
                .orderNotPayable, "A payment of this order is \(holding.status.rawValue); wait for it to end")
        }
        return read
    }

    /// Whether the caller read the open payment already, and what it found.
    private enum OpenRead {
        case unread
        case read(Payment?)
    }

    /// The open payment, or a new one stored before Stripe is called (its id is the Idempotency-Key, so a retry or a
    /// crash never makes a second session). Two requests racing both end up with the same row. When the caller read
    /// no open payment, the insert comes first: its unique index is what decides a race, and a lost one reads again.
    /// `new` is whether this request stored it.
    private func openOrNew(
        now: Int, read: OpenRead, find: @escaping @Sendable (any SQLDatabase) async throws -> Payment?,
        insert make: @Sendable () -> Payment
    ) async throws -> (payment: Payment, new: Bool) {
        if case .read(let open?) = read { return (open, false) }
        let lookFirst = if case .unread = read { true } else { false }
        let candidate = make()
        return try await database.withConnection { db in
            var look = lookFirst
            for _ in 0..<3 {
                if look, let open = try await find(db) { return (open, false) }
                look = true
                if try await payments.insert(candidate, on: db) { return (candidate, true) }
            }
            throw TillError(.internalError, "could not create or find the open payment")
        }
    }

    private func reusableSession(_ payment: Payment) async throws -> CheckoutResponse? {
        guard let sessionId = payment.checkoutSessionId, let url = payment.checkoutURL,
            let expiresAt = payment.expiresAt
        else { return nil }
        if expiresAt > clock.nowMillis() / 1000 + 60 {
            return CheckoutResponse(
                url: url, sessionId: sessionId, paymentId: payment.id, expiresAt: Timestamps.rfc3339(expiresAt * 1000))
        }
        // The session is (nearly) expired: settle it, which ends this payment; the caller may try again.
        _ = try await sync(payment)
        throw TillError(.orderNotPayable, "The checkout session expired; the order's payment window has closed")
    }

    /// The session, and whether this request recorded it first (the one that answers 201).
    ///
    /// A payment keeps the parameters of its start, so that a retry after a lost answer is Stripe's replay of the
    /// session. When Stripe never made one (it was down), a retry more than a minute later asks for an expiry under
    /// Stripe's 30 minutes and is refused, which ends the payment: `afresh` then answers with a new payment's
    /// session, instead of a 502 (nil when this request opened the payment, or is the second try already).
    private func createSession(
        _ payment: Payment, _ params: CheckoutSessionCreateParams,
        afresh: () async throws -> (created: Bool, CheckoutResponse)?
    ) async throws -> (created: Bool, CheckoutResponse) {
        let session: CheckoutSession.Summary
        do {
            session = try await stripe.createCheckoutSession(
                params, options: RequestOptions(idempotencyKey: "till-checkout-\(payment.id)"),
                as: CheckoutSession.Summary.self)
        } catch {
            let failure = try await stripeFailed(error, payment: payment)
            if failure.ended, let answer = try await afresh() { return answer }
            throw failure.error
        }
        guard let url = session.url else { throw TillError(.stripeError, "Stripe returned a session without a URL") }
        let attached = try await database.withConnection { db in
            try await payments.attachStripe(
                id: payment.id, sessionId: session.id, intentId: nil, url: url, clientSecret: nil,
                expiresAt: session.expiresAt,
                now: clock.nowMillis(), on: db)
        }
        if attached == .closed {
            var made = payment
            made.checkoutSessionId = session.id
            await endAndReadBack(made)
            throw Self.closedMeanwhile
        }
        if attached == .first {
            logger.info(
                "checkout session created",
                metadata: ["payment.id": "\(payment.id)", "stripe.session_id": "\(session.id)"])
        }
        return (
            attached == .first,
            CheckoutResponse(
                url: url, sessionId: session.id, paymentId: payment.id,
                expiresAt: Timestamps.rfc3339(session.expiresAt * 1000))
        )
    }

    /// What a request whose order was cancelled (or paid) while Stripe made its session or intent answers.
    static let closedMeanwhile = TillError(.orderNotPayable, "The order was cancelled (or paid) meanwhile")

    /// Ends a payment's session or intent at Stripe, under the keys the cancellation itself uses, then applies what
    /// Stripe says of it: ended (the payment is cancelled), or paid all the same (a success on a cancelled order,
    /// which takes its stock back or is refunded).
    private func endAndReadBack(_ payment: Payment) async {
        do {
            try await endAtStripe(payment)
        } catch {
            logger.warning(
                "could not end at Stripe what was made for a payment cancelled meanwhile",
                metadata: ["payment.id": "\(payment.id)", "error": "\(error)"])
        }
        do {
            _ = try await sync(payment)
        } catch {
            logger.warning(
                "could not read back a payment cancelled meanwhile; the reconciler will",
                metadata: ["payment.id": "\(payment.id)", "error": "\(error)"])
        }
    }

    /// Whether Stripe refused to make the object, so that nothing can be paid through this key: a 4xx but 409 and
    /// 429 (a call in flight, a rate limit) and `idempotency_error`. The last means the key was used with other
    /// parameters (another instance with another `PUBLIC_BASE_URL`, say), so the object may well exist and be payable.
    static func refused(_ error: StripeError) -> Bool {
        error.kind == .api && (400..<500).contains(error.httpStatus) && error.httpStatus != 409
            && error.httpStatus != 429 && error.type != "idempotency_error"
    }

    /// A Stripe refusal ends the payment so the next try starts afresh; anything else (an outage, no answer, a key
    /// in use) keeps it, so the retry reuses its Idempotency-Key and cannot make a second session, and a session
    /// made by another request is recorded by that request. Returns the error to answer, and whether the refusal
    /// ended the payment.
    private func stripeFailed(_ error: any Error, payment: Payment) async throws -> (error: any Error, ended: Bool) {
        var ended = false
        if let error = error as? StripeError, Self.refused(error) {
            let after = try await settlement.apply(
                paymentId: payment.id,
                facts: [.refusedByStripe(code: error.code ?? error.type, message: error.message)], details: .init())
            ended = after?.status == .canceled
        }
        logger.error("Stripe call failed", metadata: ["payment.id": "\(payment.id)", "error": "\(error)"])
        return (Self.stripeError(error), ended)
    }

    static func stripeError(_ error: any Error) -> any Error {
        guard let error = error as? StripeError else { return error }
        let what = error.kind == .connection ? "Stripe could not be reached" : "Stripe answered \(error.httpStatus)"
        return TillError(.stripeError, "\(what): \(error.message)")
    }
}
