import Foundation
import StripeAPI

/// The emulator's whole state: every object, and the rules that move it. One actor, so every call is atomic.
actor EmulatorState {
    struct RequestInfo: Sendable {
        let requestId: String
        let idempotencyKey: String?
    }

    let now: @Sendable () -> Int
    let checkoutBaseURL: String
    private let emit: @Sendable (Event) -> Void

    var products = Table<Product>()
    var prices = Table<Price>()
    var intents = Table<PaymentIntent>()
    var charges = Table<Charge>()
    var refunds = Table<Refund>()
    var sessions = Table<CheckoutSession>()
    /// Open sessions and when they expire.
    var openSessionExpiries: [String: Int] = [:]
    var sessionLines: [String: [LineItem]] = [:]
    var sessionIntentMetadata: [String: [String: String]] = [:]
    var events = Table<Event>()
    var endpoints = Table<WebhookEndpoint>()

    init(now: @escaping @Sendable () -> Int, checkoutBaseURL: String, emit: @escaping @Sendable (Event) -> Void) {
        self.now = now
        self.checkoutBaseURL = checkoutBaseURL
        self.emit = emit
    }

    // MARK: Events

    func record(_ type: String, _ object: Event.Object, _ request: RequestInfo?) {
        var event = Event(
            id: TestEvents.randomId("evt"), type: .init(rawValue: type), object: object, created: now(),
            apiVersion: StripeConfiguration.pinnedAPIVersion,
            request: request.map { .init(id: $0.requestId, idempotencyKey: $0.idempotencyKey) })
        event.pendingWebhooks =
            endpoints.byId.values.filter { $0.enabledEvents.contains("*") || $0.enabledEvents.contains(type) }.count
        events[event.id] = event
        emit(event)
    }

    func endpointsFor(_ type: String) -> [WebhookEndpoint] {
        endpoints.byId.values.filter { $0.enabledEvents.contains("*") || $0.enabledEvents.contains(type) }
    }

    // MARK: Products and prices

    func createProduct(_ p: FormNode) throws(EmulatorError) -> Product {
        guard let name = p["name"]?.string, !name.isEmpty else { throw .missing("name") }
        let product = Product(
            id: TestEvents.randomId("prod"), name: name, description: p["description"]?.string,
            active: p["active"]?.bool ?? true, metadata: Metadata.apply(p["metadata"], to: [:]), created: now())
        products[product.id] = product
        return product
    }

    func product(_ id: String) throws(EmulatorError) -> Product {
        guard let product = products[id] else { throw .notFound("product", id) }
        return product
    }

    func createPrice(_ p: FormNode) throws(EmulatorError) -> Price {
        let currency = try Params.currency(p["currency"])
        let amount = try Params.amount(p["unit_amount"], param: "unit_amount", currency: currency, allowZero: true)
        let productId: String
        if let id = p["product"]?.string {
            guard products[id] != nil else { throw .notFound("product", id, param: "product") }
            productId = id
        } else if let name = p["product_data"]?["name"]?.string {
            productId = try createProduct(.object([("name", .value(name))])).id
        } else {
            throw .missing("product")
        }
        let price = Price(
            id: TestEvents.randomId("price"), currency: currency, unitAmount: amount, product: .id(productId),
            active: p["active"]?.bool ?? true, metadata: Metadata.apply(p["metadata"], to: [:]), created: now())
        prices[price.id] = price
        return price
    }

    func price(_ id: String) throws(EmulatorError) -> Price {
        guard let price = prices[id] else { throw .notFound("price", id) }
        return price
    }

    // MARK: PaymentIntents

    func createPaymentIntent(_ p: FormNode, _ request: RequestInfo) throws(EmulatorError) -> PaymentIntent {
        let currency = try Params.currency(p["currency"])
        let amount = try Params.amount(p["amount"], param: "amount", currency: currency)
        var intent = PaymentIntent(
            id: TestEvents.randomId("pi"), amount: amount, currency: currency, created: now(),
            metadata: Metadata.apply(p["metadata"], to: [:]))
        intent.clientSecret = "\(intent.id)_secret_\(TestEvents.randomToken(25))"
        intent.description = p["description"]?.string
        intent.receiptEmail = p["receipt_email"]?.string
        if let method = p["capture_method"]?.string {
            guard ["automatic", "automatic_async", "manual"].contains(method) else {
                throw .invalid("capture_method", "Invalid capture_method: \(method)", code: "parameter_invalid_string")
            }
            intent.captureMethod = method
        }
        if let pm = p["payment_method"]?.string {
            guard TestCard.method(pm) != nil else { throw .notFound("PaymentMethod", pm, param: "payment_method") }
            intent.paymentMethod = pm
            intent.status = .requiresConfirmation
        }
        intents[intent.id] = intent
        record("payment_intent.created", .paymentIntent(intent), request)
        if p["confirm"]?.bool == true {
            return try confirmPaymentIntent(intent.id, .object([]), request)
        }
        return intent
    }

    func paymentIntent(_ id: String) throws(EmulatorError) -> PaymentIntent {
        guard let intent = intents[id] else { throw .notFound("payment_intent", id) }
        return intent
    }

    func updatePaymentIntent(_ id: String, _ p: FormNode) throws(EmulatorError) -> PaymentIntent {
        var intent = try paymentIntent(id)
        if p["metadata"] != nil { intent.metadata = Metadata.apply(p["metadata"], to: intent.metadata) }
        if let text = p["description"]?.string { intent.description = text.isEmpty ? nil : text }
        if p["amount"] != nil {
            guard [.requiresPaymentMethod, .requiresConfirmation].contains(intent.status) else {
                throw .unexpectedState("You cannot update the amount of a PaymentIntent with status \(intent.status).")
            }
            intent.amount = try Params.amount(p["amount"], param: "amount", currency: intent.currency)
        }
        if let pm = p["payment_method"]?.string {
            guard TestCard.method(pm) != nil else { throw .notFound("PaymentMethod", pm, param: "payment_method") }
            intent.paymentMethod = pm
            if intent.status == .requiresPaymentMethod { intent.status = .requiresConfirmation }
        }
        intents[id] = intent
        return intent
    }

    /// Attempts the payment with the given (or attached) payment method.
    func confirmPaymentIntent(_ id: String, _ p: FormNode, _ request: RequestInfo) throws(EmulatorError)
        -> PaymentIntent
    {
        var intent = try paymentIntent(id)
        switch intent.status {
        case .requiresPaymentMethod, .requiresConfirmation:
            break
        case .requiresAction:
            // A second confirmation stands for the customer completing 3D Secure.
            return succeed(&intent, request)
        default:
            throw .unexpectedState(
                "You cannot confirm this PaymentIntent because it has a status of \(intent.status). Only a PaymentIntent with one of the following statuses may be confirmed: requires_confirmation, requires_action, requires_payment_method."
            )
        }
        guard let pmId = p["payment_method"]?.string ?? intent.paymentMethod else {
            throw EmulatorError(
                status: 400, type: "invalid_request_error", code: "payment_intent_unexpected_state",
                message: "You cannot confirm this PaymentIntent because it's missing a payment method.",
                param: "payment_method")
        }
        guard let method = TestCard.method(pmId) else {
            throw .notFound("PaymentMethod", pmId, param: "payment_method")
        }
        intent.paymentMethod = method.id
        intent.lastPaymentError = nil
        switch method.outcome {
        case .succeed:
            return succeed(&intent, request)
        case .requireAuthentication:
            intent.status = .requiresAction
            intents[id] = intent
            record("payment_intent.requires_action", .paymentIntent(intent), request)
            return intent
        case .decline(let code, let declineCode, let message):
            var charge = Charge(
                id: TestEvents.randomId("ch"), amount: intent.amount, currency: intent.currency,
                paymentIntent: intent.id,
                status: "failed", created: now(), metadata: intent.metadata)
            charge.failureCode = code
            charge.failureMessage = message
            charge.paymentMethod = method.id
            charges[charge.id] = charge
            intent.status = .requiresPaymentMethod
            intent.latestCharge = .id(charge.id)
            intent.lastPaymentError = PaymentError(
                type: "card_error", code: code, declineCode: declineCode, message: message)
            intent.paymentMethod = nil
            intents[id] = intent
            record("charge.failed", .charge(charge), request)
            record("payment_intent.payment_failed", .paymentIntent(intent), request)
            var error = EmulatorError(
                status: 402, type: "card_error", code: code, declineCode: declineCode, message: message)
            error.paymentIntent = intent
            throw error
        }
    }

    func succeed(_ intent: inout PaymentIntent, _ request: RequestInfo) -> PaymentIntent {
        var charge = Charge(
            id: TestEvents.randomId("ch"), amount: intent.amount, currency: intent.currency, paymentIntent: intent.id,
            created: now(), metadata: intent.metadata)
        charge.paymentMethod = intent.paymentMethod
        intent.latestCharge = .id(charge.id)
        intent.lastPaymentError = nil
        if intent.captureMethod == "manual" {
            charge.captured = false
            charge.amountCaptured = 0
            intent.status = .requiresCapture
            intent.amountCapturable = intent.amount
            charges[charge.id] = charge
            intents[intent.id] = intent
            record("charge.succeeded", .charge(charge), request)
            record("payment_intent.amount_capturable_updated", .paymentIntent(intent), request)
            return intent
        }
        intent.status = .succeeded
        intent.amountReceived = intent.amount
        charges[charge.id] = charge
        intents[intent.id] = intent
        record("charge.succeeded", .charge(charge), request)
        record("payment_intent.succeeded", .paymentIntent(intent), request)
        return intent
    }

    func capturePaymentIntent(_ id: String, _ p: FormNode, _ request: RequestInfo) throws(EmulatorError)
        -> PaymentIntent
    {
        var intent = try paymentIntent(id)
        guard intent.status == .requiresCapture else {
            throw .unexpectedState(
                "This PaymentIntent could not be captured because it has a status of \(intent.status). Only a PaymentIntent with one of the following statuses may be captured: requires_capture."
            )
        }
        let amount =
            try p["amount_to_capture"].map { node throws(EmulatorError) in
                try Params.amount(node, param: "amount_to_capture", currency: intent.currency)
            } ?? intent.amountCapturable
        guard amount <= intent.amountCapturable else {
            throw .invalid(
                "amount_to_capture", "The amount to capture must be at most \(intent.amountCapturable).",
                code: "amount_too_large")
        }
        intent.status = .succeeded
        intent.amountReceived = amount
        intent.amountCapturable = 0
        if let chargeId = intent.latestCharge?.id, var charge = charges[chargeId] {
            charge.captured = true
            charge.amountCaptured = amount
            charges[chargeId] = charge
        }
        intents[id] = intent
        record("payment_intent.succeeded", .paymentIntent(intent), request)
        return intent
    }

    func cancelPaymentIntent(_ id: String, _ p: FormNode, _ request: RequestInfo) throws(EmulatorError) -> PaymentIntent
    {
        var intent = try paymentIntent(id)
        guard
            [.requiresPaymentMethod, .requiresConfirmation, .requiresAction, .requiresCapture].contains(intent.status)
        else {
            throw .unexpectedState(
                "You cannot cancel this PaymentIntent because it has a status of \(intent.status). Only a PaymentIntent with one of the following statuses may be canceled: requires_payment_method, requires_capture, requires_confirmation, requires_action, processing."
            )
        }
        if let owner = sessions.byId.values.first(where: { $0.paymentIntent?.id == id && $0.status == .open }) {
            throw .unexpectedState(
                "You cannot cancel this PaymentIntent because it belongs to Checkout Session \(owner.id); expire the session instead."
            )
        }
        intent.status = .canceled
        intent.canceledAt = now()
        intent.cancellationReason = p["cancellation_reason"]?.string ?? "requested_by_customer"
        intent.amountCapturable = 0
        intents[id] = intent
        record("payment_intent.canceled", .paymentIntent(intent), request)
        return intent
    }

    // MARK: Refunds

    func createRefund(_ p: FormNode, _ request: RequestInfo) throws(EmulatorError) -> Refund {
        var charge: Charge
        if let chargeId = p["charge"]?.string {
            guard let found = charges[chargeId] else { throw .notFound("charge", chargeId, param: "charge") }
            charge = found
        } else if let intentId = p["payment_intent"]?.string {
            let intent = try paymentIntent(intentId)
            guard intent.status == .succeeded, let chargeId = intent.latestCharge?.id, let found = charges[chargeId]
            else {
                throw EmulatorError(
                    status: 400, type: "invalid_request_error", code: "charge_not_refundable",
                    message: "This PaymentIntent does not have a successful charge to refund.", param: "payment_intent")
            }
            charge = found
        } else {
            throw .missing("charge")
        }
        let remaining = charge.amountCaptured - charge.amountRefunded
        if remaining <= 0 {
            throw EmulatorError(
                status: 400, type: "invalid_request_error", code: "charge_already_refunded",
                message: "Charge \(charge.id) has already been refunded.")
        }
        let amount =
            try p["amount"].map { node throws(EmulatorError) in
                try Params.amount(node, param: "amount", currency: charge.currency)
            } ?? remaining
        guard amount <= remaining else {
            throw .invalid(
                "amount", "Refund amount (\(amount)) is greater than unrefunded amount on charge (\(remaining))",
                code: "amount_too_large")
        }
        let refund = Refund(
            id: TestEvents.randomId("re"), amount: amount, currency: charge.currency, charge: charge.id,
            paymentIntent: charge.paymentIntent, status: .succeeded, reason: p["reason"]?.string,
            metadata: Metadata.apply(p["metadata"], to: [:]), created: now())
        refunds[refund.id] = refund
        charge.amountRefunded += amount
        charge.refunded = charge.amountRefunded >= charge.amountCaptured
        charges[charge.id] = charge
        record("refund.created", .refund(refund), request)
        record("charge.refunded", .charge(charge), request)
        return refund
    }

    func refund(_ id: String) throws(EmulatorError) -> Refund {
        guard let refund = refunds[id] else { throw .notFound("refund", id) }
        return refund
    }

    func charge(_ id: String) throws(EmulatorError) -> Charge {
        guard let charge = charges[id] else { throw .notFound("charge", id) }
        return charge
    }

    // MARK: Webhook endpoints and events

    func createWebhookEndpoint(_ p: FormNode, secret: String? = nil) throws(EmulatorError) -> WebhookEndpoint {
        guard let url = try Params.httpURL(p["url"], param: "url", required: true) else { throw .missing("url") }
        guard let events = p["enabled_events"]?.array?.compactMap(\.string), !events.isEmpty else {
            throw .missing("enabled_events")
        }
        let endpoint = WebhookEndpoint(
            id: TestEvents.randomId("we"), url: url, enabledEvents: events,
            secret: secret ?? "whsec_" + TestEvents.randomToken(32), created: now(),
            metadata: Metadata.apply(p["metadata"], to: [:]))
        endpoints[endpoint.id] = endpoint
        return endpoint
    }

    func webhookEndpoint(_ id: String) throws(EmulatorError) -> WebhookEndpoint {
        guard var endpoint = endpoints[id] else { throw .notFound("webhook_endpoint", id) }
        endpoint.secret = nil  // only shown at creation
        return endpoint
    }

    func deleteWebhookEndpoint(_ id: String) throws(EmulatorError) -> DeletedObject {
        guard endpoints[id] != nil else { throw .notFound("webhook_endpoint", id) }
        endpoints[id] = nil
        return DeletedObject(id: id, object: "webhook_endpoint")
    }

    func endpointSecret(_ id: String) -> String? { endpoints[id]?.secret }

    func event(_ id: String) throws(EmulatorError) -> Event {
        guard let event = events[id] else { throw .notFound("event", id) }
        return event
    }
}

enum Metadata {
    /// Stripe's update rule: keys merge into what is there; a key set to `""` is removed; `metadata=""` clears all.
    static func apply(_ node: FormNode?, to current: [String: String]) -> [String: String] {
        guard let node else { return current }
        if node.string == "" { return [:] }
        var result = current
        for (key, value) in node.object ?? [] {
            guard let text = value.string else { continue }
            result[key] = text.isEmpty ? nil : text
        }
        return result
    }
}
