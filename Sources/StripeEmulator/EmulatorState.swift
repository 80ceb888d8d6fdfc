import Foundation
import StripeAPI

/// The emulator's whole state: every object, and the rules that move it. One actor, so every call is atomic.
actor EmulatorState {
    struct RequestInfo: Sendable {
        let requestId: String
        let idempotencyKey: String?
    }

    /// The wall clock (Stripe-Signature's `t=` stays on it).
    let wallClock: @Sendable () -> Int
    /// How far `POST /_emulator/clock/advance` moved the emulator's own time ahead of the wall clock.
    var clockOffset = 0
    /// While a test clock's objects are billed: its time, which `now()` answers.
    var timeOverride: Int?
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
    /// `subscription_data[metadata]` of `subscription`-mode sessions.
    var sessionSubscriptionMetadata: [String: [String: String]] = [:]
    var events = Table<Event>()
    var customers = Table<Customer>()
    /// Payment methods made by `attach`, and the test card behind each.
    var paymentMethods = Table<PaymentMethod>()
    var paymentMethodCards: [String: String] = [:]
    var balanceTransactions = Table<BalanceTransaction>()
    /// `return_url` of PaymentIntents that were given one, for 3D Secure's redirect.
    var returnURLs: [String: String] = [:]
    /// The email typed on the hosted page of a session waiting for 3D Secure.
    var pendingSessionEmails: [String: String?] = [:]
    var endpoints = Table<WebhookEndpoint>()
    // Billing
    var subscriptions = Table<Subscription>()
    var invoices = Table<Invoice>()
    var invoicePayments = Table<InvoicePayment>()
    var testClocks = Table<TestClock>()
    var portalSessions = Table<BillingPortalSession>()
    /// Per subscription: its billing cycle anchor's periods elapsed (period `n` ends at anchor + (n+1) intervals).
    var subscriptionPeriodIndex: [String: Int] = [:]
    /// Per invoice: the PaymentIntent that pays it (confirmed again on every retry), and its first failed attempt.
    var invoiceIntents: [String: String] = [:]
    var invoiceFirstFailure: [String: Int] = [:]
    /// Refunds of a card whose refunds fail (`pm_card_refundFail`), in the order made: each fails a second after it.
    var failingRefunds: [String] = []

    init(now: @escaping @Sendable () -> Int, checkoutBaseURL: String, emit: @escaping @Sendable (Event) -> Void) {
        self.wallClock = now
        self.checkoutBaseURL = checkoutBaseURL
        self.emit = emit
    }

    /// The emulator's own time: the wall clock, moved ahead by `POST /_emulator/clock/advance`.
    func now() -> Int { timeOverride ?? wallClock() + clockOffset }

    /// Runs `body` with `now()` at `time`: what a test clock's renewal makes (PaymentIntents, charges, events) carries
    /// the clock's time.
    func at<T, E: Error>(_ time: Int, _ body: () throws(E) -> T) throws(E) -> T {
        let saved = timeOverride
        timeOverride = time
        defer { timeOverride = saved }
        return try body()
    }

    /// The time of objects on a test clock (its `frozen_time`), or the emulator's own time.
    func time(clock: String?) -> Int {
        clock.flatMap { testClocks[$0]?.frozenTime } ?? now()
    }

    // MARK: Events

    func record(
        _ type: String, _ object: Event.Object, _ request: RequestInfo?, raw: JSONValue? = nil,
        previous: JSONValue? = nil, at created: Int? = nil
    ) {
        var event = Event(
            id: TestEvents.randomId("evt"), type: .init(rawValue: type), object: object, created: created ?? now(),
            apiVersion: StripeConfiguration.pinnedAPIVersion,
            // Always an object, as Stripe sends it: both null for an event no API request caused (a renewal).
            request: .init(id: request?.requestId, idempotencyKey: request?.idempotencyKey))
        event.data.rawObject = raw
        event.data.previousAttributes = previous
        event.pendingWebhooks =
            endpoints.values.filter { $0.enabledEvents.contains("*") || $0.enabledEvents.contains(type) }.count
        events[event.id] = event
        emit(event)
    }

    func endpointsFor(_ type: String) -> [WebhookEndpoint] {
        endpoints.values.filter { $0.enabledEvents.contains("*") || $0.enabledEvents.contains(type) }
    }

    // MARK: Products and prices

    func createProduct(_ p: FormNode) throws(EmulatorError) -> Product {
        let product = try newProduct(p)
        products[product.id] = product
        return product
    }

    /// A product made of `p`, not yet stored.
    func newProduct(_ p: FormNode) throws(EmulatorError) -> Product {
        guard let name = p["name"]?.string, !name.isEmpty else { throw .missing("name") }
        return Product(
            id: TestEvents.randomId("prod"), name: name, description: p["description"]?.string,
            active: try Params.bool(p["active"], param: "active") ?? true,
            metadata: try Metadata.apply(p["metadata"], to: [:]), created: now())
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
        var price = Price(
            id: TestEvents.randomId("price"), currency: currency, unitAmount: amount, product: .id(productId),
            active: try Params.bool(p["active"], param: "active") ?? true,
            metadata: try Metadata.apply(p["metadata"], to: [:]), created: now())
        if let recurring = p["recurring"] {
            price.recurring = try Self.recurring(recurring)
            price.type = "recurring"
        }
        if let nickname = try Params.string(p["nickname"], param: "nickname") { price.nickname = .string(nickname) }
        prices[price.id] = price
        return price
    }

    /// `recurring[interval]` and `recurring[interval_count]`, with Stripe's limit of one year between bills.
    static func recurring(_ node: FormNode) throws(EmulatorError) -> JSONValue {
        guard let interval = try Params.string(node["interval"], param: "recurring[interval]"), !interval.isEmpty else {
            throw .missing("recurring[interval]")
        }
        let maximum = ["day": 365, "week": 52, "month": 12, "year": 1]
        guard let most = maximum[interval] else {
            throw .invalid(
                "recurring[interval]", "Invalid recurring[interval]: must be one of day, week, month or year",
                code: "parameter_invalid_string")
        }
        var count = 1
        if node["interval_count"] != nil {
            count = try Params.integer(node["interval_count"], param: "recurring[interval_count]")
            guard (1...most).contains(count) else {
                throw .invalid(
                    "recurring[interval_count]",
                    "The maximum billing period is one year (1 year, 12 months, 52 weeks or 365 days); interval_count must be between 1 and \(most) for interval \(interval).",
                    code: "parameter_invalid_integer")
            }
        }
        return [
            "interval": .string(interval), "interval_count": .int(count), "meter": nil, "usage_type": "licensed",
            "trial_period_days": nil,
        ]
    }

    func price(_ id: String) throws(EmulatorError) -> Price {
        guard let price = prices[id] else { throw .notFound("price", id) }
        return price
    }

    // MARK: PaymentIntents

    func createPaymentIntent(_ p: FormNode, _ request: RequestInfo?) throws(EmulatorError) -> PaymentIntent {
        let currency = try Params.currency(p["currency"])
        let amount = try Params.chargeAmount(p["amount"], param: "amount", currency: currency)
        let confirm = try Params.bool(p["confirm"], param: "confirm") ?? false
        var intent = PaymentIntent(
            id: TestEvents.randomId("pi"), amount: amount, currency: currency, created: now(),
            metadata: try Metadata.apply(p["metadata"], to: [:]))
        intent.clientSecret = "\(intent.id)_secret_\(TestEvents.randomToken(25))"
        intent.description = p["description"]?.string
        intent.receiptEmail = p["receipt_email"]?.string
        if let method = try Params.oneOf(
            p["capture_method"], ["automatic", "automatic_async", "manual"], param: "capture_method")
        {
            intent.captureMethod = method
        }
        if let customerId = try Params.string(p["customer"], param: "customer"), !customerId.isEmpty {
            guard customers[customerId] != nil else { throw .notFound("customer", customerId, param: "customer") }
            intent.customer = .string(customerId)
        }
        try applyPaymentMethodTypes(&intent, p)
        intent.paymentMethodOptions = [
            "card": [
                "installments": nil, "mandate_options": nil, "network": nil, "request_three_d_secure": "automatic",
            ]
        ]
        let returnURL = try Params.httpURL(p["return_url"], param: "return_url", required: false)
        if let pm = try Params.string(p["payment_method"], param: "payment_method") {
            guard let card = card(for: pm) else { throw .notFound("PaymentMethod", pm, param: "payment_method") }
            intent.paymentMethod = paymentMethods[pm] != nil ? pm : card.id
            intent.status = .requiresConfirmation
        }
        if let returnURL { returnURLs[intent.id] = returnURL }
        intents[intent.id] = intent
        record("payment_intent.created", .paymentIntent(intent), request)
        if confirm {
            return try confirmPaymentIntent(intent.id, .object([]), request)
        }
        return intent
    }

    /// `payment_method_types`, or Stripe's default since 2023-08-16: `automatic_payment_methods[enabled]=true` (the
    /// emulator's only method is the card, so `payment_method_types` is `["card"]` either way).
    private func applyPaymentMethodTypes(_ intent: inout PaymentIntent, _ p: FormNode) throws(EmulatorError) {
        let automatic = p["automatic_payment_methods"]
        let enabled = try Params.bool(automatic?["enabled"], param: "automatic_payment_methods[enabled]")
        if enabled == nil, automatic != nil {
            throw .missing("automatic_payment_methods[enabled]")
        }
        if let node = p["payment_method_types"] {
            guard let items = node.array, !items.isEmpty else {
                throw .invalid("payment_method_types", "Invalid array", code: "parameter_invalid_empty")
            }
            guard enabled != true else {
                throw EmulatorError(
                    status: 400, type: "invalid_request_error", code: "parameter_unknown",
                    message:
                        "You may only specify one of these parameters: automatic_payment_methods, payment_method_types.",
                    param: "automatic_payment_methods")
            }
            var types: [String] = []
            for (index, item) in items.enumerated() {
                guard item.string == "card" else {
                    throw .invalid(
                        "payment_method_types[\(index)]",
                        "The payment method type \"\(String((item.string ?? "").prefix(40)))\" is invalid. The emulator offers card only.",
                        code: "parameter_invalid_string")
                }
                types.append("card")
            }
            intent.paymentMethodTypes = types
            intent.automaticPaymentMethods = nil
            return
        }
        intent.paymentMethodTypes = ["card"]
        if enabled ?? true {
            let redirects =
                try Params.string(automatic?["allow_redirects"], param: "automatic_payment_methods[allow_redirects]")
                ?? "always"
            guard ["always", "never"].contains(redirects) else {
                throw .invalid(
                    "automatic_payment_methods[allow_redirects]",
                    "Invalid allow_redirects: \(String(redirects.prefix(40)))", code: "parameter_invalid_string")
            }
            intent.automaticPaymentMethods = ["enabled": true, "allow_redirects": .string(redirects)]
            // Stripe names the payment method configuration that chose the methods; the emulator has one.
            intent.paymentMethodConfigurationDetails = ["id": "pmc_emulator_default", "parent": nil]
        } else {
            intent.automaticPaymentMethods = nil
        }
    }

    func paymentIntent(_ id: String) throws(EmulatorError) -> PaymentIntent {
        guard let intent = intents[id] else { throw .notFound("payment_intent", id) }
        return intent
    }

    func updatePaymentIntent(_ id: String, _ p: FormNode) throws(EmulatorError) -> PaymentIntent {
        var intent = try paymentIntent(id)
        if p["metadata"] != nil { intent.metadata = try Metadata.apply(p["metadata"], to: intent.metadata) }
        if let text = p["description"]?.string { intent.description = text.isEmpty ? nil : text }
        if p["amount"] != nil {
            guard [.requiresPaymentMethod, .requiresConfirmation].contains(intent.status) else {
                throw .unexpectedState("You cannot update the amount of a PaymentIntent with status \(intent.status).")
            }
            intent.amount = try Params.chargeAmount(p["amount"], param: "amount", currency: intent.currency)
        }
        if let pm = try Params.string(p["payment_method"], param: "payment_method") {
            guard let card = card(for: pm) else { throw .notFound("PaymentMethod", pm, param: "payment_method") }
            intent.paymentMethod = paymentMethods[pm] != nil ? pm : card.id
            if intent.status == .requiresPaymentMethod { intent.status = .requiresConfirmation }
        }
        intents[id] = intent
        return intent
    }

    /// Attempts the payment with the given (or attached) payment method.
    func confirmPaymentIntent(_ id: String, _ p: FormNode, _ request: RequestInfo?) throws(EmulatorError)
        -> PaymentIntent
    {
        var intent = try paymentIntent(id)
        switch intent.status {
        case .requiresPaymentMethod, .requiresConfirmation:
            break
        case .requiresAction:
            // A second confirmation stands for the customer completing 3D Secure.
            return succeed(&intent, request, threeDSecure: true)
        default:
            throw .unexpectedState(
                "You cannot confirm this PaymentIntent because it has a status of \(intent.status). Only a PaymentIntent with one of the following statuses may be confirmed: requires_confirmation, requires_action, requires_payment_method."
            )
        }
        if let returnURL = try Params.httpURL(p["return_url"], param: "return_url", required: false) {
            returnURLs[id] = returnURL
        }
        guard let pmId = try Params.string(p["payment_method"], param: "payment_method") ?? intent.paymentMethod else {
            throw EmulatorError(
                status: 400, type: "invalid_request_error", code: "payment_intent_unexpected_state",
                message: "You cannot confirm this PaymentIntent because it's missing a payment method.",
                param: "payment_method")
        }
        guard let method = card(for: pmId) else { throw .notFound("PaymentMethod", pmId, param: "payment_method") }
        intent.paymentMethod = paymentMethods[pmId] != nil ? pmId : method.id
        intent.lastPaymentError = nil
        switch method.outcome {
        case .succeed:
            return succeed(&intent, request, threeDSecure: false)
        case .requireAuthentication:
            intent.status = .requiresAction
            let url = "\(checkoutBaseURL)/authenticate/\(intent.id)"
            if let returnURL = returnURLs[id] {
                intent.nextAction = [
                    "type": "redirect_to_url",
                    "redirect_to_url": ["return_url": .string(returnURL), "url": .string(url)],
                ]
            } else {
                intent.nextAction = [
                    "type": "use_stripe_sdk",
                    "use_stripe_sdk": [
                        "type": "three_d_secure_redirect", "stripe_js": .string(url),
                        "source": .string(TestEvents.randomId("src")),
                    ],
                ]
            }
            intents[id] = intent
            record("payment_intent.requires_action", .paymentIntent(intent), request)
            return intent
        case .decline(let code, let declineCode, let message):
            var charge = makeCharge(intent, method: method, status: "failed", threeDSecure: false)
            charge.failureCode = code
            charge.failureMessage = message
            charges[charge.id] = charge
            intent.status = .requiresPaymentMethod
            intent.latestCharge = .id(charge.id)
            intent.lastPaymentError = PaymentError(
                type: "card_error", code: code, declineCode: declineCode, message: message, charge: charge.id,
                paymentMethod: intent.paymentMethod.flatMap { try? paymentMethod($0) })
            intent.paymentMethod = nil
            intents[id] = intent
            record("charge.failed", .charge(charge), request)
            record("payment_intent.payment_failed", .paymentIntent(intent), request)
            var error = EmulatorError(
                status: 402, type: "card_error", code: code, declineCode: declineCode, message: message)
            error.paymentIntent = intent
            error.body.error.charge = charge.id
            error.body.error.paymentIntent = .from(intent)
            throw error
        }
    }

    func succeed(_ intent: inout PaymentIntent, _ request: RequestInfo?, threeDSecure: Bool) -> PaymentIntent {
        let method = intent.paymentMethod.flatMap { card(for: $0) } ?? TestCard.methods["pm_card_visa"]!
        var charge = makeCharge(intent, method: method, status: "succeeded", threeDSecure: threeDSecure)
        intent.latestCharge = .id(charge.id)
        intent.lastPaymentError = nil
        intent.nextAction = nil
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
        settle(&charge)
        charges[charge.id] = charge
        intents[intent.id] = intent
        record("charge.succeeded", .charge(charge), request)
        record("payment_intent.succeeded", .paymentIntent(intent), request)
        return intent
    }

    /// The customer completed (or failed) 3D Secure on the emulator's page. Answers the intent and its `return_url`.
    func finishAuthentication(_ id: String, succeed success: Bool, _ request: RequestInfo) throws(EmulatorError) -> (
        PaymentIntent, String?
    ) {
        var intent = try paymentIntent(id)
        guard intent.status == .requiresAction else {
            throw .unexpectedState("This PaymentIntent is \(intent.status) and is not waiting for authentication.")
        }
        let returnURL = returnURLs[id]
        if success { return (succeed(&intent, request, threeDSecure: true), returnURL) }
        intent.status = .requiresPaymentMethod
        intent.nextAction = nil
        intent.paymentMethod = nil
        intent.lastPaymentError = PaymentError(
            type: "invalid_request_error", code: "payment_intent_authentication_failure", declineCode: nil,
            message:
                "The provided PaymentMethod has failed authentication. You can provide payment_method_data or a new PaymentMethod to attempt to fulfill this PaymentIntent again."
        )
        intents[id] = intent
        record("payment_intent.payment_failed", .paymentIntent(intent), request)
        return (intent, returnURL)
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
            settle(&charge)
            charges[chargeId] = charge
        }
        intents[id] = intent
        record("payment_intent.succeeded", .paymentIntent(intent), request)
        return intent
    }

    func cancelPaymentIntent(_ id: String, _ p: FormNode, _ request: RequestInfo) throws(EmulatorError) -> PaymentIntent
    {
        let reason = try Params.oneOf(
            p["cancellation_reason"], ["duplicate", "fraudulent", "requested_by_customer", "abandoned"],
            param: "cancellation_reason")
        var intent = try paymentIntent(id)
        guard
            [.requiresPaymentMethod, .requiresConfirmation, .requiresAction, .requiresCapture].contains(intent.status)
        else {
            throw .unexpectedState(
                "You cannot cancel this PaymentIntent because it has a status of \(intent.status). Only a PaymentIntent with one of the following statuses may be canceled: requires_payment_method, requires_capture, requires_confirmation, requires_action, processing."
            )
        }
        if let owner = sessions.values.first(where: { $0.paymentIntent?.id == id && $0.status == .open }) {
            throw .unexpectedState(
                "You cannot cancel this PaymentIntent because it belongs to Checkout Session \(owner.id); expire the session instead."
            )
        }
        intent.status = .canceled
        intent.canceledAt = now()
        intent.cancellationReason = reason
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
        var refund = Refund(
            id: TestEvents.randomId("re"), amount: amount, currency: charge.currency, charge: charge.id,
            paymentIntent: charge.paymentIntent, status: .succeeded,
            reason: try Params.oneOf(
                p["reason"], ["duplicate", "fraudulent", "requested_by_customer"], param: "reason"),
            metadata: try Metadata.apply(p["metadata"], to: [:]), created: now())
        let txn = balanceTransaction(
            amount: -amount, currency: charge.currency, source: refund.id, type: "refund",
            description: "REFUND FOR CHARGE")
        refund.balanceTransaction = .string(txn.id)
        refund.destinationDetails = [
            "card": [
                "reference": .string(String(TestEvents.randomToken(23).uppercased().prefix(23))),
                "reference_status": "available",
                "reference_type": "acquirer_reference_number", "type": "refund",
            ],
            "type": "card",
        ]
        refund.paymentMethod = charge.paymentMethod.map(JSONValue.string) ?? nil
        refund.customer = charge.customer
        refunds[refund.id] = refund
        charge.amountRefunded += amount
        charge.refunded = charge.amountRefunded >= charge.amountCaptured
        charge.refunds = refundList(chargeId: charge.id)
        charges[charge.id] = charge
        record("refund.created", .refund(refund), request)
        record("charge.refunded", .charge(charge), request)
        if charge.paymentMethod.flatMap({ card(for: $0) })?.refundFails == true { failingRefunds.append(refund.id) }
        return refund
    }

    /// Fails the refunds of `pm_card_refundFail` made a second or more ago (run by the sweep, and when the clock
    /// moves): Stripe fails such a refund some time after it succeeded.
    func failDueRefunds() {
        while let id = failingRefunds.first, var refund = refunds[id], refund.created < now(),
            let chargeId = refund.charge, var charge = charges[chargeId]
        {
            failingRefunds.removeFirst()
            failRefund(&refund, of: &charge)
        }
    }

    /// A refund the card's bank sent back: the money returns to the balance and the charge no longer counts it, with
    /// the events Stripe sends (`charge.refund.updated`, `refund.updated`, `refund.failed`).
    private func failRefund(_ refund: inout Refund, of charge: inout Charge) {
        let txn = balanceTransaction(
            amount: refund.amount, currency: refund.currency, source: refund.id, type: "refund_failure",
            description: "REFUND FAILURE")
        refund.status = .failed
        refund.failureReason = "expired_or_canceled_card"
        refund.failureBalanceTransaction = txn.id
        refunds[refund.id] = refund
        charge.amountRefunded -= refund.amount
        charge.refunded = false
        charge.refunds = refundList(chargeId: charge.id)
        charges[charge.id] = charge
        for type in ["charge.refund.updated", "refund.updated", "refund.failed"] { record(type, .refund(refund), nil) }
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
        var endpoint = WebhookEndpoint(
            id: TestEvents.randomId("we"), url: url, enabledEvents: events,
            secret: secret ?? "whsec_" + TestEvents.randomToken(32), created: now(),
            metadata: try Metadata.apply(p["metadata"], to: [:]))
        endpoint.description = try Params.string(p["description"], param: "description")
        endpoint.apiVersion = try Params.string(p["api_version"], param: "api_version")
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
    /// Stripe's limits: 50 keys, keys up to 40 characters, values up to 500, and only strings.
    static func apply(_ node: FormNode?, to current: [String: String]) throws(EmulatorError) -> [String: String] {
        guard let node else { return current }
        if node.string == "" { return [:] }
        guard let pairs = node.object else {
            throw .invalid("metadata", "Invalid object", code: "parameter_invalid_string")
        }
        var result = current
        for (key, value) in pairs {
            guard let text = value.string else {
                throw .invalid(
                    "metadata[\(String(key.prefix(40)))]", "Invalid string: an object", code: "parameter_invalid_string"
                )
            }
            guard key.count <= 40 else {
                throw .invalid(
                    "metadata", "Metadata keys can have up to 40 characters; \(String(key.prefix(40)))... is longer.",
                    code: "parameter_invalid_string")
            }
            guard text.count <= 500 else {
                throw .invalid(
                    "metadata[\(key)]", "Metadata values can have up to 500 characters.",
                    code: "parameter_invalid_string")
            }
            result[key] = text.isEmpty ? nil : text
        }
        guard result.count <= 50 else {
            throw .invalid("metadata", "An object can have up to 50 metadata keys.", code: "parameter_invalid_string")
        }
        return result
    }
}
