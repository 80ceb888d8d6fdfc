import Foundation
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

    /// What Stripe says about one of Till's subscriptions.
    struct SubscriptionReport: Sendable, Equatable {
        /// Till's id from the subscription's metadata first, then Stripe's subscription id, then the session's.
        struct Lookup: Sendable, Equatable {
            var subscriptionId: String?
            var stripeSubscriptionId: String?
            var sessionId: String?
        }
        let lookup: Lookup
        let facts: [SubscriptionFact]
        /// For a read-back made after two reports disagreed: applied only if the subscription's row has not been
        /// written since this time (`updated_at`): a newer event applied while Stripe was read decides instead.
        var unlessUpdatedSince: Int? = nil
    }

    /// What one event or one read-back is about.
    enum Subject: Sendable, Equatable {
        case payment(Report)
        case subscription(SubscriptionReport)
    }

    /// The fields of a webhook event that settlement reads, and nothing else. Till reads them with its own reader
    /// (`decode`, in StripeFacts+Reader.swift); the `Decodable` conformance is the reference that reader is tested
    /// against.
    struct EventFields: Decodable, Sendable {
        let id: String
        let object: String?
        let type: Event.EventType
        let created: Int?
        let data: Payload

        struct Payload: Decodable, Sendable {
            let object: Object
        }

        struct Object: Decodable, Sendable {
            let object: String?
            let id: String?
            let metadata: [String: String]?
            let paymentStatus: CheckoutSession.PaymentStatus?
            let amount: Int?
            let amountTotal: Int?
            let amountReceived: Int?
            let amountRefunded: Int?
            let currency: String?
            let paymentIntent: Expandable<Reference>?
            let customerDetails: CustomerDetails?
            let customerEmail: String?
            let receiptEmail: String?
            let lastPaymentError: PaymentError?
            let mode: String?
            let subscription: Expandable<Reference>?
            let status: String?
            let cancelAtPeriodEnd: Bool?
            let canceledAt: Int?
            let endedAt: Int?
            let items: Items?
            let amountPaid: Int?
            let amountDue: Int?
            let attemptCount: Int?
            let parent: Parent?
            let lines: Lines?
            /// Where events of API versions before 2025-03-31 put an invoice's subscription details and a
            /// subscription's period; read when the newer places are empty.
            let subscriptionDetails: SubscriptionDetails?
            let currentPeriodStart: Int?
            let currentPeriodEnd: Int?

            enum CodingKeys: String, CodingKey {
                case object, id, metadata, amount, currency, mode, subscription, status, items, parent, lines
                case paymentStatus = "payment_status"
                case amountTotal = "amount_total"
                case amountReceived = "amount_received"
                case amountRefunded = "amount_refunded"
                case paymentIntent = "payment_intent"
                case customerDetails = "customer_details"
                case customerEmail = "customer_email"
                case receiptEmail = "receipt_email"
                case lastPaymentError = "last_payment_error"
                case cancelAtPeriodEnd = "cancel_at_period_end"
                case canceledAt = "canceled_at"
                case endedAt = "ended_at"
                case amountPaid = "amount_paid"
                case amountDue = "amount_due"
                case attemptCount = "attempt_count"
                case subscriptionDetails = "subscription_details"
                case currentPeriodStart = "current_period_start"
                case currentPeriodEnd = "current_period_end"
            }
        }

        /// A subscription's `items` (the period is on them).
        struct Items: Decodable, Sendable {
            let data: [Item]?
        }

        struct Item: Decodable, Sendable {
            let currentPeriodStart: Int?
            let currentPeriodEnd: Int?
            enum CodingKeys: String, CodingKey {
                case currentPeriodStart = "current_period_start"
                case currentPeriodEnd = "current_period_end"
            }
        }

        /// An invoice's `lines` (the period a subscription's invoice bills is on them).
        struct Lines: Decodable, Sendable {
            let data: [Line]?
        }

        struct Line: Decodable, Sendable {
            let period: Period?
        }

        struct Period: Decodable, Sendable {
            let start: Int?
            let end: Int?
        }

        /// An invoice's `parent`: the subscription it bills.
        struct Parent: Decodable, Sendable {
            let subscriptionDetails: SubscriptionDetails?
            enum CodingKeys: String, CodingKey { case subscriptionDetails = "subscription_details" }
        }

        struct SubscriptionDetails: Decodable, Sendable {
            let subscription: Expandable<Reference>?
            let metadata: [String: String]?
        }

        struct CustomerDetails: Decodable, Sendable {
            let email: String?
        }

        struct PaymentError: Decodable, Sendable {
            let code: String?
            let declineCode: String?
            let message: String?
            enum CodingKeys: String, CodingKey {
                case code, message
                case declineCode = "decline_code"
            }
        }

        /// An expanded object read for its id alone.
        struct Reference: Codable, Sendable, StripeIdentifiable {
            let id: String
        }
    }

    /// The event types Till acts on. Any other is acknowledged and ignored whatever its object holds, even fields of
    /// types the reader refuses (a `payment_record`'s `amount` is an object).
    static let actedOn: Set<String> = [
        "checkout.session.completed", "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed", "checkout.session.expired", "payment_intent.succeeded",
        "payment_intent.payment_failed", "payment_intent.canceled", "payment_intent.processing", "charge.refunded",
        "refund.failed", "refund.updated", "charge.refund.updated", "charge.dispute.created", "invoice.paid",
        "invoice.payment_failed", "customer.subscription.created", "customer.subscription.updated",
        "customer.subscription.deleted",
    ]

    static func from(_ event: EventFields) -> Subject? {
        guard actedOn.contains(event.type.rawValue) else { return nil }
        let o = event.data.object
        if o.object == "checkout.session", o.mode == "subscription" || o.metadata?["subscriptionId"] != nil {
            return subscriptionSession(event)
        }
        if o.object == "subscription" || o.object == "invoice" { return subscription(event) }
        return payment(event).map(Subject.payment)
    }

    /// Stripe's seconds, when they are a time a date can show (years 1970 to 9999); anything else is left out.
    static func time(_ seconds: Int?) -> Int? {
        seconds.flatMap { (0...253_402_300_799).contains($0) ? $0 : nil }
    }

    private static func subscriptionSession(_ event: EventFields) -> Subject? {
        let o = event.data.object
        let at = time(event.created)
        let fact: SubscriptionFact
        switch event.type {
        case .checkoutSessionCompleted:
            fact = .checkoutCompleted(
                stripeSubscriptionId: o.subscription?.id,
                paid: o.paymentStatus == .paid || o.paymentStatus == .noPaymentRequired, at: at)
        case .checkoutSessionExpired:
            fact = .checkoutExpired(at: at)
        default:
            return nil
        }
        return .subscription(
            SubscriptionReport(
                lookup: .init(
                    subscriptionId: o.metadata?["subscriptionId"], stripeSubscriptionId: o.subscription?.id,
                    sessionId: o.id),
                facts: [fact]))
    }

    private static func subscription(_ event: EventFields) -> Subject? {
        let o = event.data.object
        let at = time(event.created)
        switch (event.type, o.object) {
        case (.customerSubscriptionCreated, "subscription"), (.customerSubscriptionUpdated, "subscription"),
            (.customerSubscriptionDeleted, "subscription"):
            guard let id = o.id else { return nil }
            let item = o.items?.data?.first
            let stripe = StripeSubscription(
                id: id, status: o.status ?? "",
                currentPeriodStart: time(item?.currentPeriodStart ?? o.currentPeriodStart),
                currentPeriodEnd: time(item?.currentPeriodEnd ?? o.currentPeriodEnd),
                cancelAtPeriodEnd: o.cancelAtPeriodEnd ?? false,
                canceledAt: time(o.canceledAt), endedAt: time(o.endedAt))
            let fact: SubscriptionFact =
                event.type == .customerSubscriptionDeleted ? .deleted(stripe, at: at) : .reported(stripe, at: at)
            return .subscription(
                SubscriptionReport(
                    lookup: .init(subscriptionId: o.metadata?["subscriptionId"], stripeSubscriptionId: id),
                    facts: [fact]))
        case (.invoicePaid, "invoice"), (.invoicePaymentFailed, "invoice"):
            // The subscription the invoice bills: under `parent` since 2025-03-31, at the top level before.
            let details = o.parent?.subscriptionDetails
            let stripeSubscriptionId = details?.subscription?.id ?? o.subscription?.id
            let subscriptionId =
                details?.metadata?["subscriptionId"] ?? o.subscriptionDetails?.metadata?["subscriptionId"]
            guard let invoiceId = o.id, stripeSubscriptionId != nil || subscriptionId != nil else { return nil }
            var facts: [SubscriptionFact] = []
            let period = o.lines?.data?.first?.period
            if event.type == .invoicePaid, let start = time(period?.start), let end = time(period?.end) {
                facts.append(.invoicedPeriod(start: start, end: end))
            }
            let fact: SubscriptionFact =
                event.type == .invoicePaid
                ? .invoicePaid(invoiceId: invoiceId, amount: o.amountPaid ?? 0, currency: o.currency ?? "", at: at)
                : .invoicePaymentFailed(
                    // One failed payment per attempt Stripe made (its count), however many events tell of it.
                    invoiceId: invoiceId, attempt: o.attemptCount.map { "attempt-\($0)" } ?? event.id,
                    amount: o.amountDue ?? 0,
                    currency: o.currency ?? "", at: at)
            return .subscription(
                SubscriptionReport(
                    lookup: .init(subscriptionId: subscriptionId, stripeSubscriptionId: stripeSubscriptionId),
                    facts: [fact] + facts))
        default:
            return nil
        }
    }

    private static func payment(_ event: EventFields) -> Report? {
        let o = event.data.object
        switch (event.type, o.object) {
        case (.checkoutSessionCompleted, "checkout.session"):
            // Paid only when Stripe says so, as a read-back decides: `unpaid` (a delayed method), a missing or
            // unknown status is processing, settled by the async events or a read-back.
            let paid = o.paymentStatus == .paid || o.paymentStatus == .noPaymentRequired
            let fact: PaymentFact =
                paid ? .succeeded(amount: o.amountTotal ?? 0, currency: o.currency ?? "") : .processing
            return session(o, [fact])
        case (.checkoutSessionAsyncPaymentSucceeded, "checkout.session"):
            return session(o, [.succeeded(amount: o.amountTotal ?? 0, currency: o.currency ?? "")])
        case (.checkoutSessionAsyncPaymentFailed, "checkout.session"):
            return session(
                o, [.failed(code: "async_payment_failed", message: "The delayed payment failed.", final: true)])
        case (.checkoutSessionExpired, "checkout.session"):
            return session(o, [.canceled])
        case (.paymentIntentSucceeded, "payment_intent"):
            let received = o.amountReceived ?? 0
            return intent(o, [.succeeded(amount: received > 0 ? received : o.amount ?? 0, currency: o.currency ?? "")])
        case (.paymentIntentPaymentFailed, "payment_intent"):
            let error = o.lastPaymentError
            return intent(o, [.failed(code: error?.declineCode ?? error?.code, message: error?.message, final: false)])
        case (.paymentIntentCanceled, "payment_intent"):
            return intent(o, [.canceled])
        case (.paymentIntentProcessing, "payment_intent"):
            return intent(o, [.processing])
        case (.chargeRefunded, "charge"):
            let intentId = o.paymentIntent?.id
            return Report(
                lookup: Lookup(paymentId: o.metadata?["paymentId"], paymentIntentId: intentId),
                facts: [.refunded(amountRefunded: o.amountRefunded ?? 0)], details: Details(paymentIntentId: intentId))
        case (.refundFailed, "refund"), (.refundUpdated, "refund"), (.chargeRefundUpdated, "refund"):
            // Stripe reports a refund that failed, or was cancelled, with a refund's update (`refund.failed` too):
            // any of them has the charge read back; another update (a pending refund that succeeded) says nothing new.
            guard o.status == "failed" || o.status == "canceled" else { return nil }
            let intentId = o.paymentIntent?.id
            return Report(
                lookup: Lookup(paymentId: o.metadata?["paymentId"], paymentIntentId: intentId), facts: [.refundFailed],
                details: Details(paymentIntentId: intentId))
        case (.chargeDisputeCreated, "dispute"):
            let intentId = o.paymentIntent?.id
            return Report(
                lookup: Lookup(paymentIntentId: intentId), facts: [.disputed],
                details: Details(paymentIntentId: intentId))
        default:
            return nil
        }
    }

    private static func session(_ o: EventFields.Object, _ facts: [PaymentFact]) -> Report {
        Report(
            lookup: Lookup(paymentId: o.metadata?["paymentId"], sessionId: o.id),
            facts: facts,
            details: Details(
                paymentIntentId: o.paymentIntent?.id, customerEmail: o.customerDetails?.email ?? o.customerEmail))
    }

    private static func intent(_ o: EventFields.Object, _ facts: [PaymentFact]) -> Report {
        Report(
            lookup: Lookup(paymentId: o.metadata?["paymentId"], paymentIntentId: o.id), facts: facts,
            details: Details(paymentIntentId: o.id, customerEmail: o.receiptEmail))
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
        case .succeeded:
            facts.append(
                .succeeded(amount: pi.amountReceived > 0 ? pi.amountReceived : pi.amount, currency: pi.currency))
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

    /// What a subscription read back from Stripe says.
    static func read(subscription s: StripeAPI.Subscription) -> StripeSubscription {
        StripeSubscription(
            id: s.id, status: s.status.rawValue, currentPeriodStart: time(s.currentPeriodStart),
            currentPeriodEnd: time(s.currentPeriodEnd), cancelAtPeriodEnd: s.cancelAtPeriodEnd,
            canceledAt: time(s.canceledAt), endedAt: time(s.endedAt))
    }

    private static func chargeFacts(_ charge: Charge?) -> [PaymentFact] {
        guard let charge, charge.status == "succeeded" else { return [] }
        var facts: [PaymentFact] = []
        if charge.amountRefunded > 0 { facts.append(.refunded(amountRefunded: charge.amountRefunded)) }
        if charge.disputed { facts.append(.disputed) }
        return facts
    }
}
