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

    // Stripe's other fields, carried whole (defaults are what Stripe sends when they are not used).
    public var application: JSONValue = nil
    public var applicationFee: JSONValue = nil
    public var applicationFeeAmount: JSONValue = nil
    public var balanceTransaction: JSONValue = nil
    public var billingDetails: JSONValue = nil
    public var calculatedStatementDescriptor: JSONValue = nil
    public var customer: JSONValue = nil
    public var description: JSONValue = nil
    public var failureBalanceTransaction: JSONValue = nil
    public var fraudDetails: JSONValue = [:]
    public var onBehalfOf: JSONValue = nil
    public var outcome: JSONValue = nil
    public var paymentMethodDetails: JSONValue = nil
    public var receiptEmail: JSONValue = nil
    public var receiptNumber: JSONValue = nil
    public var receiptUrl: JSONValue = nil
    public var refunds: JSONValue = nil
    public var review: JSONValue = nil
    public var shipping: JSONValue = nil
    public var sourceTransfer: JSONValue = nil
    public var statementDescriptor: JSONValue = nil
    public var statementDescriptorSuffix: JSONValue = nil
    public var transferData: JSONValue = nil
    public var transferGroup: JSONValue = nil
    public var source: JSONValue = nil

    public init(
        id: String, amount: Int, currency: String, paymentIntent: String?, status: String = "succeeded", created: Int,
        metadata: [String: String] = [:], livemode: Bool = false
    ) {
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
        case application
        case applicationFee = "application_fee"
        case applicationFeeAmount = "application_fee_amount"
        case balanceTransaction = "balance_transaction"
        case billingDetails = "billing_details"
        case calculatedStatementDescriptor = "calculated_statement_descriptor"
        case customer, description
        case failureBalanceTransaction = "failure_balance_transaction"
        case fraudDetails = "fraud_details"
        case onBehalfOf = "on_behalf_of"
        case outcome
        case paymentMethodDetails = "payment_method_details"
        case receiptEmail = "receipt_email"
        case receiptNumber = "receipt_number"
        case receiptUrl = "receipt_url"
        case refunds, review, shipping
        case sourceTransfer = "source_transfer"
        case statementDescriptor = "statement_descriptor"
        case statementDescriptorSuffix = "statement_descriptor_suffix"
        case transferData = "transfer_data"
        case transferGroup = "transfer_group"
        case source
        case id, object, amount, currency, captured, paid, refunded, disputed, status, metadata, created, livemode
        case amountCaptured = "amount_captured"
        case amountRefunded = "amount_refunded"
        case paymentIntent = "payment_intent"
        case paymentMethod = "payment_method"
        case failureCode = "failure_code"
        case failureMessage = "failure_message"
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

    // Stripe's other fields, carried whole (defaults are what Stripe sends when they are not used).
    public var balanceTransaction: JSONValue = nil
    public var destinationDetails: JSONValue = nil
    public var receiptNumber: JSONValue = nil
    public var sourceTransferReversal: JSONValue = nil
    public var transferReversal: JSONValue = nil
    public var customer: JSONValue = nil
    public var customerAccount: JSONValue = nil
    public var paymentMethod: JSONValue = nil
    /// Only on a refund that failed (Stripe leaves them out otherwise).
    public var failureReason: String?
    public var failureBalanceTransaction: String?

    public init(
        id: String, amount: Int, currency: String, charge: String?, paymentIntent: String?, status: Status = .succeeded,
        reason: String? = nil, metadata: [String: String] = [:], created: Int
    ) {
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
        case balanceTransaction = "balance_transaction"
        case destinationDetails = "destination_details"
        case receiptNumber = "receipt_number"
        case sourceTransferReversal = "source_transfer_reversal"
        case transferReversal = "transfer_reversal"
        case customer
        case customerAccount = "customer_account"
        case paymentMethod = "payment_method"
        case id, object, amount, currency, charge, reason, status, metadata, created
        case paymentIntent = "payment_intent"
        case failureReason = "failure_reason"
        case failureBalanceTransaction = "failure_balance_transaction"
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

    // Stripe's other fields, carried whole (defaults are what Stripe sends when they are not used).
    public var balanceTransactions: JSONValue = []
    public var evidence: JSONValue = nil
    public var evidenceDetails: JSONValue = nil
    public var isChargeRefundable: JSONValue = true
    public var metadata: JSONValue = [:]
    public var paymentMethodDetails: JSONValue = nil
    public var enhancedEligibilityTypes: JSONValue = nil

    public init(
        id: String, amount: Int, currency: String, charge: String, paymentIntent: String?,
        reason: String = "fraudulent", status: Status = .needsResponse, created: Int, livemode: Bool = false
    ) {
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
        case balanceTransactions = "balance_transactions"
        case evidence
        case evidenceDetails = "evidence_details"
        case isChargeRefundable = "is_charge_refundable"
        case metadata
        case paymentMethodDetails = "payment_method_details"
        case enhancedEligibilityTypes = "enhanced_eligibility_types"
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
    /// Omitted (not null) when Stripe does not show it.
    public var secret: String?
    @Nullable public var apiVersion: String?
    @Nullable public var description: String?
    public var status: String
    public var metadata: [String: String]
    public var created: Int
    public var livemode: Bool

    // Stripe's other fields, carried whole (defaults are what Stripe sends when they are not used).
    public var application: JSONValue = nil

    public init(
        id: String, url: String, enabledEvents: [String], secret: String?, apiVersion: String? = nil, created: Int,
        metadata: [String: String] = [:], livemode: Bool = false
    ) {
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
        case application
        case id, object, url, secret, description, status, metadata, created, livemode
        case enabledEvents = "enabled_events"
        case apiVersion = "api_version"
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
