/// A Stripe PaymentIntent.
public struct PaymentIntent: Codable, Sendable, StripeIdentifiable {
    public enum Status: StripeEnum {
        case requiresPaymentMethod, requiresConfirmation, requiresAction, processing, requiresCapture, canceled, succeeded
        case unknown(String)
        public static let known: [(Self, String)] = [
            (.requiresPaymentMethod, "requires_payment_method"), (.requiresConfirmation, "requires_confirmation"),
            (.requiresAction, "requires_action"), (.processing, "processing"), (.requiresCapture, "requires_capture"),
            (.canceled, "canceled"), (.succeeded, "succeeded"),
        ]
    }

    public var id: String
    public var object = "payment_intent"
    public var amount: Int
    public var amountCapturable: Int
    public var amountReceived: Int
    public var currency: String
    public var status: Status
    @Nullable public var clientSecret: String?
    public var captureMethod: String
    public var confirmationMethod: String
    @Nullable public var latestCharge: Expandable<Charge>?
    @Nullable public var lastPaymentError: PaymentError?
    @Nullable public var paymentMethod: String?
    public var paymentMethodTypes: [String]
    @Nullable public var canceledAt: Int?
    @Nullable public var cancellationReason: String?
    @Nullable public var description: String?
    @Nullable public var receiptEmail: String?
    public var metadata: [String: String]
    public var created: Int
    public var livemode: Bool

    public init(id: String, amount: Int, currency: String, created: Int, metadata: [String: String] = [:], livemode: Bool = false) {
        self.id = id
        self.amount = amount
        self.amountCapturable = 0
        self.amountReceived = 0
        self.currency = currency
        self.status = .requiresPaymentMethod
        self.captureMethod = "automatic"
        self.confirmationMethod = "automatic"
        self.paymentMethodTypes = ["card"]
        self.metadata = metadata
        self.created = created
        self.livemode = livemode
    }

    enum CodingKeys: String, CodingKey {
        case id, object, amount, currency, status, description, metadata, created, livemode
        case amountCapturable = "amount_capturable", amountReceived = "amount_received"
        case clientSecret = "client_secret", captureMethod = "capture_method"
        case confirmationMethod = "confirmation_method", latestCharge = "latest_charge"
        case lastPaymentError = "last_payment_error", paymentMethod = "payment_method"
        case paymentMethodTypes = "payment_method_types", canceledAt = "canceled_at"
        case cancellationReason = "cancellation_reason", receiptEmail = "receipt_email"
    }
}

/// `last_payment_error` of a PaymentIntent: why the last attempt failed.
public struct PaymentError: Codable, Sendable {
    public var type: String
    @Nullable public var code: String?
    @Nullable public var declineCode: String?
    @Nullable public var message: String?
    @Nullable public var param: String?

    public init(type: String, code: String?, declineCode: String?, message: String?, param: String? = nil) {
        self.type = type
        self.code = code
        self.declineCode = declineCode
        self.message = message
        self.param = param
    }

    enum CodingKeys: String, CodingKey {
        case type, code, message, param
        case declineCode = "decline_code"
    }
}
