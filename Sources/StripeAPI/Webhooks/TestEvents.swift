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
        "charge.refunded", "charge.dispute.created", "refund.created",
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
        case "refund.created":
            object = .refund(
                Refund(
                    id: randomId("re"), amount: o.amountRefunded ?? o.amount, currency: o.currency, charge: chId,
                    paymentIntent: piId, created: now))
        default:
            throw UnsupportedType(type: type)
        }
        return Event(
            id: randomId("evt"), type: .init(rawValue: type), object: object, created: now,
            apiVersion: StripeConfiguration.pinnedAPIVersion,
            request: .init(id: randomId("req"), idempotencyKey: UUID().uuidString.lowercased()))
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
