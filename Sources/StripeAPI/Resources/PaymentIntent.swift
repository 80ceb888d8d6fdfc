/// A Stripe PaymentIntent.
public struct PaymentIntent: Codable, Sendable, StripeIdentifiable {
    public enum Status: StripeEnum {
        case requiresPaymentMethod, requiresConfirmation, requiresAction, processing, requiresCapture, canceled,
            succeeded
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

    // Stripe's other fields, carried whole (defaults are what Stripe sends when they are not used).
    public var amountDetails: JSONValue = ["tip": [:]]
    public var application: JSONValue = nil
    public var applicationFeeAmount: JSONValue = nil
    public var automaticPaymentMethods: JSONValue = nil
    public var customer: JSONValue = nil
    public var nextAction: JSONValue = nil
    public var onBehalfOf: JSONValue = nil
    public var paymentMethodConfigurationDetails: JSONValue = nil
    public var paymentMethodOptions: JSONValue = [:]
    public var processing: JSONValue = nil
    public var review: JSONValue = nil
    public var setupFutureUsage: JSONValue = nil
    public var shipping: JSONValue = nil
    public var statementDescriptor: JSONValue = nil
    public var statementDescriptorSuffix: JSONValue = nil
    public var transferData: JSONValue = nil
    public var transferGroup: JSONValue = nil
    public var source: JSONValue = nil
    public var excludedPaymentMethodTypes: JSONValue = nil
    public var customerAccount: JSONValue = nil
    public var managedPayments: JSONValue = nil

    public init(
        id: String, amount: Int, currency: String, created: Int, metadata: [String: String] = [:],
        livemode: Bool = false
    ) {
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
        case amountDetails = "amount_details"
        case application
        case applicationFeeAmount = "application_fee_amount"
        case automaticPaymentMethods = "automatic_payment_methods"
        case customer
        case nextAction = "next_action"
        case onBehalfOf = "on_behalf_of"
        case paymentMethodConfigurationDetails = "payment_method_configuration_details"
        case paymentMethodOptions = "payment_method_options"
        case processing, review
        case setupFutureUsage = "setup_future_usage"
        case shipping
        case statementDescriptor = "statement_descriptor"
        case statementDescriptorSuffix = "statement_descriptor_suffix"
        case transferData = "transfer_data"
        case transferGroup = "transfer_group"
        case source
        case excludedPaymentMethodTypes = "excluded_payment_method_types"
        case customerAccount = "customer_account"
        case managedPayments = "managed_payments"
        case id, object, amount, currency, status, description, metadata, created, livemode
        case amountCapturable = "amount_capturable"
        case amountReceived = "amount_received"
        case clientSecret = "client_secret"
        case captureMethod = "capture_method"
        case confirmationMethod = "confirmation_method"
        case latestCharge = "latest_charge"
        case lastPaymentError = "last_payment_error"
        case paymentMethod = "payment_method"
        case paymentMethodTypes = "payment_method_types"
        case canceledAt = "canceled_at"
        case cancellationReason = "cancellation_reason"
        case receiptEmail = "receipt_email"
    }
}

/// `last_payment_error` of a PaymentIntent: why the last attempt failed.
public struct PaymentError: Codable, Sendable {
    public var type: String
    @Nullable public var code: String?
    @Nullable public var declineCode: String?
    @Nullable public var message: String?
    @Nullable public var param: String?
    /// A card's decline names the failed charge and the payment method it was made with (the whole object); other
    /// errors leave both out.
    public var charge: String?
    public var paymentMethod: PaymentMethod?

    public init(
        type: String, code: String?, declineCode: String?, message: String?, param: String? = nil,
        charge: String? = nil, paymentMethod: PaymentMethod? = nil
    ) {
        self.type = type
        self.code = code
        self.declineCode = declineCode
        self.message = message
        self.param = param
        self.charge = charge
        self.paymentMethod = paymentMethod
    }

    enum CodingKeys: String, CodingKey {
        case type, code, message, param, charge
        case declineCode = "decline_code"
        case paymentMethod = "payment_method"
    }
}
