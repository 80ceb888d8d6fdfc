/// A Stripe Checkout Session.
@dynamicMemberLookup
public struct CheckoutSession: Codable, Sendable, StripeIdentifiable {
    public enum Status: StripeEnum {
        case open, complete, expired
        case unknown(String)
        public static let known: [(Self, String)] = [(.open, "open"), (.complete, "complete"), (.expired, "expired")]
    }

    public enum PaymentStatus: StripeEnum {
        case paid, unpaid, noPaymentRequired
        case unknown(String)
        public static let known: [(Self, String)] = [
            (.paid, "paid"), (.unpaid, "unpaid"), (.noPaymentRequired, "no_payment_required"),
        ]
    }

    public struct CustomerDetails: Codable, Sendable {
        @Nullable public var email: String?
        @Nullable public var name: String?
        public var address: JSONValue = nil
        public var phone: JSONValue = nil
        public var taxExempt: JSONValue = "none"
        public var taxIds: JSONValue = []
        public var businessName: JSONValue = nil
        public var individualName: JSONValue = nil

        public init(email: String?, name: String? = nil) {
            self.email = email
            self.name = name
        }

        enum CodingKeys: String, CodingKey {
            case email, name, address, phone
            case taxExempt = "tax_exempt"
            case taxIds = "tax_ids"
            case businessName = "business_name"
            case individualName = "individual_name"
        }
    }

    /// The fields Till reads and the emulator sets, typed.
    public struct Typed: Codable, Sendable {
        public var id: String
        public var object = "checkout.session"
        @Nullable public var amountSubtotal: Int?
        @Nullable public var amountTotal: Int?
        @Nullable public var currency: String?
        @Nullable public var clientReferenceId: String?
        @Nullable public var customerEmail: String?
        @Nullable public var customerDetails: CustomerDetails?
        public var created: Int
        public var expiresAt: Int
        public var livemode: Bool
        public var metadata: [String: String]
        public var mode: String
        @Nullable public var paymentIntent: Expandable<PaymentIntent>?
        public var paymentStatus: PaymentStatus
        @Nullable public var status: Status?
        @Nullable public var successUrl: String?
        @Nullable public var cancelUrl: String?
        @Nullable public var url: String?
        /// Present only when expanded.
        public var lineItems: StripeList<LineItem>?

        init(id: String, created: Int, expiresAt: Int, mode: String, metadata: [String: String], livemode: Bool) {
            self.id = id
            self.created = created
            self.expiresAt = expiresAt
            self.mode = mode
            self.metadata = metadata
            self.livemode = livemode
            self.paymentStatus = .unpaid
            self.status = .open
        }

        enum CodingKeys: String, CodingKey {
            case id
            case object
            case currency
            case created
            case livemode
            case metadata
            case mode
            case status
            case url
            case amountSubtotal = "amount_subtotal"
            case amountTotal = "amount_total"
            case clientReferenceId = "client_reference_id"
            case customerEmail = "customer_email"
            case customerDetails = "customer_details"
            case expiresAt = "expires_at"
            case paymentIntent = "payment_intent"
            case paymentStatus = "payment_status"
            case successUrl = "success_url"
            case cancelUrl = "cancel_url"
            case lineItems = "line_items"
        }
    }

    /// Stripe's other fields, carried whole (defaults are what Stripe sends when they are not used).
    public struct Others: Codable, Sendable {
        public var afterExpiration: JSONValue = nil
        public var allowPromotionCodes: JSONValue = nil
        public var automaticTax: JSONValue = nil
        public var billingAddressCollection: JSONValue = nil
        public var clientSecret: JSONValue = nil
        public var consent: JSONValue = nil
        public var consentCollection: JSONValue = nil
        public var customFields: JSONValue = []
        public var customText: JSONValue = nil
        public var customer: JSONValue = nil
        public var customerCreation: JSONValue = nil
        public var invoice: JSONValue = nil
        public var invoiceCreation: JSONValue = nil
        public var locale: JSONValue = nil
        public var paymentLink: JSONValue = nil
        public var paymentMethodCollection: JSONValue = nil
        public var paymentMethodConfigurationDetails: JSONValue = nil
        public var paymentMethodOptions: JSONValue = [:]
        public var paymentMethodTypes: JSONValue = Defaults.card
        public var phoneNumberCollection: JSONValue = Defaults.disabled
        public var recoveredFrom: JSONValue = nil
        public var savedPaymentMethodOptions: JSONValue = nil
        public var setupIntent: JSONValue = nil
        public var shippingAddressCollection: JSONValue = nil
        public var shippingCost: JSONValue = nil
        public var shippingOptions: JSONValue = []
        public var submitType: JSONValue = nil
        public var subscription: JSONValue = nil
        public var totalDetails: JSONValue = nil
        public var uiMode: JSONValue = nil
        public var adaptivePricing: JSONValue = nil
        public var discounts: JSONValue = nil
        public var collectedInformation: JSONValue = nil
        public var permissions: JSONValue = Defaults.permissions
        public var walletOptions: JSONValue = [:]
        public var originContext: JSONValue = nil
        public var currencyConversion: JSONValue = nil
        public var customerAccount: JSONValue = nil
        public var integrationIdentifier: JSONValue = nil
        public var managedPayments: JSONValue = nil

        public init() {}

        enum CodingKeys: String, CodingKey {
            case afterExpiration = "after_expiration"
            case allowPromotionCodes = "allow_promotion_codes"
            case automaticTax = "automatic_tax"
            case billingAddressCollection = "billing_address_collection"
            case clientSecret = "client_secret"
            case consent
            case consentCollection = "consent_collection"
            case customFields = "custom_fields"
            case customText = "custom_text"
            case customer
            case customerCreation = "customer_creation"
            case invoice
            case invoiceCreation = "invoice_creation"
            case locale
            case paymentLink = "payment_link"
            case paymentMethodCollection = "payment_method_collection"
            case paymentMethodConfigurationDetails = "payment_method_configuration_details"
            case paymentMethodOptions = "payment_method_options"
            case paymentMethodTypes = "payment_method_types"
            case phoneNumberCollection = "phone_number_collection"
            case recoveredFrom = "recovered_from"
            case savedPaymentMethodOptions = "saved_payment_method_options"
            case setupIntent = "setup_intent"
            case shippingAddressCollection = "shipping_address_collection"
            case shippingCost = "shipping_cost"
            case shippingOptions = "shipping_options"
            case submitType = "submit_type"
            case subscription
            case totalDetails = "total_details"
            case uiMode = "ui_mode"
            case adaptivePricing = "adaptive_pricing"
            case discounts
            case collectedInformation = "collected_information"
            case permissions
            case walletOptions = "wallet_options"
            case originContext = "origin_context"
            case currencyConversion = "currency_conversion"
            case customerAccount = "customer_account"
            case integrationIdentifier = "integration_identifier"
            case managedPayments = "managed_payments"
        }
    }

    public var typed: Typed
    /// One box that copies of the session share, and that sessions made alike can share: most of these fields are
    /// the same in every session (the emulator keeps every session, and one in the idempotency cache besides). A
    /// write replaces the box.
    public var others: Shared<Others>

    public var id: String {
        get { typed.id }
        set { typed.id = newValue }
    }

    public subscript<T>(dynamicMember path: WritableKeyPath<Typed, T>) -> T {
        get { typed[keyPath: path] }
        set { typed[keyPath: path] = newValue }
    }

    public subscript<T>(dynamicMember path: WritableKeyPath<Others, T>) -> T {
        get { others[path] }
        set { others.value[keyPath: path] = newValue }
    }

    public init(from decoder: any Decoder) throws {
        typed = try Typed(from: decoder)
        others = Shared(try Others(from: decoder))
    }

    public func encode(to encoder: any Encoder) throws {
        try typed.encode(to: encoder)
        try others.value.encode(to: encoder)
    }

    /// What a caller needs of a session it has just created to send the customer there: decoding only these skips
    /// the 60-odd other keys (decoding the whole object was a tenth of the CPU of Till's checkout).
    public struct Summary: Decodable, Sendable {
        public var id: String
        @Nullable public var url: String?
        public var expiresAt: Int

        enum CodingKeys: String, CodingKey {
            case id, url
            case expiresAt = "expires_at"
        }
    }

    /// Stripe's non-empty defaults, made once: the emulator keeps every session, and a literal default would
    /// allocate for each.
    private enum Defaults {
        static let card: JSONValue = ["card"]
        static let disabled: JSONValue = ["enabled": false]
        static let permissions: JSONValue = ["update_shipping_details": nil]
    }

    private static let defaultOthers = Shared(Others())

    public init(
        id: String, created: Int, expiresAt: Int, mode: String = "payment", metadata: [String: String] = [:],
        livemode: Bool = false
    ) {
        typed = Typed(
            id: id, created: created, expiresAt: expiresAt, mode: mode, metadata: metadata, livemode: livemode)
        others = Self.defaultOthers
    }
}

/// A line of a Checkout Session (`object: "item"`).
public struct LineItem: Codable, Sendable, StripeIdentifiable {
    public var id: String
    public var object = "item"
    public var amountSubtotal: Int
    public var amountTotal: Int
    public var currency: String
    public var description: String
    public var quantity: Int
    @Nullable public var price: Price?

    // Stripe's other fields, carried whole (defaults are what Stripe sends when they are not used).
    public var amountDiscount: JSONValue = 0
    public var amountTax: JSONValue = 0
    public var metadata: JSONValue = nil
    public var adjustableQuantity: JSONValue = nil

    public init(
        id: String, amountSubtotal: Int, amountTotal: Int, currency: String, description: String, quantity: Int,
        price: Price?
    ) {
        self.id = id
        self.amountSubtotal = amountSubtotal
        self.amountTotal = amountTotal
        self.currency = currency
        self.description = description
        self.quantity = quantity
        self.price = price
    }

    enum CodingKeys: String, CodingKey {
        case amountDiscount = "amount_discount"
        case amountTax = "amount_tax"
        case metadata
        case adjustableQuantity = "adjustable_quantity"
        case id, object, currency, description, quantity, price
        case amountSubtotal = "amount_subtotal"
        case amountTotal = "amount_total"
    }
}
