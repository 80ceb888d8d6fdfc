/// A Stripe PaymentMethod (cards are what the emulator has).
public struct PaymentMethod: Codable, Sendable, StripeIdentifiable {
    public var id: String
    public var object = "payment_method"
    public var type: String
    @Nullable public var customer: String?
    public var metadata: [String: String]
    public var created: Int
    public var livemode: Bool

    // Stripe's other fields, carried whole (`card` holds brand, last4, exp_month...).
    public var allowRedisplay: JSONValue = "unspecified"
    public var billingDetails: JSONValue = nil
    public var card: JSONValue = nil
    public var customerAccount: JSONValue = nil

    public init(
        id: String, type: String = "card", customer: String? = nil, metadata: [String: String] = [:], created: Int,
        livemode: Bool = false
    ) {
        self.id = id
        self.type = type
        self.customer = customer
        self.metadata = metadata
        self.created = created
        self.livemode = livemode
    }

    enum CodingKeys: String, CodingKey {
        case id, object, type, customer, metadata, created, livemode
        case allowRedisplay = "allow_redisplay"
        case billingDetails = "billing_details"
        case card
        case customerAccount = "customer_account"
    }
}
