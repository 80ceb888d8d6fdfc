import StripeAPI

extension EmulatorState {
    /// Checkout Sessions in `payment` mode: line items from prices or inline price data; the PaymentIntent is made
    /// when the customer pays (so `payment_intent` stays null until then).
    func createSession(_ p: FormNode, _ request: RequestInfo) throws(EmulatorError) -> CheckoutSession {
        guard let mode = p["mode"]?.string, !mode.isEmpty else { throw .missing("mode") }
        guard mode == "payment" || mode == "subscription" else {
            throw .invalid(
                "mode", "The emulator supports mode=payment and mode=subscription (got \(String(mode.prefix(40)))).",
                code: "parameter_invalid_string")
        }
        guard let successURL = try Params.httpURL(p["success_url"], param: "success_url", required: true) else {
            throw .missing("success_url")
        }
        let cancelURL = try Params.httpURL(p["cancel_url"], param: "cancel_url", required: false)
        guard let lineNodes = p["line_items"]?.array, !lineNodes.isEmpty else { throw .missing("line_items") }
        guard lineNodes.count <= 100 else {
            throw .invalid(
                "line_items", "A Checkout Session can have at most 100 line items.", code: "parameter_invalid_integer")
        }
        let created = now()
        var expiresAt = created + 24 * 3600
        if p["expires_at"] != nil {
            let value = try Params.integer(p["expires_at"], param: "expires_at")
            func allowed(from start: Int) -> Bool { value >= start + 30 * 60 - 5 && value <= start + 24 * 3600 }
            // After `/_emulator/clock/advance`, a client that counts from the wall clock (as every client of real
            // Stripe does) is read from the wall clock and moved with the emulator's time.
            let shift = created - wallClock()
            if allowed(from: created) {
                expiresAt = value
            } else if shift > 0, allowed(from: created - shift) {
                expiresAt = value + shift
            } else {
                throw .invalid(
                    "expires_at",
                    "The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session creation.",
                    code: "parameter_invalid_integer")
            }
        }

        var lines: [LineItem] = []
        // Products and prices made inline are stored only once the whole request is found valid.
        var inlineProducts: [Product] = []
        var inlinePrices: [Price] = []
        var currency: String?
        for (index, node) in lineNodes.enumerated() {
            let param = "line_items[\(index)]"
            guard node.object != nil else {
                throw .invalid(param, "Invalid object", code: "parameter_invalid_string")
            }
            let quantity = try Params.amount(node["quantity"], param: "\(param)[quantity]")
            let price: Price
            if let priceId = node["price"]?.string {
                guard let found = prices[priceId] else { throw .notFound("price", priceId, param: "\(param)[price]") }
                price = found
            } else if let data = node["price_data"] {
                let cur = try Params.currency(data["currency"], param: "\(param)[price_data][currency]")
                let amount = try Params.amount(
                    data["unit_amount"], param: "\(param)[price_data][unit_amount]", currency: cur, allowZero: true)
                let productId: String
                if let id = data["product"]?.string {
                    guard products[id] != nil else {
                        throw .notFound("product", id, param: "\(param)[price_data][product]")
                    }
                    productId = id
                } else if let name = data["product_data"]?["name"]?.string, !name.isEmpty {
                    let product = try newProduct(
                        .object(
                            [("name", .value(name))]
                                + (data["product_data"]?["description"].map { [("description", $0)] } ?? [])))
                    inlineProducts.append(product)
                    productId = product.id
                } else {
                    throw .missing("\(param)[price_data][product_data][name]")
                }
                var inline = Price(
                    id: TestEvents.randomId("price"), currency: cur, unitAmount: amount, product: .id(productId),
                    active: false, created: created)
                if let recurring = data["recurring"] {
                    inline.recurring = try Self.recurring(recurring)
                    inline.type = "recurring"
                }
                price = inline
                inlinePrices.append(price)
            } else {
                throw .missing("\(param)[price]")
            }
            if mode == "payment", price.type == "recurring" {
                throw .invalid(
                    "\(param)[price]",
                    "You specified `payment` mode but passed a recurring price. Either switch to `subscription` mode or use only one-time prices.",
                    code: "parameter_invalid_string")
            }
            if mode == "subscription" {
                guard price.type == "recurring" else {
                    throw .invalid(
                        "\(param)[price]",
                        "The emulator's `subscription` mode takes recurring prices only; \(price.id) is one-time.",
                        code: "parameter_invalid_string")
                }
                if let first = lines.first?.price,
                    first.recurring["interval"] != price.recurring["interval"]
                        || first.recurring["interval_count"] != price.recurring["interval_count"]
                {
                    throw .invalid(
                        "line_items", "All recurring prices of a subscription must have the same interval.",
                        code: "parameter_invalid_string")
                }
            }
            if let currency, currency != price.currency {
                throw .invalid(
                    "line_items", "All line items must use the same currency.", code: "parameter_invalid_string")
            }
            currency = price.currency
            let unit = price.unitAmount ?? 0
            let lineTotal = try Params.product(unit, quantity, param: "\(param)[quantity]", currency: price.currency)
            let name =
                (products[price.product.id] ?? inlineProducts.first { $0.id == price.product.id })?.name ?? "Item"
            var expandedPrice = price
            expandedPrice.product = .id(price.product.id)
            lines.append(
                LineItem(
                    id: TestEvents.randomId("li"), amountSubtotal: lineTotal, amountTotal: lineTotal,
                    currency: price.currency, description: name, quantity: quantity, price: expandedPrice))
        }
        var total = 0
        for line in lines { total = try Params.sum(total, line.amountTotal, param: "line_items", currency: currency) }
        try Params.checkMinimum(total, param: "line_items", currency: currency ?? "usd")

        var session = CheckoutSession(
            id: TestEvents.randomId("cs_test"), created: created, expiresAt: expiresAt, mode: mode,
            metadata: try Metadata.apply(p["metadata"], to: [:]))
        session.amountSubtotal = total
        session.amountTotal = total
        session.currency = currency
        session.clientReferenceId = p["client_reference_id"]?.string
        session.customerEmail = p["customer_email"]?.string
        session.successUrl = successURL
        session.cancelUrl = cancelURL
        // A new session's other fields are Stripe's defaults for its mode: one shared box for every session made
        // without a customer (the box is copied when one of them changes).
        session.others = mode == "subscription" ? SessionDefaults.subscription : SessionDefaults.payment
        if let customerId = try Params.string(p["customer"], param: "customer"), !customerId.isEmpty {
            guard customers[customerId] != nil else { throw .notFound("customer", customerId, param: "customer") }
            session.customer = .string(customerId)
            session.customerCreation = nil
        }
        let subscriptionMetadata =
            mode == "subscription" ? try Metadata.apply(p["subscription_data"]?["metadata"], to: [:]) : nil
        let intentMetadata = try Metadata.apply(p["payment_intent_data"]?["metadata"], to: [:])
        session.url = "\(checkoutBaseURL)/checkout/\(session.id)"
        for product in inlineProducts { products[product.id] = product }
        for price in inlinePrices { prices[price.id] = price }
        sessions[session.id] = session
        openSessionExpiries[session.id] = expiresAt
        sessionLines[session.id] = lines
        // Till sends its PaymentIntent the session's metadata: one dictionary then serves both, in memory.
        sessionIntentMetadata[session.id] = intentMetadata == session.metadata ? session.metadata : intentMetadata
        if let subscriptionMetadata { sessionSubscriptionMetadata[session.id] = subscriptionMetadata }
        return session
    }

    func session(_ id: String) throws(EmulatorError) -> CheckoutSession {
        expireIfDue(id)
        guard let session = sessions[id] else { throw .notFound("checkout.session", id) }
        return session
    }

    func lineItems(_ id: String) throws(EmulatorError) -> [LineItem] {
        _ = try session(id)
        return sessionLines[id] ?? []
    }

    func expireSession(_ id: String, _ request: RequestInfo?) throws(EmulatorError) -> CheckoutSession {
        // Read directly, not through `session(_:)`: that expires a due session by calling this function.
        guard var session = sessions[id] else { throw .notFound("checkout.session", id) }
        guard session.status == .open else {
            throw .unexpectedState(
                "Only Checkout Sessions with a status in [\"open\"] can be expired. This Checkout Session has a status of \(session.status?.rawValue ?? "unknown").",
                code: "checkout_session_unexpected_state")
        }
        session.status = .expired
        session.url = nil
        openSessionExpiries[id] = nil
        if let intentId = session.paymentIntent?.id, var intent = intents[intentId],
            [.requiresPaymentMethod, .requiresConfirmation, .requiresAction].contains(intent.status)
        {
            intent.status = .canceled
            intent.canceledAt = now()
            intent.cancellationReason = "abandoned"
            intents[intentId] = intent
            record("payment_intent.canceled", .paymentIntent(intent), request)
        }
        sessions[id] = session
        record("checkout.session.expired", .checkoutSession(session), request)
        return session
    }

    /// Expires a session whose `expires_at` has passed, as Stripe does on its own.
    func expireIfDue(_ id: String) {
        guard let session = sessions[id], session.status == .open, session.expiresAt <= now() else { return }
        _ = try? expireSession(id, nil)
    }

    /// Expires every open session past its `expires_at`. The sweep reads the open sessions' expiries alone (a
    /// session leaves that index when it is paid or expired), not every session the emulator has made.
    func sweepExpiredSessions() {
        let current = now()
        guard let next = openSessionExpiries.values.min(), next <= current else { return }
        for (id, expiresAt) in openSessionExpiries where expiresAt <= current { expireIfDue(id) }
    }

    /// Pays an open session as the hosted page does: a PaymentIntent for its total (with `payment_intent_data`'s
    /// metadata), confirmed with `paymentMethod`. A decline leaves the session open and throws the card error.
    ///
    /// With `authenticateOnPage` (the hosted page), a card that asks for 3D Secure leaves the session open and its
    /// intent in `requires_action`, whose `return_url` brings the customer back to `checkout/:id/authenticated`;
    /// without it (the test helper), authentication passes at once.
    func completeSession(
        _ id: String, paymentMethod: String, email: String?, _ request: RequestInfo, authenticateOnPage: Bool = false
    ) throws(EmulatorError) -> CheckoutSession {
        var session = try session(id)
        guard session.status == .open else {
            throw .unexpectedState(
                "This Checkout Session is \(session.status?.rawValue ?? "unknown") and can no longer be paid.",
                code: "checkout_session_unexpected_state")
        }
        guard let method = card(for: paymentMethod) else {
            throw EmulatorError(
                status: 402, type: "card_error", code: "incorrect_number", message: "Your card number is incorrect.",
                param: "payment_method")
        }
        if session.mode == "subscription" {
            return try completeSubscriptionSession(
                &session, method: method, paymentMethod: paymentMethod, email: email, request)
        }
        let intentId: String
        if let existing = session.paymentIntent?.id {
            intentId = existing
        } else {
            var params: [(String, FormNode)] = [
                ("amount", .value(String(session.amountTotal ?? 0))), ("currency", .value(session.currency ?? "usd")),
            ]
            if let customer = session.customer.string { params.append(("customer", .value(customer))) }
            let metadata = sessionIntentMetadata[id] ?? [:]
            if !metadata.isEmpty {
                params.append(
                    ("metadata", .object(metadata.sorted { $0.key < $1.key }.map { ($0.key, .value($0.value)) })))
            }
            intentId = try createPaymentIntent(.object(params), request).id
            session.paymentIntent = .id(intentId)
            sessions[id] = session
        }
        let customerEmail = email ?? session.customerEmail
        let pmId = paymentMethods[paymentMethod] != nil ? paymentMethod : method.id
        if authenticateOnPage { returnURLs[intentId] = "\(checkoutBaseURL)/checkout/\(id)/authenticated" }
        let intent = try confirmPaymentIntent(intentId, .object([("payment_method", .value(pmId))]), request)
        if intent.status == .requiresAction {
            if authenticateOnPage {
                pendingSessionEmails[id] = customerEmail
                return session
            }
            _ = try confirmPaymentIntent(intentId, .object([]), request)  // the test helper passes 3D Secure
        }
        return markComplete(&session, email: customerEmail, request)
    }

    /// Pays a `subscription`-mode session: the customer (made now with the email when the session named none), the
    /// card attached to it, then the subscription with its first invoice paid.
    private func completeSubscriptionSession(
        _ session: inout CheckoutSession, method: TestCard.Method, paymentMethod: String, email: String?,
        _ request: RequestInfo
    ) throws(EmulatorError) -> CheckoutSession {
        let customerEmail = email ?? session.customerEmail
        let customerId: String
        if let existing = session.customer.string {
            customerId = existing
        } else {
            customerId = try createCustomer(
                .object(customerEmail.map { [("email", FormNode.value($0))] } ?? [])
            ).id
            // Kept on the session, so that a declined card and a second try do not make a second customer.
            session.customer = .string(customerId)
            sessions[session.id] = session
        }
        let pmId: String
        if let attached = paymentMethods[paymentMethod], attached.customer == customerId {
            pmId = attached.id
        } else {
            pmId = try attachPaymentMethod(method.id, .object([("customer", .value(customerId))])).id
        }
        let (sub, invoice) = try startSubscription(
            customer: customerId, lines: sessionLines[session.id] ?? [],
            metadata: sessionSubscriptionMetadata[session.id] ?? [:], paymentMethod: pmId, request)
        session.customer = .string(customerId)
        session.subscription = .string(sub.id)
        session.invoice = .string(invoice.id)
        return markComplete(&session, email: customerEmail, request)
    }

    /// After 3D Secure on the emulator's page: completes the session when its intent succeeded; otherwise it stays
    /// open (answered as is, for the page to say so).
    func completeAuthenticatedSession(_ id: String, _ request: RequestInfo) throws(EmulatorError) -> CheckoutSession {
        var session = try session(id)
        guard session.status == .open, let intentId = session.paymentIntent?.id, intents[intentId]?.status == .succeeded
        else { return session }
        return markComplete(
            &session, email: pendingSessionEmails.removeValue(forKey: id) ?? session.customerEmail, request)
    }

    private func markComplete(_ session: inout CheckoutSession, email customerEmail: String?, _ request: RequestInfo)
        -> CheckoutSession
    {
        let id = session.id
        session.status = .complete
        openSessionExpiries[id] = nil
        session.paymentStatus = .paid
        session.url = nil
        var details = CheckoutSession.CustomerDetails(email: customerEmail, name: nil)
        var address = TestCard.emptyAddress
        if case .object(var fields) = address {
            fields["country"] = "US"
            address = .object(fields)
        }
        details.address = address
        session.customerDetails = details
        sessions[id] = session
        record("checkout.session.completed", .checkoutSession(session), request)
        return session
    }

    func sessions(_ query: ListQuery, where include: (CheckoutSession) -> Bool) throws(EmulatorError) -> (
        items: [CheckoutSession], hasMore: Bool
    ) {
        sweepExpiredSessions()
        return try sessions.page(query, where: include)
    }
}

/// Stripe's values for the fields of a new Checkout Session that Till carries whole, in one box for each mode that
/// every session made without a customer shares (the emulator keeps every session it made).
private enum SessionDefaults {
    static let payment = others(customerCreation: "if_required")
    static let subscription = others(customerCreation: "always")

    private static func others(customerCreation: JSONValue) -> Shared<CheckoutSession.Others> {
        var others = CheckoutSession.Others()
        others.totalDetails = ["amount_discount": 0, "amount_shipping": 0, "amount_tax": 0]
        others.automaticTax = ["enabled": false, "liability": nil, "provider": nil, "status": nil]
        others.customText = [
            "after_submit": nil, "shipping_address": nil, "submit": nil, "terms_of_service_acceptance": nil,
        ]
        others.invoiceCreation = [
            "enabled": false,
            "invoice_data": [
                "account_tax_ids": nil, "custom_fields": nil, "description": nil, "footer": nil, "issuer": nil,
                "metadata": [:],
                "rendering_options": nil,
            ],
        ]
        others.paymentMethodOptions = ["card": ["request_three_d_secure": "automatic"]]
        others.adaptivePricing = ["enabled": false]
        others.customerCreation = customerCreation
        return Shared(others)
    }
}
