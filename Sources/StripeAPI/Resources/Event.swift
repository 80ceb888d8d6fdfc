import Foundation

/// A Stripe Event. `data.object` is decoded by its `object` type; the raw JSON of the whole event is kept.
public struct Event: Codable, Sendable, StripeIdentifiable {
    public enum EventType: StripeEnum {
        case checkoutSessionCompleted, checkoutSessionAsyncPaymentSucceeded, checkoutSessionAsyncPaymentFailed
        case checkoutSessionExpired
        case paymentIntentCreated, paymentIntentSucceeded, paymentIntentPaymentFailed, paymentIntentCanceled
        case paymentIntentRequiresAction, paymentIntentProcessing
        case chargeSucceeded, chargeFailed, chargeRefunded, chargeDisputeCreated
        case refundCreated, refundUpdated, refundFailed, chargeRefundUpdated
        case invoiceCreated, invoiceFinalized, invoicePaid, invoicePaymentSucceeded, invoicePaymentFailed
        case customerSubscriptionCreated, customerSubscriptionUpdated, customerSubscriptionDeleted
        case unknown(String)
        public static let known: [(Self, String)] = [
            (.checkoutSessionCompleted, "checkout.session.completed"),
            (.checkoutSessionAsyncPaymentSucceeded, "checkout.session.async_payment_succeeded"),
            (.checkoutSessionAsyncPaymentFailed, "checkout.session.async_payment_failed"),
            (.checkoutSessionExpired, "checkout.session.expired"),
            (.paymentIntentCreated, "payment_intent.created"), (.paymentIntentSucceeded, "payment_intent.succeeded"),
            (.paymentIntentPaymentFailed, "payment_intent.payment_failed"),
            (.paymentIntentCanceled, "payment_intent.canceled"),
            (.paymentIntentRequiresAction, "payment_intent.requires_action"),
            (.paymentIntentProcessing, "payment_intent.processing"),
            (.chargeSucceeded, "charge.succeeded"), (.chargeFailed, "charge.failed"),
            (.chargeRefunded, "charge.refunded"), (.chargeDisputeCreated, "charge.dispute.created"),
            (.refundCreated, "refund.created"), (.refundUpdated, "refund.updated"), (.refundFailed, "refund.failed"),
            (.chargeRefundUpdated, "charge.refund.updated"),
            (.invoiceCreated, "invoice.created"), (.invoiceFinalized, "invoice.finalized"),
            (.invoicePaid, "invoice.paid"), (.invoicePaymentSucceeded, "invoice.payment_succeeded"),
            (.invoicePaymentFailed, "invoice.payment_failed"),
            (.customerSubscriptionCreated, "customer.subscription.created"),
            (.customerSubscriptionUpdated, "customer.subscription.updated"),
            (.customerSubscriptionDeleted, "customer.subscription.deleted"),
        ]
    }

    /// `data.object`, typed; boxed, so that an event is not as large as the largest object it may carry.
    public indirect enum Object: Codable, Sendable {
        case checkoutSession(CheckoutSession)
        case paymentIntent(PaymentIntent)
        case charge(Charge)
        case refund(Refund)
        case dispute(Dispute)
        /// Any other object type; its fields are in the event's raw JSON.
        case other(type: String, id: String?)

        struct Probe: Decodable {
            let object: String?
            let id: String?
        }

        public init(from decoder: any Decoder) throws {
            let probe = try Probe(from: decoder)
            switch probe.object {
            case "checkout.session": self = .checkoutSession(try CheckoutSession(from: decoder))
            case "payment_intent": self = .paymentIntent(try PaymentIntent(from: decoder))
            case "charge": self = .charge(try Charge(from: decoder))
            case "refund": self = .refund(try Refund(from: decoder))
            case "dispute": self = .dispute(try Dispute(from: decoder))
            default: self = .other(type: probe.object ?? "", id: probe.id)
            }
        }

        public func encode(to encoder: any Encoder) throws {
            switch self {
            case .checkoutSession(let o): try o.encode(to: encoder)
            case .paymentIntent(let o): try o.encode(to: encoder)
            case .charge(let o): try o.encode(to: encoder)
            case .refund(let o): try o.encode(to: encoder)
            case .dispute(let o): try o.encode(to: encoder)
            case .other(let type, let id):
                var container = encoder.container(keyedBy: Event.CodingKeys.self)
                try container.encode(type, forKey: .object)
                try container.encode(id, forKey: .id)
            }
        }
    }

    public struct DataBox: Codable, Sendable {
        public var object: Object
        /// `data.object` as sent when its type is not one Till models, so that it encodes again whole.
        public var rawObject: JSONValue?
        /// `data.previous_attributes` of `*.updated` events, when sent.
        public var previousAttributes: JSONValue?

        public init(object: Object) {
            self.object = object
        }

        enum CodingKeys: String, CodingKey {
            case object
            case previousAttributes = "previous_attributes"
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            object = try container.decode(Object.self, forKey: .object)
            if case .other = object { rawObject = try container.decode(JSONValue.self, forKey: .object) }
            previousAttributes = try container.decodeIfPresent(JSONValue.self, forKey: .previousAttributes)
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            if case .other = object, let rawObject {
                try container.encode(rawObject, forKey: .object)
            } else {
                try container.encode(object, forKey: .object)
            }
            try container.encodeIfPresent(previousAttributes, forKey: .previousAttributes)
        }
    }

    public struct RequestInfo: Codable, Sendable {
        @Nullable public var id: String?
        @Nullable public var idempotencyKey: String?
        public init(id: String?, idempotencyKey: String?) {
            self.id = id
            self.idempotencyKey = idempotencyKey
        }
        enum CodingKeys: String, CodingKey {
            case id
            case idempotencyKey = "idempotency_key"
        }
    }

    public var id: String
    public var object = "event"
    @Nullable public var apiVersion: String?
    public var created: Int
    public var livemode: Bool
    public var pendingWebhooks: Int
    @Nullable public var request: RequestInfo?
    public var type: EventType
    public var data: DataBox
    /// The exact JSON this event was decoded from (empty for events built in code).
    public var rawJSON: Data = Data()

    public init(
        id: String, type: EventType, object: Object, created: Int, apiVersion: String?, livemode: Bool = false,
        request: RequestInfo? = nil
    ) {
        self.id = id
        self.type = type
        self.data = DataBox(object: object)
        self.created = created
        self.apiVersion = apiVersion
        self.livemode = livemode
        self.pendingWebhooks = 0
        self.request = request
    }

    /// Decodes an event and keeps its bytes.
    public static func decode(_ json: Data) throws -> Event {
        var event = try StripeJSON.decoder().decode(Event.self, from: json)
        event.rawJSON = json
        return event
    }

    enum CodingKeys: String, CodingKey {
        case id, object, created, livemode, request, type, data
        case apiVersion = "api_version"
        case pendingWebhooks = "pending_webhooks"
    }
}
