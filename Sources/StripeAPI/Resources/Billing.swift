/// Stripe Billing's objects (subscriptions, invoices, invoice payments, test clocks, portal sessions).
///
/// Each keeps the object as Stripe sent it (`fields`, every key, so it encodes again whole) and reads and writes the
/// fields Till and the emulator use through typed properties.
public protocol StripeRawObject: Codable, Sendable, StripeIdentifiable {
    var fields: [String: JSONValue] { get set }
    init(fields: [String: JSONValue])
}

extension StripeRawObject {
    public init(from decoder: any Decoder) throws {
        self.init(fields: try [String: JSONValue](from: decoder))
    }

    public func encode(to encoder: any Encoder) throws {
        try fields.encode(to: encoder)
    }

    public var id: String { fields["id"]?.string ?? "" }
    public var livemode: Bool { fields["livemode"]?.bool ?? false }
    public var created: Int { fields["created"]?.int ?? 0 }
    public var metadata: [String: String] {
        guard case .object(let map)? = fields["metadata"] else { return [:] }
        return map.compactMapValues(\.string)
    }

    /// The id of an expandable field (`"cus_..."` or `{"id": "cus_...", ...}`).
    func idOf(_ value: JSONValue?) -> String? {
        switch value {
        case .string(let id)?: id
        case .object(let object)?: object["id"]?.string
        default: nil
        }
    }
}

/// A Stripe Subscription (the API version Till pins: the billing period is on its items).
public struct Subscription: StripeRawObject {
    public enum Status: StripeEnum {
        case incomplete, incompleteExpired, trialing, active, pastDue, canceled, unpaid, paused
        case unknown(String)
        public static let known: [(Self, String)] = [
            (.incomplete, "incomplete"), (.incompleteExpired, "incomplete_expired"), (.trialing, "trialing"),
            (.active, "active"), (.pastDue, "past_due"), (.canceled, "canceled"), (.unpaid, "unpaid"),
            (.paused, "paused"),
        ]
    }

    public var fields: [String: JSONValue]
    public init(fields: [String: JSONValue]) { self.fields = fields }

    /// What Stripe sends for the fields of this object that are not in use (the emulator and `TestEvents` start
    /// from these).
    public static let defaults: [String: JSONValue] = [
        "object": "subscription", "default_payment_method": nil, "test_clock": nil, "application": nil,
        "application_fee_percent": nil,
        "automatic_tax": ["enabled": false, "liability": nil, "disabled_reason": nil],
        "billing_cycle_anchor_config": nil, "billing_mode": ["type": "classic", "flexible": nil],
        "billing_schedules": [], "billing_thresholds": nil, "cancel_at": nil, "cancel_at_period_end": false,
        "canceled_at": nil, "cancellation_details": ["comment": nil, "feedback": nil, "reason": nil],
        "collection_method": "charge_automatically", "customer_account": nil, "days_until_due": nil,
        "default_source": nil, "default_tax_rates": [], "description": nil, "discounts": [], "ended_at": nil,
        "invoice_settings": [
            "account_tax_ids": nil, "issuer": ["type": "self"], "custom_fields": nil, "description": nil, "footer": nil,
        ],
        "latest_invoice": nil, "livemode": false, "managed_payments": nil, "next_pending_invoice_item_invoice": nil,
        "on_behalf_of": nil, "pause_collection": nil,
        "payment_settings": [
            "payment_method_options": nil, "payment_method_types": nil, "save_default_payment_method": "off",
        ],
        "pending_invoice_item_interval": nil, "pending_setup_intent": nil, "pending_update": nil, "schedule": nil,
        "transfer_data": nil, "trial_end": nil,
        "trial_settings": ["end_behavior": ["missing_payment_method": "create_invoice"]],
        "trial_start": nil,
    ]

    public var customer: String { idOf(fields["customer"]) ?? "" }
    public var status: Status {
        get { Status(rawValue: fields["status"]?.string ?? "") }
        set { fields["status"] = .string(newValue.rawValue) }
    }
    public var cancelAtPeriodEnd: Bool {
        get { fields["cancel_at_period_end"]?.bool ?? false }
        set { fields["cancel_at_period_end"] = .bool(newValue) }
    }
    public var canceledAt: Int? { fields["canceled_at"]?.int }
    public var endedAt: Int? { fields["ended_at"]?.int }
    public var cancelAt: Int? { fields["cancel_at"]?.int }
    public var defaultPaymentMethod: String? { idOf(fields["default_payment_method"]) }
    public var latestInvoice: String? { idOf(fields["latest_invoice"]) }
    public var testClock: String? { idOf(fields["test_clock"]) }

    /// `items.data`.
    public var items: [JSONValue] {
        get {
            guard case .array(let items)? = fields["items"]?["data"] else { return [] }
            return items
        }
        set {
            guard case .object(var list)? = fields["items"] else { return }
            list["data"] = .array(newValue)
            fields["items"] = .object(list)
        }
    }

    /// The current period, from the first item (all items of a subscription share it).
    public var currentPeriodStart: Int? { items.first?["current_period_start"]?.int }
    public var currentPeriodEnd: Int? { items.first?["current_period_end"]?.int }
    /// The price of the first item.
    public var priceId: String? { idOf(items.first?["price"]) }
}

/// A Stripe Invoice. Its subscription is named in `parent.subscription_details.subscription`.
public struct Invoice: StripeRawObject {
    public enum Status: StripeEnum {
        case draft, open, paid, uncollectible, void
        case unknown(String)
        public static let known: [(Self, String)] = [
            (.draft, "draft"), (.open, "open"), (.paid, "paid"), (.uncollectible, "uncollectible"), (.void, "void"),
        ]
    }

    public var fields: [String: JSONValue]
    public init(fields: [String: JSONValue]) { self.fields = fields }

    /// What Stripe sends for the fields of this object that are not in use (the emulator and `TestEvents` start
    /// from these).
    public static let defaults: [String: JSONValue] = [
        "object": "invoice", "test_clock": nil, "account_country": "US", "account_name": "Stripe emulator",
        "account_tax_ids": nil,
        "amount_overpaid": 0, "amount_paid": 0, "amount_shipping": 0, "application": nil, "attempt_count": 0,
        "attempted": false, "auto_advance": true,
        "automatic_tax": ["enabled": false, "liability": nil, "status": nil, "disabled_reason": nil, "provider": nil],
        "automatically_finalizes_at": nil, "collection_method": "charge_automatically", "custom_fields": nil,
        "customer_account": nil, "customer_address": nil, "customer_shipping": nil, "customer_tax_exempt": "none",
        "customer_tax_ids": [], "default_payment_method": nil, "default_source": nil, "default_tax_rates": [],
        "description": nil, "discounts": [], "due_date": nil, "ending_balance": 0, "footer": nil, "from_invoice": nil,
        "hosted_invoice_url": nil, "invoice_pdf": nil, "issuer": ["type": "self"], "last_finalization_error": nil,
        "latest_revision": nil, "livemode": false, "metadata": [:], "next_payment_attempt": nil, "number": nil,
        "on_behalf_of": nil,
        "payment_settings": ["default_mandate": nil, "payment_method_options": nil, "payment_method_types": nil],
        "post_payment_credit_notes_amount": 0, "pre_payment_credit_notes_amount": 0, "receipt_number": nil,
        "rendering": nil, "shipping_cost": nil, "shipping_details": nil, "starting_balance": 0,
        "statement_descriptor": nil, "status": "draft",
        "status_transitions": ["finalized_at": nil, "marked_uncollectible_at": nil, "paid_at": nil, "voided_at": nil],
        "subscription": nil, "total_discount_amounts": [], "total_pretax_credit_amounts": [], "total_taxes": [],
        "webhooks_delivered_at": nil,
    ]

    public var customer: String { idOf(fields["customer"]) ?? "" }
    public var status: Status {
        get { Status(rawValue: fields["status"]?.string ?? "") }
        set { fields["status"] = .string(newValue.rawValue) }
    }
    public var subscription: String? { idOf(fields["parent"]?["subscription_details"]?["subscription"]) }
    public var subscriptionMetadata: [String: String] {
        guard case .object(let map)? = fields["parent"]?["subscription_details"]?["metadata"] else { return [:] }
        return map.compactMapValues(\.string)
    }
    public var amountDue: Int { fields["amount_due"]?.int ?? 0 }
    public var amountPaid: Int { fields["amount_paid"]?.int ?? 0 }
    public var total: Int { fields["total"]?.int ?? 0 }
    public var currency: String { fields["currency"]?.string ?? "" }
    public var attemptCount: Int { fields["attempt_count"]?.int ?? 0 }
    public var nextPaymentAttempt: Int? { fields["next_payment_attempt"]?.int }
    public var billingReason: String? { fields["billing_reason"]?.string }
    public var periodStart: Int? { fields["period_start"]?.int }
    public var periodEnd: Int? { fields["period_end"]?.int }
    /// The period the first line bills (for a subscription invoice: the subscription's period).
    public var linePeriod: (start: Int, end: Int)? {
        guard case .array(let lines)? = fields["lines"]?["data"], let period = lines.first?["period"],
            let start = period["start"]?.int, let end = period["end"]?.int
        else { return nil }
        return (start, end)
    }
}

/// A payment of an invoice: `payment.payment_intent` names the PaymentIntent.
public struct InvoicePayment: StripeRawObject {
    public var fields: [String: JSONValue]
    public init(fields: [String: JSONValue]) { self.fields = fields }

    /// What Stripe sends for the fields of this object that are not in use (the emulator and `TestEvents` start
    /// from these).
    public static let defaults: [String: JSONValue] = [
        "object": "invoice_payment", "amount_paid": nil, "is_default": true, "livemode": false, "status": "open",
        "status_transitions": ["canceled_at": nil, "paid_at": nil],
    ]

    public var invoice: String { idOf(fields["invoice"]) ?? "" }
    public var paymentIntent: String? { idOf(fields["payment"]?["payment_intent"]) }
    public var status: String { fields["status"]?.string ?? "" }
    public var amountPaid: Int? { fields["amount_paid"]?.int }
    public var amountRequested: Int { fields["amount_requested"]?.int ?? 0 }
}

/// A test clock (`test_helpers.test_clock`): the time of the customers made with it and of their subscriptions.
public struct TestClock: StripeRawObject {
    public var fields: [String: JSONValue]
    public init(fields: [String: JSONValue]) { self.fields = fields }

    public var frozenTime: Int { fields["frozen_time"]?.int ?? 0 }
    public var status: String { fields["status"]?.string ?? "" }
    public var name: String? { fields["name"]?.string }
}

/// A Customer Portal session (`billing_portal.session`): `url` is the hosted portal page.
public struct BillingPortalSession: StripeRawObject {
    public var fields: [String: JSONValue]
    public init(fields: [String: JSONValue]) { self.fields = fields }

    public var customer: String { idOf(fields["customer"]) ?? "" }
    public var url: String { fields["url"]?.string ?? "" }
    public var returnURL: String? { fields["return_url"]?.string }
}
