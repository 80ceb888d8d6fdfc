/// Parameters of the calls Till makes, in Stripe's names and in the order Stripe documents them.
public struct CheckoutSessionCreateParams: Encodable, Sendable {
    public struct LineItem: Encodable, Sendable {
        public struct PriceData: Encodable, Sendable {
            public struct ProductData: Encodable, Sendable {
                public var name: String
                public var description: String?
                public init(name: String, description: String? = nil) {
                    self.name = name
                    self.description = description
                }
            }
            public var currency: String
            public var unitAmount: Int
            public var productData: ProductData
            public init(currency: String, unitAmount: Int, productData: ProductData) {
                self.currency = currency
                self.unitAmount = unitAmount
                self.productData = productData
            }
            enum CodingKeys: String, CodingKey {
                case currency
                case unitAmount = "unit_amount"
                case productData = "product_data"
            }
        }
        public var price: String?
        public var priceData: PriceData?
        public var quantity: Int
        public init(price: String? = nil, priceData: PriceData? = nil, quantity: Int) {
            self.price = price
            self.priceData = priceData
            self.quantity = quantity
        }
        enum CodingKeys: String, CodingKey {
            case price
            case priceData = "price_data"
            case quantity
        }
    }

    public struct PaymentIntentData: Encodable, Sendable {
        public var metadata: [String: String]
        public init(metadata: [String: String]) {
            self.metadata = metadata
        }
    }

    /// `subscription_data`, for mode `subscription`.
    public struct SubscriptionData: Encodable, Sendable {
        public var metadata: [String: String]
        public init(metadata: [String: String]) {
            self.metadata = metadata
        }
    }

    public var mode: String
    /// The Customer to bill (mode `subscription`); `customer_email` is then left out.
    public var customer: String?
    public var lineItems: [LineItem]
    public var successUrl: String
    public var cancelUrl: String?
    public var clientReferenceId: String?
    public var customerEmail: String?
    public var expiresAt: Int?
    public var metadata: [String: String]?
    public var paymentIntentData: PaymentIntentData?
    public var subscriptionData: SubscriptionData?
    public var expand: [String]?

    public init(
        mode: String = "payment", customer: String? = nil, lineItems: [LineItem], successUrl: String,
        cancelUrl: String? = nil, clientReferenceId: String? = nil, customerEmail: String? = nil,
        expiresAt: Int? = nil, metadata: [String: String]? = nil, paymentIntentData: PaymentIntentData? = nil,
        subscriptionData: SubscriptionData? = nil, expand: [String]? = nil
    ) {
        self.mode = mode
        self.customer = customer
        self.subscriptionData = subscriptionData
        self.lineItems = lineItems
        self.successUrl = successUrl
        self.cancelUrl = cancelUrl
        self.clientReferenceId = clientReferenceId
        self.customerEmail = customerEmail
        self.expiresAt = expiresAt
        self.metadata = metadata
        self.paymentIntentData = paymentIntentData
        self.expand = expand
    }

    // The order of the keys is the order of the encoded parameters.
    enum CodingKeys: String, CodingKey {
        case mode
        case customer
        case lineItems = "line_items"
        case successUrl = "success_url"
        case cancelUrl = "cancel_url"
        case clientReferenceId = "client_reference_id"
        case customerEmail = "customer_email"
        case expiresAt = "expires_at"
        case metadata
        case paymentIntentData = "payment_intent_data"
        case subscriptionData = "subscription_data"
        case expand
    }
}

public struct PaymentIntentCreateParams: Encodable, Sendable {
    public var amount: Int
    public var currency: String
    public var metadata: [String: String]?
    public var description: String?
    public var receiptEmail: String?
    public var paymentMethod: String?
    public var confirm: Bool?
    public var captureMethod: String?

    public init(
        amount: Int, currency: String, metadata: [String: String]? = nil, description: String? = nil,
        receiptEmail: String? = nil, paymentMethod: String? = nil, confirm: Bool? = nil, captureMethod: String? = nil
    ) {
        self.amount = amount
        self.currency = currency
        self.metadata = metadata
        self.description = description
        self.receiptEmail = receiptEmail
        self.paymentMethod = paymentMethod
        self.confirm = confirm
        self.captureMethod = captureMethod
    }

    enum CodingKeys: String, CodingKey {
        case amount, currency, metadata, description
        case receiptEmail = "receipt_email"
        case paymentMethod = "payment_method"
        case confirm
        case captureMethod = "capture_method"
    }
}

public struct RefundCreateParams: Encodable, Sendable {
    public var paymentIntent: String?
    public var charge: String?
    public var amount: Int?
    public var reason: String?
    public var metadata: [String: String]?

    public init(
        paymentIntent: String? = nil, charge: String? = nil, amount: Int? = nil, reason: String? = nil,
        metadata: [String: String]? = nil
    ) {
        self.paymentIntent = paymentIntent
        self.charge = charge
        self.amount = amount
        self.reason = reason
        self.metadata = metadata
    }

    enum CodingKeys: String, CodingKey {
        case paymentIntent = "payment_intent"
        case charge, amount, reason, metadata
    }
}

public struct WebhookEndpointCreateParams: Encodable, Sendable {
    public var url: String
    public var enabledEvents: [String]
    public var description: String?

    public init(url: String, enabledEvents: [String], description: String? = nil) {
        self.url = url
        self.enabledEvents = enabledEvents
        self.description = description
    }

    enum CodingKeys: String, CodingKey {
        case url
        case enabledEvents = "enabled_events"
        case description
    }
}

public struct PriceCreateParams: Encodable, Sendable {
    public struct ProductData: Encodable, Sendable {
        public var name: String
        public init(name: String) {
            self.name = name
        }
    }
    /// `recurring`: how often a subscription to this price bills.
    public struct Recurring: Encodable, Sendable {
        public var interval: String
        public var intervalCount: Int
        public init(interval: String, intervalCount: Int = 1) {
            self.interval = interval
            self.intervalCount = intervalCount
        }
        enum CodingKeys: String, CodingKey {
            case interval
            case intervalCount = "interval_count"
        }
    }
    public var currency: String
    public var unitAmount: Int
    public var product: String?
    public var productData: ProductData?
    public var recurring: Recurring?

    public init(
        currency: String, unitAmount: Int, product: String? = nil, productData: ProductData? = nil,
        recurring: Recurring? = nil
    ) {
        self.currency = currency
        self.unitAmount = unitAmount
        self.product = product
        self.productData = productData
        self.recurring = recurring
    }

    enum CodingKeys: String, CodingKey {
        case currency
        case unitAmount = "unit_amount"
        case product
        case productData = "product_data"
        case recurring
    }
}

/// `limit`, `starting_after` and an optional filter.
public struct ListParams: Encodable, Sendable {
    public var limit: Int?
    public var startingAfter: String?
    public var paymentIntent: String?
    public var type: String?
    public var subscription: String?
    public var invoice: String?
    public var status: String?

    public init(
        limit: Int? = nil, startingAfter: String? = nil, paymentIntent: String? = nil, type: String? = nil,
        subscription: String? = nil, invoice: String? = nil, status: String? = nil
    ) {
        self.limit = limit
        self.startingAfter = startingAfter
        self.paymentIntent = paymentIntent
        self.type = type
        self.subscription = subscription
        self.invoice = invoice
        self.status = status
    }

    enum CodingKeys: String, CodingKey {
        case limit
        case startingAfter = "starting_after"
        case paymentIntent = "payment_intent"
        case type
        case subscription
        case invoice
        case status
    }
}

/// `POST /v1/customers`.
public struct CustomerCreateParams: Encodable, Sendable {
    public var email: String?
    public var metadata: [String: String]?

    public init(email: String? = nil, metadata: [String: String]? = nil) {
        self.email = email
        self.metadata = metadata
    }
}

/// `POST /v1/billing_portal/sessions`.
public struct BillingPortalSessionCreateParams: Encodable, Sendable {
    public var customer: String
    public var returnUrl: String?

    public init(customer: String, returnUrl: String? = nil) {
        self.customer = customer
        self.returnUrl = returnUrl
    }

    enum CodingKeys: String, CodingKey {
        case customer
        case returnUrl = "return_url"
    }
}
