import Foundation

/// Builds events shaped as Stripe sends them, for `till trigger` and tests: the offline stand-in for `stripe trigger`.
public enum TestEvents {
    public struct Options: Sendable {
        public var orderId: String?
        public var paymentId: String?
        public var sessionId: String?
        public var paymentIntentId: String?
        public var chargeId: String?
        public var amount: Int
        public var currency: String
        /// For `charge.refunded`: how much of the charge was refunded (default: all of it).
        public var amountRefunded: Int?
        /// For `checkout.session.completed`: `unpaid` models a delayed payment method.
        public var paymentStatus: String
        public var customerEmail: String
        // Billing events (`invoice.*`, `customer.subscription.*`).
        public var customerId: String?
        public var subscriptionId: String?
        public var invoiceId: String?
        /// The subscription's metadata (Till's `userId`, `planId`, `subscriptionId`).
        public var subscriptionMetadata: [String: String] = [:]
        /// For `customer.subscription.updated`: the status (default `active`).
        public var subscriptionStatus: String?
        /// The current period (default: 30 days from 60 seconds ago).
        public var periodStart: Int?
        public var periodEnd: Int?
        public var cancelAtPeriodEnd = false

        public init(
            orderId: String? = nil, paymentId: String? = nil, sessionId: String? = nil, paymentIntentId: String? = nil,
            chargeId: String? = nil, amount: Int = 1999, currency: String = "usd", amountRefunded: Int? = nil,
            paymentStatus: String = "paid", customerEmail: String = "customer@example.com"
        ) {
            self.orderId = orderId
            self.paymentId = paymentId
            self.sessionId = sessionId
            self.paymentIntentId = paymentIntentId
            self.chargeId = chargeId
            self.amount = amount
            self.currency = currency
            self.amountRefunded = amountRefunded
            self.paymentStatus = paymentStatus
            self.customerEmail = customerEmail
        }
    }

    public static let supportedTypes = [
        "checkout.session.completed", "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed", "checkout.session.expired", "payment_intent.created",
        "payment_intent.succeeded", "payment_intent.payment_failed", "payment_intent.canceled", "charge.succeeded",
        "charge.refunded", "charge.dispute.created", "refund.created", "refund.failed", "invoice.paid",
        "invoice.payment_failed",
        "customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted",
    ]

    public struct UnsupportedType: Error, CustomStringConvertible {
        public let type: String
        public var description: String {
            "Unsupported event type \(type). Supported: \(TestEvents.supportedTypes.joined(separator: ", "))"
        }
    }

    public static func make(type: String, options o: Options, now: Int = Int(Date().timeIntervalSince1970)) throws
        -> Event
    {
        let piId = o.paymentIntentId ?? randomId("pi")
        let chId = o.chargeId ?? randomId("ch")
        var metadata: [String: String] = [:]
        if let orderId = o.orderId { metadata["orderId"] = orderId }
        if let paymentId = o.paymentId { metadata["paymentId"] = paymentId }

        func session(status: CheckoutSession.Status, paymentStatus: CheckoutSession.PaymentStatus, withIntent: Bool)
            -> CheckoutSession
        {
            var s = CheckoutSession(
                id: o.sessionId ?? randomId("cs_test"), created: now - 60, expiresAt: now + 1800, metadata: metadata)
            s.amountSubtotal = o.amount
            s.amountTotal = o.amount
            s.currency = o.currency
            s.clientReferenceId = o.orderId
            s.customerEmail = o.customerEmail
            s.customerDetails = .init(email: o.customerEmail, name: "Jenny Rosen")
            s.status = status
            s.paymentStatus = paymentStatus
            s.paymentIntent = withIntent ? .id(piId) : nil
            s.successUrl = "http://localhost:8080/checkout/success?session_id={CHECKOUT_SESSION_ID}"
            s.cancelUrl = "http://localhost:8080/checkout/cancel"
            s.url = status == .open ? "https://checkout.stripe.com/c/pay/\(s.id)" : nil
            return s
        }

        func intent(_ status: PaymentIntent.Status) -> PaymentIntent {
            var pi = PaymentIntent(
                id: piId, amount: o.amount, currency: o.currency, created: now - 60, metadata: metadata)
            pi.status = status
            pi.clientSecret = "\(piId)_secret_\(randomToken(24))"
            if status == .succeeded {
                pi.amountReceived = o.amount
                pi.latestCharge = .id(chId)
                pi.paymentMethod = randomId("pm")
            }
            if status == .requiresPaymentMethod {
                pi.lastPaymentError = PaymentError(
                    type: "card_error", code: "card_declined", declineCode: "generic_decline",
                    message: "Your card was declined.")
                pi.latestCharge = .id(chId)
            }
            if status == .canceled {
                pi.canceledAt = now
                pi.cancellationReason = "requested_by_customer"
            }
            return pi
        }

        func charge(refunded: Int) -> Charge {
            var c = Charge(
                id: chId, amount: o.amount, currency: o.currency, paymentIntent: piId, created: now - 60,
                metadata: metadata)
            c.amountRefunded = refunded
            c.refunded = refunded >= o.amount
            c.paymentMethod = randomId("pm")
            return c
        }

        let object: Event.Object
        switch type {
        case "checkout.session.completed":
            let paid = o.paymentStatus != "unpaid"
            object = .checkoutSession(
                session(status: .complete, paymentStatus: paid ? .paid : .unpaid, withIntent: true))
        case "checkout.session.async_payment_succeeded":
            object = .checkoutSession(session(status: .complete, paymentStatus: .paid, withIntent: true))
        case "checkout.session.async_payment_failed":
            object = .checkoutSession(session(status: .complete, paymentStatus: .unpaid, withIntent: true))
        case "checkout.session.expired":
            object = .checkoutSession(session(status: .expired, paymentStatus: .unpaid, withIntent: false))
        case "payment_intent.created": object = .paymentIntent(intent(.requiresPaymentMethod))
        case "payment_intent.succeeded": object = .paymentIntent(intent(.succeeded))
        case "payment_intent.payment_failed": object = .paymentIntent(intent(.requiresPaymentMethod))
        case "payment_intent.canceled": object = .paymentIntent(intent(.canceled))
        case "charge.succeeded": object = .charge(charge(refunded: 0))
        case "charge.refunded": object = .charge(charge(refunded: o.amountRefunded ?? o.amount))
        case "charge.dispute.created":
            object = .dispute(
                Dispute(
                    id: randomId("dp"), amount: o.amount, currency: o.currency, charge: chId, paymentIntent: piId,
                    created: now))
        case "refund.created", "refund.failed":
            var refund = Refund(
                id: randomId("re"), amount: o.amountRefunded ?? o.amount, currency: o.currency, charge: chId,
                paymentIntent: piId, created: now)
            if type == "refund.failed" {
                refund.status = .failed
                refund.failureReason = "expired_or_canceled_card"
            }
            object = .refund(refund)
        case "invoice.paid", "invoice.payment_failed":
            let invoice = billingInvoice(paid: type == "invoice.paid", o, now: now)
            return event(type, .other(type: "invoice", id: invoice.id), raw: .from(invoice), now: now)
        case "customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted":
            let status = type == "customer.subscription.deleted" ? "canceled" : (o.subscriptionStatus ?? "active")
            let sub = billingSubscription(status: status, o, now: now)
            var made = event(type, .other(type: "subscription", id: sub.id), raw: .from(sub), now: now)
            if type == "customer.subscription.updated" {
                made.data.previousAttributes = ["cancel_at_period_end": .bool(!o.cancelAtPeriodEnd)]
            }
            return made
        default:
            throw UnsupportedType(type: type)
        }
        return Event(
            id: randomId("evt"), type: .init(rawValue: type), object: object, created: now,
            apiVersion: StripeConfiguration.pinnedAPIVersion,
            request: .init(id: randomId("req"), idempotencyKey: UUID().uuidString.lowercased()))
    }

    static func event(_ type: String, _ object: Event.Object, raw: JSONValue, now: Int) -> Event {
        var event = Event(
            id: randomId("evt"), type: .init(rawValue: type), object: object, created: now,
            apiVersion: StripeConfiguration.pinnedAPIVersion, request: .init(id: nil, idempotencyKey: nil))
        event.data.rawObject = raw
        return event
    }

    static func period(_ o: Options, now: Int) -> (start: Int, end: Int) {
        let start = o.periodStart ?? now - 60
        return (start, o.periodEnd ?? start + 30 * 86_400)
    }

    /// A subscription of the current API version: one monthly item, its period on the item.
    public static func billingSubscription(status: String, _ o: Options, now: Int) -> Subscription {
        let id = o.subscriptionId ?? randomId("sub")
        let (start, end) = period(o, now: now)
        let priceId = randomId("price")
        var fields = Subscription.defaults
        fields["id"] = .string(id)
        fields["customer"] = .string(o.customerId ?? randomId("cus"))
        fields["created"] = .int(start)
        fields["start_date"] = .int(start)
        fields["billing_cycle_anchor"] = .int(start)
        fields["currency"] = .string(o.currency)
        fields["status"] = .string(status)
        fields["metadata"] = .from(o.subscriptionMetadata)
        fields["cancel_at_period_end"] = .bool(o.cancelAtPeriodEnd)
        fields["cancel_at"] = o.cancelAtPeriodEnd ? .int(end) : .null
        fields["canceled_at"] = o.cancelAtPeriodEnd || status == "canceled" ? .int(now) : .null
        fields["ended_at"] = status == "canceled" ? .int(now) : .null
        fields["latest_invoice"] = .string(o.invoiceId ?? randomId("in"))
        let price: JSONValue = [
            "id": .string(priceId), "object": "price", "active": true, "billing_scheme": "per_unit",
            "created": .int(start), "currency": .string(o.currency), "custom_unit_amount": nil, "livemode": false,
            "lookup_key": nil, "metadata": [:], "nickname": nil, "product": .string(randomId("prod")),
            "recurring": [
                "interval": "month", "interval_count": 1, "meter": nil, "usage_type": "licensed",
                "trial_period_days": nil,
            ],
            "tax_behavior": "unspecified", "tiers_mode": nil, "transform_quantity": nil, "type": "recurring",
            "unit_amount": .int(o.amount), "unit_amount_decimal": .string(String(o.amount)),
        ]
        fields["items"] = [
            "object": "list", "has_more": false, "url": .string("/v1/subscription_items?subscription=\(id)"),
            "data": [
                [
                    "id": .string(randomId("si")), "object": "subscription_item", "created": .int(start),
                    "current_period_start": .int(start), "current_period_end": .int(end), "discounts": [],
                    "metadata": [:], "price": price, "quantity": 1, "subscription": .string(id), "tax_rates": [],
                    "billing_thresholds": nil,
                    "plan": [
                        "id": .string(priceId), "object": "plan", "active": true, "amount": .int(o.amount),
                        "amount_decimal": .string(String(o.amount)), "billing_scheme": "per_unit",
                        "created": .int(start), "currency": .string(o.currency), "interval": "month",
                        "interval_count": 1, "livemode": false, "metadata": [:], "meter": nil, "nickname": nil,
                        "product": price["product"] ?? nil, "tiers_mode": nil, "transform_usage": nil,
                        "trial_period_days": nil, "usage_type": "licensed",
                    ],
                ]
            ],
        ]
        return Subscription(fields: fields)
    }

    /// A subscription's invoice for the current period, paid or with a failed attempt.
    public static func billingInvoice(paid: Bool, _ o: Options, now: Int) -> Invoice {
        let id = o.invoiceId ?? randomId("in")
        let subscription = o.subscriptionId ?? randomId("sub")
        let (start, end) = period(o, now: now)
        var fields = Invoice.defaults
        fields["id"] = .string(id)
        fields["customer"] = .string(o.customerId ?? randomId("cus"))
        fields["customer_email"] = .string(o.customerEmail)
        fields["created"] = .int(start)
        fields["effective_at"] = .int(start)
        fields["currency"] = .string(o.currency)
        fields["billing_reason"] = "subscription_cycle"
        fields["status"] = paid ? "paid" : "open"
        fields["amount_due"] = .int(o.amount)
        fields["amount_paid"] = .int(paid ? o.amount : 0)
        fields["amount_remaining"] = .int(paid ? 0 : o.amount)
        fields["subtotal"] = .int(o.amount)
        fields["subtotal_excluding_tax"] = .int(o.amount)
        fields["total"] = .int(o.amount)
        fields["total_excluding_tax"] = .int(o.amount)
        fields["attempted"] = true
        fields["attempt_count"] = 1
        fields["next_payment_attempt"] = paid ? .null : .int(now + 3 * 86_400)
        fields["period_start"] = .int(start)
        fields["period_end"] = .int(start)
        fields["status_transitions"] = [
            "finalized_at": .int(start), "marked_uncollectible_at": nil, "paid_at": paid ? .int(now) : nil,
            "voided_at": nil,
        ]
        fields["parent"] = [
            "type": "subscription_details", "quote_details": nil,
            "subscription_details": [
                "metadata": .from(o.subscriptionMetadata), "subscription": .string(subscription),
            ],
        ]
        fields["lines"] = [
            "object": "list", "has_more": false, "url": .string("/v1/invoices/\(id)/lines"),
            "data": [
                [
                    "id": .string(randomId("il")), "object": "line_item", "amount": .int(o.amount),
                    "currency": .string(o.currency), "description": .string("1 × Plan (at \(o.amount) / month)"),
                    "invoice": .string(id), "livemode": false, "metadata": [:],
                    "period": ["start": .int(start), "end": .int(end)], "quantity": 1, "subtotal": .int(o.amount),
                    "parent": [
                        "type": "subscription_item_details", "invoice_item_details": nil,
                        "subscription_item_details": [
                            "invoice_item": nil, "proration": false, "subscription": .string(subscription),
                            "subscription_item": .string(randomId("si")),
                        ],
                    ],
                ]
            ],
        ]
        return Invoice(fields: fields)
    }

    /// `prefix_` followed by 24 random letters and digits, as Stripe's ids look.
    public static func randomId(_ prefix: String) -> String { prefix + "_" + randomToken(24) }

    public static func randomToken(_ count: Int) -> String {
        // Ten letters or digits from each 64-bit draw (62^10 < 2^64), rather than a draw (a getrandom system call)
        // for every character: ids are made on the emulator's hot path.
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789".utf8)
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(max(count, 0))
        var draw: UInt64 = 0
        for index in 0..<max(count, 0) {
            if index % 10 == 0 { draw = generator.next() }
            bytes.append(alphabet[Int(draw % 62)])
            draw /= 62
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
