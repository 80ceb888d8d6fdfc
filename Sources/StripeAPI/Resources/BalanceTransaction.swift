/// A Stripe BalanceTransaction: money moving in or out of the balance (a charge, a refund), with Stripe's fee.
public struct BalanceTransaction: Codable, Sendable, StripeIdentifiable {
    public var id: String
    public var object = "balance_transaction"
    public var amount: Int
    public var currency: String
    public var fee: Int
    public var net: Int
    @Nullable public var source: String?
    public var status: String
    public var type: String
    @Nullable public var description: String?
    public var reportingCategory: String
    public var feeDetails: JSONValue
    public var created: Int
    public var availableOn: Int

    // Stripe's other fields, carried whole.
    public var exchangeRate: JSONValue = nil
    public var balanceType: JSONValue = "payments"

    public init(
        id: String, amount: Int, currency: String, fee: Int, source: String?, type: String, description: String?,
        reportingCategory: String, created: Int, availableOn: Int, status: String = "pending"
    ) {
        self.id = id
        self.amount = amount
        self.currency = currency
        self.fee = fee
        self.net = amount - fee
        self.source = source
        self.status = status
        self.type = type
        self.description = description
        self.reportingCategory = reportingCategory
        self.feeDetails =
            fee == 0
            ? []
            : [
                [
                    "amount": .int(fee), "application": nil, "currency": .string(currency),
                    "description": "Stripe processing fees", "type": "stripe_fee",
                ]
            ]
        self.created = created
        self.availableOn = availableOn
    }

    enum CodingKeys: String, CodingKey {
        case id, object, amount, currency, fee, net, source, status, type, description, created
        case reportingCategory = "reporting_category"
        case feeDetails = "fee_details"
        case availableOn = "available_on"
        case exchangeRate = "exchange_rate"
        case balanceType = "balance_type"
    }
}
