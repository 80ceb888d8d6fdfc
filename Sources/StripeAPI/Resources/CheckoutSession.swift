/// A Stripe Checkout Session.
public struct CheckoutSession: Codable, Sendable, StripeIdentifiable {
    public enum Status: StripeEnum {
        case open, complete, expired
        case unknown(String)
        public static let known: [(Self, String)] = [(.open, "open"), (.complete, "complete"), (.expired, "expired")]
    }

    public enum PaymentStatus: StripeEnum {
        case paid, unpaid, noPaymentRequired
        case unknown(String)
        public static let known: [(Self, String)] = [(.paid, "paid"), (.unpaid, "unpaid"), (.noPaymentRequired, "no_payment_required")]
    }

    public struct CustomerDetails: Codable, Sendable {
        @Nullable public var email: String?
        @Nullable public var name: String?
        public init(email: String?, name: String? = nil) {
            self.email = email
            self.name = name
        }
    }

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

    public init(id: String, created: Int, expiresAt: Int, mode: String = "payment", metadata: [String: String] = [:], livemode: Bool = false) {
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
        case id, object, currency, created, livemode, metadata, mode, status, url
        case amountSubtotal = "amount_subtotal", amountTotal = "amount_total"
        case clientReferenceId = "client_reference_id", customerEmail = "customer_email"
        case customerDetails = "customer_details", expiresAt = "expires_at", paymentIntent = "payment_intent"
        case paymentStatus = "payment_status", successUrl = "success_url", cancelUrl = "cancel_url"
        case lineItems = "line_items"
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

    public init(id: String, amountSubtotal: Int, amountTotal: Int, currency: String, description: String, quantity: Int, price: Price?) {
        self.id = id
        self.amountSubtotal = amountSubtotal
        self.amountTotal = amountTotal
        self.currency = currency
        self.description = description
        self.quantity = quantity
        self.price = price
    }

    enum CodingKeys: String, CodingKey {
        case id, object, currency, description, quantity, price
        case amountSubtotal = "amount_subtotal", amountTotal = "amount_total"
    }
}
