/// A Stripe Charge.
public struct Charge: Codable, Sendable, StripeIdentifiable {
    public var id: String
    public var object = "charge"
    public var amount: Int
    public var amountCaptured: Int
    public var amountRefunded: Int
    public var currency: String
    public var captured: Bool
    public var paid: Bool
    public var refunded: Bool
    public var disputed: Bool
    public var status: String
    @Nullable public var paymentIntent: String?
    @Nullable public var paymentMethod: String?
    @Nullable public var failureCode: String?
    @Nullable public var failureMessage: String?
    public var metadata: [String: String]
    public var created: Int
    public var livemode: Bool

    public init(id: String, amount: Int, currency: String, paymentIntent: String?, status: String = "succeeded", created: Int, metadata: [String: String] = [:], livemode: Bool = false) {
        self.id = id
        self.amount = amount
        self.amountCaptured = status == "succeeded" ? amount : 0
        self.amountRefunded = 0
        self.currency = currency
        self.captured = status == "succeeded"
        self.paid = status == "succeeded"
        self.refunded = false
        self.disputed = false
        self.status = status
        self.paymentIntent = paymentIntent
        self.metadata = metadata
        self.created = created
        self.livemode = livemode
    }

    enum CodingKeys: String, CodingKey {
        case id, object, amount, currency, captured, paid, refunded, disputed, status, metadata, created, livemode
        case amountCaptured = "amount_captured", amountRefunded = "amount_refunded"
        case paymentIntent = "payment_intent", paymentMethod = "payment_method"
        case failureCode = "failure_code", failureMessage = "failure_message"
    }
}

/// A Stripe Refund.
public struct Refund: Codable, Sendable, StripeIdentifiable {
    public enum Status: StripeEnum {
        case pending, requiresAction, succeeded, failed, canceled
        case unknown(String)
        public static let known: [(Self, String)] = [
            (.pending, "pending"), (.requiresAction, "requires_action"), (.succeeded, "succeeded"),
            (.failed, "failed"), (.canceled, "canceled"),
        ]
    }

    public var id: String
    public var object = "refund"
    public var amount: Int
    public var currency: String
    @Nullable public var charge: String?
    @Nullable public var paymentIntent: String?
    @Nullable public var reason: String?
    public var status: Status
    public var metadata: [String: String]
    public var created: Int

    public init(id: String, amount: Int, currency: String, charge: String?, paymentIntent: String?, status: Status = .succeeded, reason: String? = nil, metadata: [String: String] = [:], created: Int) {
        self.id = id
        self.amount = amount
        self.currency = currency
        self.charge = charge
        self.paymentIntent = paymentIntent
        self.status = status
        self.reason = reason
        self.metadata = metadata
        self.created = created
    }

    enum CodingKeys: String, CodingKey {
        case id, object, amount, currency, charge, reason, status, metadata, created
        case paymentIntent = "payment_intent"
    }
}

/// A Stripe Dispute.
public struct Dispute: Codable, Sendable, StripeIdentifiable {
    public enum Status: StripeEnum {
        case warningNeedsResponse, warningUnderReview, warningClosed, needsResponse, underReview, won, lost
        case unknown(String)
        public static let known: [(Self, String)] = [
            (.warningNeedsResponse, "warning_needs_response"), (.warningUnderReview, "warning_under_review"),
            (.warningClosed, "warning_closed"), (.needsResponse, "needs_response"), (.underReview, "under_review"),
            (.won, "won"), (.lost, "lost"),
        ]
    }

    public var id: String
    public var object = "dispute"
    public var amount: Int
    public var currency: String
    public var charge: String
    @Nullable public var paymentIntent: String?
    public var reason: String
    public var status: Status
    public var created: Int
    public var livemode: Bool

    public init(id: String, amount: Int, currency: String, charge: String, paymentIntent: String?, reason: String = "fraudulent", status: Status = .needsResponse, created: Int, livemode: Bool = false) {
        self.id = id
        self.amount = amount
        self.currency = currency
        self.charge = charge
        self.paymentIntent = paymentIntent
        self.reason = reason
        self.status = status
        self.created = created
        self.livemode = livemode
    }

    enum CodingKeys: String, CodingKey {
        case id, object, amount, currency, charge, reason, status, created, livemode
        case paymentIntent = "payment_intent"
    }
}

/// A webhook endpoint; `secret` is returned only when it is created.
public struct WebhookEndpoint: Codable, Sendable, StripeIdentifiable {
    public var id: String
    public var object = "webhook_endpoint"
    public var url: String
    public var enabledEvents: [String]
    @Nullable public var secret: String?
    @Nullable public var apiVersion: String?
    @Nullable public var description: String?
    public var status: String
    public var metadata: [String: String]
    public var created: Int
    public var livemode: Bool

    public init(id: String, url: String, enabledEvents: [String], secret: String?, apiVersion: String? = nil, created: Int, metadata: [String: String] = [:], livemode: Bool = false) {
        self.id = id
        self.url = url
        self.enabledEvents = enabledEvents
        self.secret = secret
        self.apiVersion = apiVersion
        self.status = "enabled"
        self.metadata = metadata
        self.created = created
        self.livemode = livemode
    }

    enum CodingKeys: String, CodingKey {
        case id, object, url, secret, description, status, metadata, created, livemode
        case enabledEvents = "enabled_events", apiVersion = "api_version"
    }
}

/// `{"id": ..., "deleted": true}`.
public struct DeletedObject: Codable, Sendable {
    public var id: String
    public var object: String
    public var deleted: Bool

    public init(id: String, object: String) {
        self.id = id
        self.object = object
        self.deleted = true
    }
}
