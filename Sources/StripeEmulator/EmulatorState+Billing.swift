import Foundation
import StripeAPI

/// Stripe Billing: subscriptions made by Checkout in `subscription` mode, their invoices and invoice payments,
/// renewals and failed-payment retries as time moves (the emulator's own clock or a test clock), and cancellation.
extension EmulatorState {
    /// Smart Retries as the emulator schedules them: days after the first failed attempt of an invoice. When the
    /// attempt after the last one fails too, the subscription is canceled.
    static let retryDays = [3, 5, 7]
    /// The most renewals and retries one advance of a clock processes (what is left is processed by the next one).
    static let maxBillingStepsPerAdvance = 500
    /// Times are kept within the year 9999, so calendar arithmetic never overflows.
    static let latestTime = 253_402_300_799

    // MARK: Periods

    /// The end of period `index` (0 = the first) of a price billed every `count` `interval`s from `anchor`, counted
    /// from the anchor so that a subscription started on the 31st bills on the last day of shorter months.
    static func periodEnd(anchor: Int, interval: String, count: Int, index: Int) -> Int {
        let steps = (index + 1).multipliedReportingOverflow(by: count)
        guard !steps.overflow else { return latestTime }
        let n = steps.partialValue
        switch interval {
        case "day", "week":
            let unit = interval == "day" ? 86_400 : 7 * 86_400
            let (delta, o1) = n.multipliedReportingOverflow(by: unit)
            let (end, o2) = anchor.addingReportingOverflow(delta)
            return o1 || o2 ? latestTime : min(end, latestTime)
        default:
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = .gmt
            guard n < 20_000,
                let date = calendar.date(
                    byAdding: interval == "year" ? .year : .month, value: n,
                    to: Date(timeIntervalSince1970: TimeInterval(anchor)))
            else { return latestTime }
            return min(Int(date.timeIntervalSince1970), latestTime)
        }
    }

    static func intervalText(_ recurring: JSONValue?) -> String {
        let interval = recurring?["interval"]?.string ?? "month"
        let count = recurring?["interval_count"]?.int ?? 1
        return count == 1 ? "every \(interval)" : "every \(count) \(interval)s"
    }

    // MARK: Subscriptions

    func subscription(_ id: String) throws(EmulatorError) -> Subscription {
        guard let subscription = subscriptions[id] else { throw .notFound("subscription", id) }
        return subscription
    }

    /// Stripe's list: without `status`, every subscription that is not canceled; `status=all` includes those.
    func subscriptions(_ query: ListQuery, customer: String?, status: String?) throws(EmulatorError)
        -> (items: [Subscription], hasMore: Bool)
    {
        try subscriptions.page(query) { sub in
            guard customer == nil || sub.customer == customer else { return false }
            switch status {
            case nil, "": return sub.status != .canceled && sub.status != .incompleteExpired
            case "all": return true
            case "ended": return sub.status == .canceled || sub.status == .incompleteExpired
            case let wanted?: return sub.status.rawValue == wanted
            }
        }
    }

    /// The subscription Checkout makes once its first invoice is paid: `lines` recurring, paid by `paymentMethod`
    /// (attached to the customer, and the subscription's default). Answers the subscription and its first invoice.
    func startSubscription(
        customer customerId: String, lines: [LineItem], metadata: [String: String], paymentMethod pmId: String,
        makeDefault: Bool = true, _ request: RequestInfo?
    ) throws(EmulatorError) -> (Subscription, Invoice) {
        let customer = try customer(customerId)
        let clock = customer.testClock.string
        let start = time(clock: clock)
        return try at(start) { () throws(EmulatorError) in
            try startSubscription(
                customer, clock: clock, start: start, lines: lines, metadata: metadata, pm: pmId,
                makeDefault: makeDefault, request)
        }
    }

    private func startSubscription(
        _ customer: Customer, clock: String?, start: Int, lines: [LineItem], metadata: [String: String],
        pm pmId: String, makeDefault: Bool, _ request: RequestInfo?
    ) throws(EmulatorError) -> (Subscription, Invoice) {
        let customerId = customer.id
        guard let first = lines.first, let firstPrice = first.price else { throw .missing("line_items") }
        let currency = first.currency
        let recurring = firstPrice.recurring
        let interval = recurring["interval"]?.string ?? "month"
        let count = recurring["interval_count"]?.int ?? 1
        let end = Self.periodEnd(anchor: start, interval: interval, count: count, index: 0)
        var total = 0
        for line in lines { total = try Params.sum(total, line.amountTotal, param: "line_items", currency: currency) }

        // The first payment comes first: a declined card leaves no subscription behind.
        let subId = TestEvents.randomId("sub")
        let intent = try createPaymentIntent(
            .object([
                ("amount", .value(String(total))), ("currency", .value(currency)), ("customer", .value(customerId)),
                ("description", .value("Subscription creation")),
            ]), request)
        let confirmed = try confirmPaymentIntent(intent.id, .object([("payment_method", .value(pmId))]), request)
        if confirmed.status == .requiresAction {
            _ = try confirmPaymentIntent(intent.id, .object([]), request)  // 3D Secure passes at once here
        }

        let items: [JSONValue] = lines.compactMap { line in
            line.price.map { price in
                Self.subscriptionItem(
                    subscription: subId, price: price, quantity: line.quantity, start: start, end: end)
            }
        }
        var fields = Subscription.defaults
        fields["id"] = .string(subId)
        fields["customer"] = .string(customerId)
        fields["created"] = .int(start)
        fields["start_date"] = .int(start)
        fields["billing_cycle_anchor"] = .int(start)
        fields["currency"] = .string(currency)
        fields["default_payment_method"] = makeDefault ? .string(pmId) : .null
        fields["metadata"] = .from(metadata)
        fields["status"] = "active"
        fields["test_clock"] = clock.map(JSONValue.string) ?? .null
        fields["items"] = [
            "object": "list", "data": .array(items), "has_more": false,
            "url": .string("/v1/subscription_items?subscription=\(subId)"),
        ]
        var sub = Subscription(fields: fields)
        var invoice = makeInvoice(
            sub, reason: "subscription_create", start: start, end: end, period: (start, start), at: start)
        sub.fields["latest_invoice"] = .string(invoice.id)
        subscriptions[subId] = sub
        subscriptionPeriodIndex[subId] = 0
        record(
            "customer.subscription.created", .other(type: "subscription", id: subId), request, raw: .from(sub),
            at: start)
        record("invoice.created", .other(type: "invoice", id: invoice.id), request, raw: .from(invoice), at: start)
        finalize(&invoice, at: start, request)
        invoiceIntents[invoice.id] = intent.id
        makeInvoicePayment(invoice, intent: intent.id, at: start)
        markPaid(&invoice, at: start, request)
        return (sub, invoice)
    }

    /// `POST /v1/subscriptions` (`customer`, `items[][price|quantity]`, `default_payment_method`, `metadata`): the
    /// first invoice is charged at once to the default payment method (the subscription's, else the customer's); a
    /// decline is the card error and leaves no subscription.
    func createSubscription(_ p: FormNode, _ request: RequestInfo) throws(EmulatorError) -> Subscription {
        guard let customerId = try Params.string(p["customer"], param: "customer"), !customerId.isEmpty else {
            throw .missing("customer")
        }
        let customer = try customer(customerId)
        guard let nodes = p["items"]?.array, !nodes.isEmpty else { throw .missing("items") }
        guard nodes.count <= 20 else {
            throw .invalid("items", "A subscription can have at most 20 items.", code: "parameter_invalid_integer")
        }
        var lines: [LineItem] = []
        for (index, node) in nodes.enumerated() {
            let param = "items[\(index)]"
            guard let priceId = try Params.string(node["price"], param: "\(param)[price]"), !priceId.isEmpty else {
                throw .missing("\(param)[price]")
            }
            guard let price = prices[priceId] else { throw .notFound("price", priceId, param: "\(param)[price]") }
            guard price.type == "recurring" else {
                throw .invalid(
                    "\(param)[price]",
                    "The price specified is set to `type=one_time` but this field only accepts prices with `type=recurring`.",
                    code: "parameter_invalid_string")
            }
            if let first = lines.first?.price,
                first.recurring["interval"] != price.recurring["interval"]
                    || first.recurring["interval_count"] != price.recurring["interval_count"]
                    || first.currency != price.currency
            {
                throw .invalid(
                    "items", "All prices of a subscription must have the same currency and interval.",
                    code: "parameter_invalid_string")
            }
            let quantity =
                node["quantity"] == nil ? 1 : try Params.amount(node["quantity"], param: "\(param)[quantity]")
            let total = try Params.product(
                price.unitAmount ?? 0, quantity, param: "\(param)[quantity]", currency: price.currency)
            lines.append(
                LineItem(
                    id: TestEvents.randomId("li"), amountSubtotal: total, amountTotal: total, currency: price.currency,
                    description: products[price.product.id]?.name ?? "Subscription", quantity: quantity, price: price))
        }
        var pm = customer.invoiceSettings.defaultPaymentMethod
        if let given = try Params.string(p["default_payment_method"], param: "default_payment_method"), !given.isEmpty {
            guard let method = paymentMethods[given], method.customer == customerId else {
                throw EmulatorError(
                    status: 400, type: "invalid_request_error", code: "resource_missing",
                    message: "No such PaymentMethod: '\(given)'; it must be attached to customer \(customerId) first.",
                    param: "default_payment_method")
            }
            pm = method.id
        }
        guard let pm else {
            throw EmulatorError(
                status: 400, type: "invalid_request_error", code: "resource_missing",
                message:
                    "This customer has no attached payment source or default payment method. Please consider adding a default payment method.",
                param: "default_payment_method")
        }
        // Without `default_payment_method`, the customer's default is charged and stays the one renewals use.
        return try startSubscription(
            customer: customerId, lines: lines, metadata: try Metadata.apply(p["metadata"], to: [:]), paymentMethod: pm,
            makeDefault: p["default_payment_method"] != nil, request
        ).0
    }

    static func subscriptionItem(subscription: String, price: Price, quantity: Int, start: Int, end: Int) -> JSONValue {
        var expanded = price
        expanded.product = .id(price.product.id)
        let recurring = price.recurring
        return [
            "id": .string(TestEvents.randomId("si")), "object": "subscription_item", "created": .int(start),
            "current_period_start": .int(start), "current_period_end": .int(end), "discounts": [], "metadata": [:],
            "price": .from(expanded), "quantity": .int(quantity), "subscription": .string(subscription),
            "tax_rates": [], "billing_thresholds": nil,
            "plan": [
                "id": .string(price.id), "object": "plan", "active": .bool(price.active),
                "amount": price.unitAmount.map(JSONValue.int) ?? nil,
                "amount_decimal": price.unitAmount.map { .string(String($0)) } ?? nil, "billing_scheme": "per_unit",
                "created": .int(price.created), "currency": .string(price.currency),
                "interval": recurring["interval"] ?? "month", "interval_count": recurring["interval_count"] ?? 1,
                "livemode": false, "metadata": .from(price.metadata), "meter": nil, "nickname": price.nickname,
                "product": .string(price.product.id), "tiers_mode": nil, "transform_usage": nil,
                "trial_period_days": nil, "usage_type": "licensed",
            ],
        ]
    }

    func updateSubscription(_ id: String, _ p: FormNode, _ request: RequestInfo?) throws(EmulatorError) -> Subscription
    {
        var sub = try subscription(id)
        let before = sub
        if p["metadata"] != nil { sub.fields["metadata"] = .from(try Metadata.apply(p["metadata"], to: sub.metadata)) }
        let changesBilling = p["cancel_at_period_end"] != nil || p["default_payment_method"] != nil
        if changesBilling, sub.status == .canceled || sub.status == .incompleteExpired {
            throw .unexpectedState(
                "A canceled subscription can only update its cancellation_details and metadata.",
                code: "resource_missing")
        }
        if let value = try Params.bool(p["cancel_at_period_end"], param: "cancel_at_period_end") {
            setCancelAtPeriodEnd(&sub, value)
        }
        if let node = p["default_payment_method"] {
            guard let pm = try Params.string(node, param: "default_payment_method"), !pm.isEmpty else {
                sub.fields["default_payment_method"] = .null
                return try saveUpdated(sub, before: before, request)
            }
            guard let method = paymentMethods[pm], method.customer == sub.customer else {
                throw EmulatorError(
                    status: 400, type: "invalid_request_error", code: "resource_missing",
                    message: "No such PaymentMethod: '\(pm)'; it must be attached to customer \(sub.customer) first.",
                    param: "default_payment_method")
            }
            sub.fields["default_payment_method"] = .string(method.id)
        }
        return try saveUpdated(sub, before: before, request)
    }

    func setCancelAtPeriodEnd(_ sub: inout Subscription, _ value: Bool) {
        let at = time(clock: sub.testClock)
        sub.cancelAtPeriodEnd = value
        sub.fields["cancel_at"] = value ? (sub.currentPeriodEnd.map(JSONValue.int) ?? .null) : .null
        sub.fields["canceled_at"] = value ? .int(at) : .null
        sub.fields["cancellation_details"] = [
            "comment": nil, "feedback": nil, "reason": value ? "cancellation_requested" : nil,
        ]
    }

    /// Stores `sub` and sends `customer.subscription.updated` with what changed, when something did.
    @discardableResult
    func saveUpdated(_ sub: Subscription, before: Subscription, _ request: RequestInfo?) throws(EmulatorError)
        -> Subscription
    {
        subscriptions[sub.id] = sub
        var previous: [String: JSONValue] = [:]
        for (key, value) in before.fields where sub.fields[key] != value { previous[key] = value }
        if !previous.isEmpty {
            record(
                "customer.subscription.updated", .other(type: "subscription", id: sub.id), request, raw: .from(sub),
                previous: .object(previous), at: time(clock: sub.testClock))
        }
        return sub
    }

    /// `DELETE /v1/subscriptions/:id`: cancels now (no proration, no refund); open invoices stop being retried.
    func cancelSubscription(_ id: String, _ request: RequestInfo?, reason: String = "cancellation_requested")
        throws(EmulatorError) -> Subscription
    {
        var sub = try subscription(id)
        guard sub.status != .canceled, sub.status != .incompleteExpired else {
            throw .unexpectedState("This subscription is already canceled.", code: "resource_missing")
        }
        end(&sub, reason: reason, request)
        return sub
    }

    func end(_ sub: inout Subscription, reason: String, _ request: RequestInfo?) {
        let at = time(clock: sub.testClock)
        sub.status = .canceled
        sub.fields["ended_at"] = .int(at)
        if sub.canceledAt == nil { sub.fields["canceled_at"] = .int(at) }
        sub.fields["cancellation_details"] = ["comment": nil, "feedback": nil, "reason": .string(reason)]
        subscriptions[sub.id] = sub
        for (invoiceId, invoice) in invoices.entries where invoice.subscription == sub.id && invoice.status == .open {
            var stopped = invoice
            stopped.fields["next_payment_attempt"] = .null
            invoices[invoiceId] = stopped
        }
        record(
            "customer.subscription.deleted", .other(type: "subscription", id: sub.id), request, raw: .from(sub), at: at)
    }

    // MARK: Invoices

    func invoice(_ id: String) throws(EmulatorError) -> Invoice {
        guard let invoice = invoices[id] else { throw .notFound("invoice", id) }
        return invoice
    }

    func invoices(_ query: ListQuery, customer: String?, subscription: String?, status: String?)
        throws(EmulatorError) -> (items: [Invoice], hasMore: Bool)
    {
        try invoices.page(query) { invoice in
            (customer == nil || invoice.customer == customer)
                && (subscription == nil || invoice.subscription == subscription)
                && (status == nil || invoice.status.rawValue == status)
        }
    }

    func invoicePayments(_ query: ListQuery, invoice: String?) throws(EmulatorError) -> (
        items: [InvoicePayment], hasMore: Bool
    ) {
        try invoicePayments.page(query) { payment in
            invoice == nil || payment.invoice == invoice
        }
    }

    func invoicePayment(_ id: String) throws(EmulatorError) -> InvoicePayment {
        guard let payment = invoicePayments[id] else { throw .notFound("invoice_payment", id) }
        return payment
    }

    /// A draft invoice of `sub` for the period `start`–`end`, one line per item.
    /// `period` is the invoice's own: the period it looks back on (a renewal's is the period just ended; a first
    /// invoice's is its start, twice), where its lines bill the period ahead.
    func makeInvoice(_ sub: Subscription, reason: String, start: Int, end: Int, period: (start: Int, end: Int), at: Int)
        -> Invoice
    {
        let id = TestEvents.randomId("in")
        let customer = customers[sub.customer]
        var total = 0
        var lines: [JSONValue] = []
        for item in sub.items {
            let unit = item["price"]?["unit_amount"]?.int ?? 0
            let quantity = item["quantity"]?.int ?? 1
            let (amount, overflow) = unit.multipliedReportingOverflow(by: quantity)
            let line = overflow ? 0 : amount
            total = total.addingReportingOverflow(line).overflow ? total : total + line
            let name = (item["price"]?["product"]?.string).flatMap { products[$0]?.name } ?? "Subscription"
            lines.append([
                "id": .string(TestEvents.randomId("il")), "object": "line_item", "amount": .int(line),
                "currency": .string(sub.fields["currency"]?.string ?? "usd"),
                "description": .string(
                    "\(quantity) × \(name) (at \(unit) / \(item["plan"]?["interval"]?.string ?? "month"))"),
                "discount_amounts": [], "discountable": true, "discounts": [], "invoice": .string(id),
                "livemode": false,
                "metadata": sub.fields["metadata"] ?? [:], "period": ["end": .int(end), "start": .int(start)],
                "quantity": .int(quantity), "quantity_decimal": .string(String(quantity)), "subscription": nil,
                "pretax_credit_amounts": [], "taxes": [], "subtotal": .int(line),
                "parent": [
                    "type": "subscription_item_details", "invoice_item_details": nil,
                    "subscription_item_details": [
                        "invoice_item": nil, "proration": false, "proration_details": ["credited_items": nil],
                        "subscription": .string(sub.id), "subscription_item": item["id"] ?? nil,
                    ],
                ],
                "pricing": [
                    "type": "price_details",
                    "price_details": [
                        "price": item["price"]?["id"] ?? nil, "product": item["price"]?["product"] ?? nil,
                    ],
                    "unit_amount_decimal": .string(String(unit)),
                ],
            ])
        }
        var fields = Invoice.defaults
        fields["id"] = .string(id)
        fields["customer"] = .string(sub.customer)
        fields["customer_email"] = customer?.email.map(JSONValue.string) ?? .null
        fields["customer_name"] = customer?.name.map(JSONValue.string) ?? .null
        fields["customer_phone"] = customer?.phone ?? .null
        fields["created"] = .int(at)
        fields["effective_at"] = .null
        fields["currency"] = sub.fields["currency"] ?? "usd"
        fields["billing_reason"] = .string(reason)
        fields["amount_due"] = .int(total)
        fields["amount_remaining"] = .int(total)
        fields["subtotal"] = .int(total)
        fields["subtotal_excluding_tax"] = .int(total)
        fields["total"] = .int(total)
        fields["total_excluding_tax"] = .int(total)
        fields["period_start"] = .int(period.start)
        fields["period_end"] = .int(period.end)
        fields["test_clock"] = sub.fields["test_clock"] ?? .null
        fields["lines"] = [
            "object": "list", "data": .array(lines), "has_more": false, "url": .string("/v1/invoices/\(id)/lines"),
        ]
        fields["parent"] = [
            "type": "subscription_details", "quote_details": nil,
            "subscription_details": ["metadata": sub.fields["metadata"] ?? [:], "subscription": .string(sub.id)],
        ]
        let invoice = Invoice(fields: fields)
        invoices[id] = invoice
        return invoice
    }

    func finalize(_ invoice: inout Invoice, at: Int, _ request: RequestInfo?) {
        invoice.status = .open
        var number = 1
        if var customer = customers[invoice.customer] {
            number = customer.nextInvoiceSequence.int ?? 1
            customer.nextInvoiceSequence = .int(number + 1)
            customers[customer.id] = customer
            invoice.fields["number"] = .string(
                "\(customer.invoicePrefix.string ?? "EMU")-\(String(format: "%04d", number))")
        }
        invoice.fields["effective_at"] = .int(at)
        invoice.fields["status_transitions"] = [
            "finalized_at": .int(at), "marked_uncollectible_at": nil, "paid_at": nil, "voided_at": nil,
        ]
        invoices[invoice.id] = invoice
        record("invoice.finalized", .other(type: "invoice", id: invoice.id), request, raw: .from(invoice), at: at)
    }

    func makeInvoicePayment(_ invoice: Invoice, intent: String, at: Int) {
        var fields = InvoicePayment.defaults
        fields["id"] = .string(TestEvents.randomId("inpay"))
        fields["invoice"] = .string(invoice.id)
        fields["amount_requested"] = .int(invoice.amountDue)
        fields["currency"] = .string(invoice.currency)
        fields["created"] = .int(at)
        fields["payment"] = ["type": "payment_intent", "payment_intent": .string(intent)]
        let payment = InvoicePayment(fields: fields)
        invoicePayments[payment.id] = payment
    }

    func markPaid(_ invoice: inout Invoice, at: Int, _ request: RequestInfo?) {
        invoice.status = .paid
        invoice.fields["amount_paid"] = .int(invoice.amountDue)
        invoice.fields["amount_remaining"] = 0
        invoice.fields["attempted"] = true
        invoice.fields["attempt_count"] = .int(invoice.attemptCount + 1)
        invoice.fields["next_payment_attempt"] = .null
        invoice.fields["status_transitions"]?.set("paid_at", .int(at))
        invoices[invoice.id] = invoice
        for (id, payment) in invoicePayments.entries where payment.invoice == invoice.id && payment.status == "open" {
            var paid = payment
            paid.fields["status"] = "paid"
            paid.fields["amount_paid"] = .int(invoice.amountDue)
            paid.fields["status_transitions"] = ["canceled_at": nil, "paid_at": .int(at)]
            invoicePayments[id] = paid
        }
        record("invoice.paid", .other(type: "invoice", id: invoice.id), request, raw: .from(invoice), at: at)
        record(
            "invoice.payment_succeeded", .other(type: "invoice", id: invoice.id), request, raw: .from(invoice), at: at)
    }

    /// The payment method an invoice of `sub` is charged to: the subscription's default, else the customer's.
    func billingPaymentMethod(_ sub: Subscription) -> String? {
        sub.defaultPaymentMethod ?? customers[sub.customer]?.invoiceSettings.defaultPaymentMethod
    }

    /// Charges an open invoice of `sub` off-session. Success pays it (and brings a `past_due` subscription back to
    /// `active`); a failure schedules the next retry, makes the subscription `past_due`, and after the last retry
    /// cancels it.
    func attemptPayment(_ invoiceId: String, at: Int) {
        guard var invoice = invoices[invoiceId], invoice.status == .open, let subId = invoice.subscription,
            var sub = subscriptions[subId]
        else { return }
        var failure: PaymentError?
        if let pm = billingPaymentMethod(sub) {
            do {
                let intentId: String
                if let existing = invoiceIntents[invoiceId] {
                    intentId = existing
                } else {
                    intentId = try createPaymentIntent(
                        .object([
                            ("amount", .value(String(invoice.amountDue))), ("currency", .value(invoice.currency)),
                            ("customer", .value(invoice.customer)), ("description", .value("Subscription update")),
                        ]), nil
                    ).id
                    invoiceIntents[invoiceId] = intentId
                    makeInvoicePayment(invoice, intent: intentId, at: at)
                }
                let intent = try confirmPaymentIntent(intentId, .object([("payment_method", .value(pm))]), nil)
                if intent.status != .succeeded {
                    failure = PaymentError(
                        type: "card_error", code: "authentication_required", declineCode: "authentication_required",
                        message: "Your card was declined. This transaction requires authentication.")
                }
            } catch {
                failure =
                    error.paymentIntent?.lastPaymentError
                    ?? PaymentError(
                        type: "card_error", code: error.body.error.code, declineCode: nil,
                        message: error.body.error.message ?? "")
            }
        } else {
            failure = PaymentError(
                type: "invalid_request_error", code: "invoice_no_payment_method_types", declineCode: nil,
                message: "There is no default payment method to charge.")
        }
        guard let failure else {
            markPaid(&invoice, at: at, nil)
            if sub.status == .pastDue {
                let before = sub
                sub.status = .active
                _ = try? saveUpdated(sub, before: before, nil)
            }
            return
        }
        let attempts = invoice.attemptCount + 1
        let first = invoiceFirstFailure[invoiceId] ?? at
        invoiceFirstFailure[invoiceId] = first
        invoice.fields["attempted"] = true
        invoice.fields["attempt_count"] = .int(attempts)
        invoice.fields["last_finalization_error"] = .null
        let retry = attempts <= Self.retryDays.count ? first + Self.retryDays[attempts - 1] * 86_400 : nil
        invoice.fields["next_payment_attempt"] = retry.map(JSONValue.int) ?? .null
        invoices[invoiceId] = invoice
        _ = failure  // the decline is on the PaymentIntent (`last_payment_error`), as at Stripe
        record("invoice.payment_failed", .other(type: "invoice", id: invoiceId), nil, raw: .from(invoice), at: at)
        if retry == nil {
            end(&sub, reason: "payment_failed", nil)
        } else if sub.status == .active {
            let before = sub
            sub.status = .pastDue
            _ = try? saveUpdated(sub, before: before, nil)
        }
    }

    /// At the end of its period: a subscription set to cancel then ends; any other starts its next period with an
    /// invoice (`invoice.created`, `customer.subscription.updated`, `invoice.finalized`) and charges it.
    func renew(_ subId: String, at: Int) {
        guard var sub = subscriptions[subId], sub.status == .active || sub.status == .pastDue,
            let oldEnd = sub.currentPeriodEnd
        else { return }
        if sub.cancelAtPeriodEnd {
            end(&sub, reason: "cancellation_requested", nil)
            return
        }
        let before = sub
        let oldStart = sub.items.first?["current_period_start"]?.int ?? oldEnd
        let index = (subscriptionPeriodIndex[subId] ?? 0) + 1
        subscriptionPeriodIndex[subId] = index
        let anchor = sub.fields["billing_cycle_anchor"]?.int ?? oldEnd
        let interval = sub.items.first?["plan"]?["interval"]?.string ?? "month"
        let count = sub.items.first?["plan"]?["interval_count"]?.int ?? 1
        let newEnd = max(
            Self.periodEnd(anchor: anchor, interval: interval, count: count, index: index),
            min(oldEnd + 1, Self.latestTime))
        sub.items = sub.items.map { item in
            var item = item
            item.set("current_period_start", .int(oldEnd))
            item.set("current_period_end", .int(newEnd))
            return item
        }
        var invoice = makeInvoice(
            sub, reason: "subscription_cycle", start: oldEnd, end: newEnd, period: (oldStart, oldEnd), at: at)
        sub.fields["latest_invoice"] = .string(invoice.id)
        record("invoice.created", .other(type: "invoice", id: invoice.id), nil, raw: .from(invoice), at: at)
        _ = try? saveUpdated(sub, before: before, nil)
        finalize(&invoice, at: at, nil)
        attemptPayment(invoice.id, at: at)
    }

    // MARK: Time

    /// Moves the emulator's own time (every object without a test clock) `seconds` ahead and bills what fell due.
    func advanceOwnClock(seconds: Int) -> Int {
        let target = min(now() + seconds, Self.latestTime)
        runBilling(clock: nil, until: target)
        clockOffset = target - wallClock()
        failDueRefunds()
        return now()
    }

    /// Processes, in time order, the period ends and payment retries of the subscriptions on `clock` (nil: the
    /// emulator's own time) due up to `target`, at most `maxBillingStepsPerAdvance` of them.
    /// Renews and retries what the emulator's own time has reached (run by the sweep, as Stripe bills on its own).
    func billDue() { runBilling(clock: nil, until: now()) }

    func runBilling(clock: String?, until target: Int) {
        var steps = 0
        while steps < Self.maxBillingStepsPerAdvance {
            var next: (time: Int, sub: String, invoice: String?)?
            for (id, sub) in subscriptions.entries
            where sub.testClock == clock && (sub.status == .active || sub.status == .pastDue) {
                // A period that would end past the year 9999 never ends (so the end of time cannot renew forever).
                if let end = sub.currentPeriodEnd, end <= target, end < Self.latestTime,
                    next.map({ end < $0.time }) ?? true
                {
                    next = (end, id, nil)
                }
            }
            for (id, invoice) in invoices.entries
            where invoice.status == .open && invoice.fields["test_clock"]?.string == clock {
                if let due = invoice.nextPaymentAttempt, due <= target, next.map({ due < $0.time }) ?? true {
                    next = (due, invoice.subscription ?? "", id)
                }
            }
            guard let next else { break }
            setTime(clock: clock, next.time)
            at(next.time) {
                if let invoiceId = next.invoice {
                    attemptPayment(invoiceId, at: next.time)
                } else {
                    renew(next.sub, at: next.time)
                }
            }
            steps += 1
        }
    }

    func setTime(clock: String?, _ time: Int) {
        if let clock, var testClock = testClocks[clock] {
            testClock.fields["frozen_time"] = .int(max(time, testClock.frozenTime))
            testClocks[clock] = testClock
        } else if clock == nil {
            clockOffset = max(clockOffset, time - wallClock())
        }
    }

    // MARK: Test clocks

    func createTestClock(_ p: FormNode) throws(EmulatorError) -> TestClock {
        let frozen = try Params.integer(p["frozen_time"], param: "frozen_time")
        guard (0...Self.latestTime).contains(frozen) else {
            throw .invalid("frozen_time", "frozen_time must be a Unix timestamp.", code: "parameter_invalid_integer")
        }
        let created = now()
        let clock = TestClock(fields: [
            "id": .string(TestEvents.randomId("clock")), "object": "test_helpers.test_clock", "created": .int(created),
            "deletes_after": .int(created + 30 * 86_400), "frozen_time": .int(frozen), "livemode": false,
            "name": (try Params.string(p["name"], param: "name")).map(JSONValue.string) ?? nil, "status": "ready",
            "status_details": [:],
        ])
        testClocks[clock.id] = clock
        return clock
    }

    func testClock(_ id: String) throws(EmulatorError) -> TestClock {
        guard let clock = testClocks[id] else { throw .notFound("test_clock", id) }
        return clock
    }

    func deleteTestClock(_ id: String) throws(EmulatorError) -> DeletedObject {
        _ = try testClock(id)
        testClocks[id] = nil
        // As at Stripe, the clock's customers and their subscriptions go with it: they answer 404 from now on.
        for (subId, sub) in Array(subscriptions.entries) where sub.fields["test_clock"]?.string == id {
            subscriptions[subId] = nil
            subscriptionPeriodIndex[subId] = nil
        }
        for (customerId, customer) in Array(customers.entries) where customer.testClock.string == id {
            customers[customerId] = nil
        }
        return DeletedObject(id: id, object: "test_helpers.test_clock")
    }

    /// Moves a test clock to `frozen_time` (later than its time now), billing what fell due on the way.
    func advanceTestClock(_ id: String, _ p: FormNode) throws(EmulatorError) -> TestClock {
        let clock = try testClock(id)
        let target = try Params.integer(p["frozen_time"], param: "frozen_time")
        guard target > clock.frozenTime, target <= Self.latestTime else {
            throw .invalid(
                "frozen_time", "The test clock can only move forward: frozen_time must be after \(clock.frozenTime).",
                code: "parameter_invalid_integer")
        }
        runBilling(clock: id, until: target)
        setTime(clock: id, target)
        var advanced = testClocks[id] ?? clock
        advanced.fields["status"] = "ready"
        testClocks[id] = advanced
        return advanced
    }

    // MARK: Customer Portal

    func createPortalSession(_ p: FormNode) throws(EmulatorError) -> BillingPortalSession {
        guard let customerId = try Params.string(p["customer"], param: "customer"), !customerId.isEmpty else {
            throw .missing("customer")
        }
        guard customers[customerId] != nil else { throw .notFound("customer", customerId, param: "customer") }
        let returnURL = try Params.httpURL(p["return_url"], param: "return_url", required: false)
        let id = TestEvents.randomId("bps")
        let session = BillingPortalSession(fields: [
            "id": .string(id), "object": "billing_portal.session", "configuration": "bpc_emulator_default",
            "created": .int(now()), "customer": .string(customerId), "customer_account": nil, "flow": nil,
            "livemode": false, "locale": (try Params.string(p["locale"], param: "locale")).map(JSONValue.string) ?? nil,
            "on_behalf_of": nil, "return_url": returnURL.map(JSONValue.string) ?? nil,
            "url": .string("\(checkoutBaseURL)/portal/\(id)"),
        ])
        portalSessions[id] = session
        return session
    }

    func portalSession(_ id: String) throws(EmulatorError) -> BillingPortalSession {
        guard let session = portalSessions[id] else { throw .notFound("billing_portal.session", id) }
        return session
    }

    /// The portal's "update payment method": the card is attached to the customer and becomes the default of the
    /// customer and of each live subscription.
    func portalChangeCard(_ sessionId: String, card: String) throws(EmulatorError) -> PaymentMethod {
        let session = try portalSession(sessionId)
        guard TestCard.method(card) != nil else {
            throw EmulatorError(
                status: 402, type: "card_error", code: "incorrect_number", message: "Your card number is incorrect.")
        }
        let method = try attachPaymentMethod(
            TestCard.method(card)!.id, .object([("customer", .value(session.customer))]))
        _ = try updateCustomer(
            session.customer, .object([("invoice_settings", .object([("default_payment_method", .value(method.id))]))]))
        for (id, sub) in subscriptions.entries
        where sub.customer == session.customer && sub.status != .canceled && sub.defaultPaymentMethod != nil {
            _ = try updateSubscription(id, .object([("default_payment_method", .value(method.id))]), nil)
        }
        return method
    }

    func portalSetCancel(_ sessionId: String, subscription subId: String, atPeriodEnd: Bool) throws(EmulatorError) {
        let session = try portalSession(sessionId)
        guard let sub = subscriptions[subId], sub.customer == session.customer else {
            throw .notFound("subscription", subId)
        }
        _ = try updateSubscription(
            subId, .object([("cancel_at_period_end", .value(atPeriodEnd ? "true" : "false"))]), nil)
    }
}

extension JSONValue {
    /// Sets `key` of an object (does nothing to other values).
    mutating func set(_ key: String, _ value: JSONValue) {
        guard case .object(var fields) = self else { return }
        fields[key] = value
        self = .object(fields)
    }
}
