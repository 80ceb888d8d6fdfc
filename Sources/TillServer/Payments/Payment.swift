import SQLKit
import TillCore

enum PaymentMethod: String, Sendable {
    case checkout
    case intent
    /// Stripe charged an invoice of a subscription.
    case invoice
}

struct Payment: Sendable {
    let id: String
    let kind: PaymentKind
    let method: PaymentMethod
    let orderId: String?
    let planId: String?
    let userId: String
    var subscriptionId: String?
    var invoiceId: String?
    var checkoutSessionId: String?
    var paymentIntentId: String?
    var checkoutURL: String?
    var clientSecret: String?
    let amount: Int
    let currency: String
    var status: PaymentStatus
    var amountRefunded: Int
    var refundRequested: Int
    var needsRefund: Bool
    var disputed: Bool
    /// This payment delivered its order or plan (so its refunds are the order's refunds).
    var fulfilled: Bool
    var failureCode: String?
    var failureMessage: String?
    var customerEmail: String?
    var expiresAt: Int?
    let createdAt: Int
    var updatedAt: Int
    var succeededAt: Int?

    init(row: any SQLRow) throws {
        id = try row.string("id")
        kind = try row.value("kind")
        method = try row.value("method")
        orderId = try row.optionalString("order_id")
        planId = try row.optionalString("plan_id")
        userId = try row.string("user_id")
        subscriptionId = try row.optionalString("subscription_id")
        invoiceId = try row.optionalString("invoice_id")
        checkoutSessionId = try row.optionalString("checkout_session_id")
        paymentIntentId = try row.optionalString("payment_intent_id")
        checkoutURL = try row.optionalString("checkout_url")
        clientSecret = try row.optionalString("client_secret")
        amount = try row.int("amount")
        currency = try row.string("currency")
        status = try row.value("status")
        amountRefunded = try row.int("amount_refunded")
        refundRequested = try row.int("refund_requested")
        needsRefund = try row.bool("needs_refund")
        disputed = try row.bool("disputed")
        fulfilled = try row.bool("fulfilled")
        failureCode = try row.optionalString("failure_code")
        failureMessage = try row.optionalString("failure_message")
        customerEmail = try row.optionalString("customer_email")
        expiresAt = try row.optionalInt("expires_at")
        createdAt = try row.int("created_at")
        updatedAt = try row.int("updated_at")
        succeededAt = try row.optionalInt("succeeded_at")
    }

    init(
        id: String, kind: PaymentKind, method: PaymentMethod, orderId: String?, planId: String?, userId: String,
        amount: Int, currency: String, now: Int
    ) {
        self.id = id
        self.kind = kind
        self.method = method
        self.orderId = orderId
        self.planId = planId
        self.userId = userId
        self.amount = amount
        self.currency = currency
        self.status = .initiated
        self.amountRefunded = 0
        self.refundRequested = 0
        self.needsRefund = false
        self.disputed = false
        self.fulfilled = false
        self.createdAt = now
        self.updatedAt = now
    }

    /// What the customer pays through at Stripe: the Checkout Session, else the PaymentIntent (a session's intent
    /// is recorded later, and is ended with its session).
    var stripeObjectId: String? { checkoutSessionId ?? paymentIntentId }

    var state: PaymentState {
        PaymentState(
            status: status, amount: amount, currency: currency, amountRefunded: amountRefunded,
            refundRequested: refundRequested, disputed: disputed, fulfilled: fulfilled)
    }

    static let columns = """
        id, kind, method, order_id, plan_id, user_id, checkout_session_id, payment_intent_id, checkout_url, client_secret,
        amount, currency, status, amount_refunded, refund_requested, needs_refund, disputed, fulfilled, failure_code,
        failure_message, customer_email, expires_at, created_at, updated_at, succeeded_at, subscription_id, invoice_id
        """
}

/// `payment` in the contract. The client secret is not part of it (only the owner gets it, from payment-intent).
extension Payment: Encodable {
    enum CodingKeys: String, CodingKey {
        case id, kind, orderId, planId, subscriptionId, invoiceId, userId, provider, checkoutSessionId, paymentIntentId,
            amount, currency, status
        case amountRefunded, failureCode, failureMessage, customerEmail, disputed, createdAt, updatedAt, succeededAt
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(kind.rawValue, forKey: .kind)
        try c.encode(orderId, forKey: .orderId)
        try c.encode(planId, forKey: .planId)
        try c.encode(subscriptionId, forKey: .subscriptionId)
        try c.encode(invoiceId, forKey: .invoiceId)
        try c.encode(userId, forKey: .userId)
        try c.encode("stripe", forKey: .provider)
        try c.encode(checkoutSessionId, forKey: .checkoutSessionId)
        try c.encode(paymentIntentId, forKey: .paymentIntentId)
        try c.encode(amount, forKey: .amount)
        try c.encode(currency, forKey: .currency)
        try c.encode(status.rawValue, forKey: .status)
        try c.encode(amountRefunded, forKey: .amountRefunded)
        try c.encode(failureCode, forKey: .failureCode)
        try c.encode(failureMessage, forKey: .failureMessage)
        try c.encode(customerEmail, forKey: .customerEmail)
        try c.encode(disputed, forKey: .disputed)
        try c.encode(Timestamps.rfc3339(createdAt), forKey: .createdAt)
        try c.encode(Timestamps.rfc3339(updatedAt), forKey: .updatedAt)
        try c.encode(succeededAt.map(Timestamps.rfc3339), forKey: .succeededAt)
    }
}
