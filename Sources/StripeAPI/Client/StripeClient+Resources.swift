/// The calls Till makes, typed.
extension StripeClient {
    private func form(_ params: some Encodable) throws(StripeError) -> FormNode {
        do { return try FormEncoder().encode(params) } catch {
            throw StripeError(kind: .api, httpStatus: 0, message: "Could not encode parameters: \(error)")
        }
    }

    private func expand(_ fields: [String]) -> FormNode? {
        fields.isEmpty ? nil : .object([("expand", .array(fields.map(FormNode.value)))])
    }

    // MARK: Checkout Sessions

    /// Creates a Checkout Session; `as: CheckoutSession.Summary.self` reads only its id, URL and expiry.
    public func createCheckoutSession<Session: Decodable>(
        _ params: CheckoutSessionCreateParams, options: RequestOptions = .init(),
        as type: Session.Type = CheckoutSession.self
    ) async throws(StripeError) -> Session {
        try await send(.post, "/v1/checkout/sessions", params: form(params), options: options)
    }

    public func retrieveCheckoutSession(_ id: String, expand fields: [String] = []) async throws(StripeError)
        -> CheckoutSession
    {
        try await send(.get, "/v1/checkout/sessions/\(id)", params: expand(fields))
    }

    public func expireCheckoutSession(_ id: String, options: RequestOptions = .init()) async throws(StripeError)
        -> CheckoutSession
    {
        try await send(.post, "/v1/checkout/sessions/\(id)/expire", options: options)
    }

    public func listCheckoutSessionLineItems(_ id: String, params: ListParams = .init()) async throws(StripeError)
        -> StripeList<LineItem>
    {
        try await send(.get, "/v1/checkout/sessions/\(id)/line_items", params: form(params))
    }

    public func listCheckoutSessions(_ params: ListParams = .init()) async throws(StripeError) -> StripeList<
        CheckoutSession
    > {
        try await send(.get, "/v1/checkout/sessions", params: form(params))
    }

    // MARK: PaymentIntents

    public func createPaymentIntent(_ params: PaymentIntentCreateParams, options: RequestOptions = .init())
        async throws(StripeError) -> PaymentIntent
    {
        try await send(.post, "/v1/payment_intents", params: form(params), options: options)
    }

    public func retrievePaymentIntent(_ id: String, expand fields: [String] = []) async throws(StripeError)
        -> PaymentIntent
    {
        try await send(.get, "/v1/payment_intents/\(id)", params: expand(fields))
    }

    public func confirmPaymentIntent(_ id: String, paymentMethod: String?, options: RequestOptions = .init())
        async throws(StripeError) -> PaymentIntent
    {
        try await send(
            .post, "/v1/payment_intents/\(id)/confirm",
            params: paymentMethod.map { .object([("payment_method", .value($0))]) }, options: options)
    }

    public func cancelPaymentIntent(_ id: String, options: RequestOptions = .init()) async throws(StripeError)
        -> PaymentIntent
    {
        try await send(.post, "/v1/payment_intents/\(id)/cancel", options: options)
    }

    public func capturePaymentIntent(_ id: String, options: RequestOptions = .init()) async throws(StripeError)
        -> PaymentIntent
    {
        try await send(.post, "/v1/payment_intents/\(id)/capture", options: options)
    }

    // MARK: Refunds, prices, products

    public func createRefund(_ params: RefundCreateParams, options: RequestOptions = .init()) async throws(StripeError)
        -> Refund
    {
        try await send(.post, "/v1/refunds", params: form(params), options: options)
    }

    /// The refunds of a PaymentIntent, newest first.
    public func listRefunds(paymentIntent: String, limit: Int = 100) async throws(StripeError) -> StripeList<Refund> {
        try await send(.get, "/v1/refunds", params: form(ListParams(limit: limit, paymentIntent: paymentIntent)))
    }

    public func retrieveRefund(_ id: String) async throws(StripeError) -> Refund {
        try await send(.get, "/v1/refunds/\(id)")
    }

    public func createPrice(_ params: PriceCreateParams, options: RequestOptions = .init()) async throws(StripeError)
        -> Price
    {
        try await send(.post, "/v1/prices", params: form(params), options: options)
    }

    public func retrievePrice(_ id: String) async throws(StripeError) -> Price {
        try await send(.get, "/v1/prices/\(id)")
    }

    public func createProduct(name: String, options: RequestOptions = .init()) async throws(StripeError) -> Product {
        try await send(.post, "/v1/products", params: .object([("name", .value(name))]), options: options)
    }

    // MARK: Webhook endpoints and events

    public func createWebhookEndpoint(_ params: WebhookEndpointCreateParams, options: RequestOptions = .init())
        async throws(StripeError) -> WebhookEndpoint
    {
        try await send(.post, "/v1/webhook_endpoints", params: form(params), options: options)
    }

    public func listWebhookEndpoints(_ params: ListParams = .init()) async throws(StripeError) -> StripeList<
        WebhookEndpoint
    > {
        try await send(.get, "/v1/webhook_endpoints", params: form(params))
    }

    public func deleteWebhookEndpoint(_ id: String) async throws(StripeError) -> DeletedObject {
        try await send(.delete, "/v1/webhook_endpoints/\(id)")
    }

    public func listEvents(_ params: ListParams = .init()) async throws(StripeError) -> StripeList<Event> {
        try await send(.get, "/v1/events", params: form(params))
    }

    public func retrieveEvent(_ id: String) async throws(StripeError) -> Event {
        try await send(.get, "/v1/events/\(id)")
    }

    // MARK: Billing

    public func createCustomer(_ params: CustomerCreateParams, options: RequestOptions = .init())
        async throws(StripeError) -> Customer
    {
        try await send(.post, "/v1/customers", params: form(params), options: options)
    }

    public func retrieveSubscription(_ id: String) async throws(StripeError) -> Subscription {
        try await send(.get, "/v1/subscriptions/\(id)")
    }

    /// Sets or clears `cancel_at_period_end`.
    public func updateSubscription(_ id: String, cancelAtPeriodEnd: Bool, options: RequestOptions = .init())
        async throws(StripeError) -> Subscription
    {
        try await send(
            .post, "/v1/subscriptions/\(id)",
            params: .object([("cancel_at_period_end", .value(cancelAtPeriodEnd ? "true" : "false"))]),
            options: options)
    }

    /// Cancels now (`DELETE /v1/subscriptions/:id`).
    public func cancelSubscription(_ id: String) async throws(StripeError) -> Subscription {
        try await send(.delete, "/v1/subscriptions/\(id)")
    }

    public func listInvoices(_ params: ListParams) async throws(StripeError) -> StripeList<Invoice> {
        try await send(.get, "/v1/invoices", params: form(params))
    }

    public func listInvoicePayments(invoice: String) async throws(StripeError) -> StripeList<InvoicePayment> {
        try await send(.get, "/v1/invoice_payments", params: form(ListParams(invoice: invoice)))
    }

    public func createBillingPortalSession(
        _ params: BillingPortalSessionCreateParams, options: RequestOptions = .init()
    )
        async throws(StripeError) -> BillingPortalSession
    {
        try await send(.post, "/v1/billing_portal/sessions", params: form(params), options: options)
    }
}
