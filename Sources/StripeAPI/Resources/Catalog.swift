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

    public init(id: String, name: String, description: String? = nil, active: Bool = true, metadata: [String: String] = [:], created: Int, livemode: Bool = false) {
        self.id = id
        self.name = name
        self.description = description
        self.active = active
        self.metadata = metadata
        self.created = created
        self.livemode = livemode
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

    public init(id: String, currency: String, unitAmount: Int?, product: Expandable<Product>, active: Bool = true, type: String = "one_time", metadata: [String: String] = [:], created: Int, livemode: Bool = false) {
        self.id = id
        self.currency = currency
        self.unitAmount = unitAmount
        self.product = product
        self.active = active
        self.type = type
        self.metadata = metadata
        self.created = created
        self.livemode = livemode
    }

    enum CodingKeys: String, CodingKey {
        case id, object, active, currency, product, type, metadata, created, livemode
        case unitAmount = "unit_amount"
    }
}
