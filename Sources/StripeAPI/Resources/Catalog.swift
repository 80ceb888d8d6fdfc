/// A Stripe Product.
public struct Product: Codable, Sendable, StripeIdentifiable {
    public var id: String
    public var object = "product"
    public var active: Bool
    public var name: String
    @Nullable public var description: String?
    public var metadata: [String: String]
    public var created: Int
    public var livemode: Bool

    // Stripe's other fields, carried whole (defaults are what Stripe sends when they are not used).
    public var defaultPrice: JSONValue = nil
    public var images: JSONValue = []
    public var marketingFeatures: JSONValue = []
    public var packageDimensions: JSONValue = nil
    public var shippable: JSONValue = nil
    public var statementDescriptor: JSONValue = nil
    public var taxCode: JSONValue = nil
    public var unitLabel: JSONValue = nil
    public var updated: JSONValue = 0
    public var url: JSONValue = nil
    public var type: JSONValue = "service"

    public init(
        id: String, name: String, description: String? = nil, active: Bool = true, metadata: [String: String] = [:],
        created: Int, livemode: Bool = false
    ) {
        self.id = id
        self.name = name
        self.description = description
        self.active = active
        self.metadata = metadata
        self.created = created
        self.livemode = livemode
    }

    enum CodingKeys: String, CodingKey {
        case defaultPrice = "default_price"
        case images
        case marketingFeatures = "marketing_features"
        case packageDimensions = "package_dimensions"
        case shippable
        case statementDescriptor = "statement_descriptor"
        case taxCode = "tax_code"
        case unitLabel = "unit_label"
        case updated, url, type
        case id, object, active, name, description, metadata, created, livemode
    }
}

/// A Stripe Price (one-time prices are what Till uses).
public struct Price: Codable, Sendable, StripeIdentifiable {
    public var id: String
    public var object = "price"
    public var active: Bool
    public var currency: String
    @Nullable public var unitAmount: Int?
    public var product: Expandable<Product>
    public var type: String
    public var metadata: [String: String]
    public var created: Int
    public var livemode: Bool

    // Stripe's other fields, carried whole (defaults are what Stripe sends when they are not used).
    public var billingScheme: JSONValue = "per_unit"
    public var customUnitAmount: JSONValue = nil
    public var lookupKey: JSONValue = nil
    public var nickname: JSONValue = nil
    public var recurring: JSONValue = nil
    public var taxBehavior: JSONValue = "unspecified"
    public var tiersMode: JSONValue = nil
    public var transformQuantity: JSONValue = nil
    public var unitAmountDecimal: JSONValue = nil

    public init(
        id: String, currency: String, unitAmount: Int?, product: Expandable<Product>, active: Bool = true,
        type: String = "one_time", metadata: [String: String] = [:], created: Int, livemode: Bool = false
    ) {
        self.id = id
        self.currency = currency
        self.unitAmount = unitAmount
        self.unitAmountDecimal = unitAmount.map { .string(String($0)) } ?? nil
        self.product = product
        self.active = active
        self.type = type
        self.metadata = metadata
        self.created = created
        self.livemode = livemode
    }

    enum CodingKeys: String, CodingKey {
        case billingScheme = "billing_scheme"
        case customUnitAmount = "custom_unit_amount"
        case lookupKey = "lookup_key"
        case nickname, recurring
        case taxBehavior = "tax_behavior"
        case tiersMode = "tiers_mode"
        case transformQuantity = "transform_quantity"
        case unitAmountDecimal = "unit_amount_decimal"
        case id, object, active, currency, product, type, metadata, created, livemode
        case unitAmount = "unit_amount"
    }
}
