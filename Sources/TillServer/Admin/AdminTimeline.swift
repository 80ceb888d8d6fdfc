import Foundation
import StripeAPI

/// One thing that happened to an order or a payment, from its stored records: the rows' own times (created, paid,
/// cancelled) and the webhook events that name it.
struct TimelineEntry: Encodable, Sendable {
    enum Kind: String, Encodable, Sendable {
        case orderCreated = "order_created"
        case sessionOpened = "session_opened"
        case intentCreated = "intent_created"
        case webhook
        case paymentSucceeded = "payment_succeeded"
        case paymentFailed = "payment_failed"
        case orderPaid = "order_paid"
        case refund
        case orderCancelled = "order_cancelled"
        case disputed
    }

    let atMillis: Int
    let kind: Kind
    let title: String
    var detail: String? = nil
    /// In the minor unit of `currency`, for entries about money (the page formats it).
    var amount: Int? = nil
    var currency: String? = nil
    var paymentId: String? = nil
    var stripeEventId: String? = nil
    var eventType: String? = nil
    var eventStatus: String? = nil

    enum CodingKeys: String, CodingKey {
        case at, kind, title, detail, amount, currency, paymentId, stripeEventId, eventType, eventStatus
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(Timestamps.rfc3339(atMillis), forKey: .at)
        try c.encode(kind, forKey: .kind)
        try c.encode(title, forKey: .title)
        try c.encode(detail, forKey: .detail)
        try c.encode(amount, forKey: .amount)
        try c.encode(currency, forKey: .currency)
        try c.encode(paymentId, forKey: .paymentId)
        try c.encode(stripeEventId, forKey: .stripeEventId)
        try c.encode(eventType, forKey: .eventType)
        try c.encode(eventStatus, forKey: .eventStatus)
    }

    /// Ties in time keep the order in which these things can happen.
    var rank: Int {
        switch kind {
        case .orderCreated: 0
        case .sessionOpened, .intentCreated: 1
        case .webhook: 2
        case .paymentFailed, .paymentSucceeded: 3
        case .orderPaid: 4
        case .refund, .disputed: 5
        case .orderCancelled: 6
        }
    }
}

/// A refund as Stripe reported it in a `refund.created` / `refund.updated` event.
struct StripeRefundRecord: Encodable, Sendable {
    let id: String
    let amount: Int
    let status: String
    let createdAt: String
}

/// Reads the stored events and rows into timeline entries.
struct AdminTimeline: Sendable {
    /// What the timeline needs of an event's JSON: the object it carries and a few of its fields.
    struct EventFacts {
        let object: String?
        let objectId: String?
        let created: Int?
        let amount: Int?
        let amountRefunded: Int?
        let refundStatus: String?
        let chargeId: String?
        let receiptURL: String?
        let failureCode: String?
        let paymentIntentId: String?

        init(payload: String) {
            let json = (try? JSONSerialization.jsonObject(with: Data(payload.utf8))) as? [String: Any]
            let data = json?["data"] as? [String: Any]
            let o = data?["object"] as? [String: Any] ?? [:]
            object = o["object"] as? String
            objectId = o["id"] as? String
            created = o["created"] as? Int
            amount = o["amount"] as? Int
            amountRefunded = o["amount_refunded"] as? Int
            refundStatus = o["status"] as? String
            chargeId = object == "charge" ? objectId : o["charge"] as? String
            receiptURL = o["receipt_url"] as? String
            failureCode =
                (o["last_payment_error"] as? [String: Any])?["code"] as? String ?? o["failure_code"] as? String
            paymentIntentId = object == "payment_intent" ? objectId : o["payment_intent"] as? String
        }
    }

    /// Events about these payments: the window runs from the first record's creation to a quarter of an hour after
    /// the last change of any of them (Stripe's events arrive within seconds of the change they report).
    static func window(created: Int, updated: [Int]) -> (from: Int, to: Int) {
        (created - 1000, (updated.max() ?? created) + 15 * 60 * 1000)
    }

    static func ids(of payments: [Payment]) -> [String] {
        payments.flatMap { [$0.id, $0.checkoutSessionId, $0.paymentIntentId].compactMap { $0 } }
    }

    static func entries(for payment: Payment) -> [TimelineEntry] {
        let (kind, title, detail): (TimelineEntry.Kind, String, String?) =
            switch payment.method {
            case .checkout: (.sessionOpened, "Checkout session opened", payment.checkoutSessionId)
            case .intent: (.intentCreated, "Payment intent created", payment.paymentIntentId)
            case .invoice: (.intentCreated, "Subscription invoice charged", payment.invoiceId)
            }
        var entries = [
            TimelineEntry(
                atMillis: payment.createdAt, kind: kind, title: title, detail: detail, amount: payment.amount,
                currency: payment.currency, paymentId: payment.id)
        ]
        if let at = payment.succeededAt {
            entries.append(
                TimelineEntry(
                    atMillis: at, kind: .paymentSucceeded, title: "Payment succeeded", detail: payment.paymentIntentId,
                    amount: payment.amount, currency: payment.currency, paymentId: payment.id))
        }
        if payment.status == .failed || payment.failureCode != nil {
            let reason = [payment.failureCode, payment.failureMessage].compactMap { $0 }.joined(separator: ": ")
            entries.append(
                TimelineEntry(
                    atMillis: payment.updatedAt, kind: .paymentFailed,
                    title: payment.status == .failed ? "Payment attempt failed" : "A payment attempt failed before",
                    detail: reason.isEmpty ? nil : reason, paymentId: payment.id))
        }
        if payment.refundRequested > payment.amountRefunded {
            entries.append(
                TimelineEntry(
                    atMillis: payment.updatedAt, kind: .refund, title: "Refund requested, waiting for Stripe",
                    amount: payment.refundRequested - payment.amountRefunded, currency: payment.currency,
                    paymentId: payment.id))
        }
        return entries
    }

    /// The events as entries, plus a refund entry per refund Stripe reported (or one for the payment's refunded total
    /// when no refund event was stored) and a dispute entry. A refund is placed when Till heard of it: Stripe's
    /// `created` has whole seconds, which would put it before the order it refunds.
    static func entries(events: [AdminRepository.StoredEvent], payments: [Payment]) -> [TimelineEntry] {
        var entries: [TimelineEntry] = []
        var refundsSeen: [String: Set<String>] = [:]
        for event in events {
            let facts = EventFacts(payload: event.payload)
            let payment = payments.first { p in
                [p.id, p.checkoutSessionId, p.paymentIntentId].compactMap { $0 }.contains {
                    event.payload.contains("\"\($0)\"")
                }
            }
            var detail = [facts.objectId, facts.failureCode.map { "failure: \($0)" }].compactMap { $0 }.joined(
                separator: " · ")
            if let error = event.row.lastError { detail += " · last error: \(error)" }
            entries.append(
                TimelineEntry(
                    atMillis: event.receivedAt, kind: .webhook, title: event.row.type,
                    detail: detail.isEmpty ? nil : detail,
                    paymentId: payment?.id, stripeEventId: event.row.id, eventType: event.row.type,
                    eventStatus: event.row.status.rawValue))
            if facts.object == "refund", let id = facts.objectId, let amount = facts.amount, let payment,
                refundsSeen[payment.id, default: []].insert(id).inserted
            {
                entries.append(
                    TimelineEntry(
                        atMillis: event.receivedAt, kind: .refund,
                        title: "Refunded (\(facts.refundStatus ?? "pending") at Stripe)", detail: id, amount: amount,
                        currency: payment.currency, paymentId: payment.id, stripeEventId: event.row.id))
            }
            if event.row.type == "charge.dispute.created" {
                entries.append(
                    TimelineEntry(
                        atMillis: event.receivedAt, kind: .disputed, title: "The customer disputed the charge",
                        detail: facts.objectId, paymentId: payment?.id, stripeEventId: event.row.id))
            }
        }
        for payment in payments where payment.amountRefunded > 0 && refundsSeen[payment.id] == nil {
            entries.append(
                TimelineEntry(
                    atMillis: payment.updatedAt, kind: .refund, title: "Refunded", amount: payment.amountRefunded,
                    currency: payment.currency, paymentId: payment.id))
        }
        return entries
    }

    static func sorted(_ entries: [TimelineEntry]) -> [TimelineEntry] {
        entries.enumerated().sorted { a, b in
            (a.element.atMillis, a.element.rank, a.offset) < (b.element.atMillis, b.element.rank, b.offset)
        }.map(\.element)
    }

    /// The refunds Stripe reported for a payment, newest state of each.
    static func refunds(events: [AdminRepository.StoredEvent]) -> [StripeRefundRecord] {
        var byId: [String: StripeRefundRecord] = [:]
        var order: [String] = []
        for event in events {
            let facts = EventFacts(payload: event.payload)
            guard facts.object == "refund", let id = facts.objectId, let amount = facts.amount else { continue }
            if byId[id] == nil { order.append(id) }
            byId[id] = StripeRefundRecord(
                id: id, amount: amount, status: facts.refundStatus ?? "pending",
                createdAt: Timestamps.rfc3339(facts.created.map { $0 * 1000 } ?? event.receivedAt))
        }
        return order.compactMap { byId[$0] }
    }
}
