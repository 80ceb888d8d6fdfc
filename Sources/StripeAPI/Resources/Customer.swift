/// A Stripe Customer.
public struct Customer: Codable, Sendable, StripeIdentifiable {
    /// `invoice_settings`: what invoices and subscriptions of this customer use by default.
    public struct InvoiceSettings: Codable, Sendable {
        @Nullable public var defaultPaymentMethod: String?
        public var customFields: JSONValue = nil
        public var footer: JSONValue = nil
        public var renderingOptions: JSONValue = nil

        public init(defaultPaymentMethod: String? = nil) {
            self.defaultPaymentMethod = defaultPaymentMethod
        }

        enum CodingKeys: String, CodingKey {
            case defaultPaymentMethod = "default_payment_method"
            case customFields = "custom_fields"
            case footer
            case renderingOptions = "rendering_options"
        }
    }

    public var id: String
    public var object = "customer"
    @Nullable public var email: String?
    @Nullable public var name: String?
    @Nullable public var description: String?
    public var invoiceSettings: InvoiceSettings
    public var metadata: [String: String]
    public var created: Int
    public var livemode: Bool

    // Stripe's other fields, carried whole (defaults are what Stripe sends when they are not used).
    public var address: JSONValue = nil
    public var balance: JSONValue = 0
    public var currency: JSONValue = nil
    public var defaultSource: JSONValue = nil
    public var delinquent: JSONValue = false
    public var discount: JSONValue = nil
    public var invoicePrefix: JSONValue = ""
    public var nextInvoiceSequence: JSONValue = 1
    public var phone: JSONValue = nil
    public var preferredLocales: JSONValue = []
    public var shipping: JSONValue = nil
    public var taxExempt: JSONValue = "none"
    public var testClock: JSONValue = nil

    public init(
        id: String, email: String? = nil, name: String? = nil, description: String? = nil,
        metadata: [String: String] = [:], created: Int, livemode: Bool = false
    ) {
        self.id = id
        self.email = email
        self.name = name
        self.description = description
        self.invoiceSettings = InvoiceSettings()
        self.metadata = metadata
        self.created = created
        self.livemode = livemode
    }

    enum CodingKeys: String, CodingKey {
        case id, object, email, name, description, metadata, created, livemode
        case invoiceSettings = "invoice_settings"
        case address, balance, currency
        case defaultSource = "default_source"
        case delinquent, discount
        case invoicePrefix = "invoice_prefix"
        case nextInvoiceSequence = "next_invoice_sequence"
        case phone
        case preferredLocales = "preferred_locales"
        case shipping
        case taxExempt = "tax_exempt"
        case testClock = "test_clock"
    }
}
