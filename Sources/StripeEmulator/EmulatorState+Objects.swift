import Foundation
import StripeAPI

/// Customers, payment methods and balance transactions, and the details Stripe puts on charges and refunds.
extension EmulatorState {
    // MARK: Fees and balance transactions

    /// Stripe's fee for a card charge as the emulator assumes it: 2.9% of the amount, rounded half up, plus 30 of the
    /// currency's minor unit (Stripe's standard US card pricing), never more than the amount. Integer arithmetic.
    static func fee(for amount: Int) -> Int {
        let (scaled, overflow) = amount.multipliedReportingOverflow(by: 29)
        guard !overflow, amount > 0 else { return 0 }
        return min((scaled + 500) / 1000 + 30, amount)
    }

    /// The balance transaction of a captured charge (`amount` captured) or of a refund (`-amount`, no fee).
    func balanceTransaction(amount: Int, currency: String, source: String, type: String, description: String?)
        -> BalanceTransaction
    {
        let created = now()
        let fee = type == "charge" ? Self.fee(for: amount) : 0
        let txn = BalanceTransaction(
            id: TestEvents.randomId("txn"), amount: amount, currency: currency, fee: fee, source: source, type: type,
            description: description, reportingCategory: type, created: created, availableOn: created + 2 * 24 * 3600,
            status: "pending")
        balanceTransactions[txn.id] = txn
        return txn
    }

    func balanceTransaction(_ id: String) throws(EmulatorError) -> BalanceTransaction {
        guard let txn = balanceTransactions[id] else { throw .notFound("balance_transaction", id) }
        return txn
    }

    // MARK: Charges

    /// A charge with Stripe's details of the card, the outcome and the receipt.
    func makeCharge(_ intent: PaymentIntent, method: TestCard.Method, status: String, threeDSecure: Bool) -> Charge {
        var charge = Charge(
            id: TestEvents.randomId("ch"), amount: intent.amount, currency: intent.currency, paymentIntent: intent.id,
            status: status, created: now(), metadata: intent.metadata)
        charge.paymentMethod = intent.paymentMethod ?? method.id
        charge.billingDetails = TestCard.billingDetails(email: intent.receiptEmail)
        charge.paymentMethodDetails = TestCard.paymentMethodDetails(
            method, amount: intent.amount, threeDSecure: threeDSecure)
        charge.outcome = TestCard.outcome(status == "failed" ? method.outcome : .succeed)
        charge.receiptUrl = .string("\(checkoutBaseURL)/receipts/\(charge.id)")
        charge.receiptEmail = intent.receiptEmail.map(JSONValue.string) ?? nil
        charge.description = intent.description.map(JSONValue.string) ?? nil
        charge.customer = intent.customer
        charge.calculatedStatementDescriptor = "STRIPE EMULATOR"
        charge.refunds = refundList(chargeId: charge.id)
        return charge
    }

    /// Books the captured amount of `charge` to the balance.
    func settle(_ charge: inout Charge) {
        guard charge.captured, charge.amountCaptured > 0 else { return }
        let txn = balanceTransaction(
            amount: charge.amountCaptured, currency: charge.currency, source: charge.id, type: "charge",
            description: charge.description.string)
        charge.balanceTransaction = .string(txn.id)
    }

    func refundList(chargeId: String) -> JSONValue {
        // The first page, newest first, as `GET` of its `url` gives it.
        let page = try? refunds.page(ListQuery()) { $0.charge == chargeId }
        return .from(
            StripeList(data: page?.items ?? [], hasMore: page?.hasMore ?? false, url: "/v1/charges/\(chargeId)/refunds")
        )
    }

    // MARK: Customers

    func createCustomer(_ p: FormNode, _ request: RequestInfo? = nil) throws(EmulatorError) -> Customer {
        var clock: String?
        if let id = try Params.string(p["test_clock"], param: "test_clock"), !id.isEmpty {
            guard testClocks[id] != nil else { throw .notFound("test_clock", id, param: "test_clock") }
            clock = id
        }
        var customer = Customer(
            id: TestEvents.randomId("cus"), email: try Params.string(p["email"], param: "email"),
            name: try Params.string(p["name"], param: "name"),
            description: try Params.string(p["description"], param: "description"),
            metadata: try Metadata.apply(p["metadata"], to: [:]), created: time(clock: clock))
        customer.testClock = clock.map(JSONValue.string) ?? nil
        customer.invoicePrefix = .string(String(TestEvents.randomToken(8).uppercased().prefix(8)))
        customer.phone = try Params.string(p["phone"], param: "phone").map(JSONValue.string) ?? nil
        customers[customer.id] = customer
        if let pm = try Params.string(p["payment_method"], param: "payment_method") {
            _ = try attachPaymentMethod(pm, .object([("customer", .value(customer.id))]), request)
        }
        try applyInvoiceSettings(&customer, p)
        customers[customer.id] = customer
        record(
            "customer.created", .other(type: "customer", id: customer.id), request, raw: .from(customer),
            at: customer.created)
        return customer
    }

    func customer(_ id: String) throws(EmulatorError) -> Customer {
        guard let customer = customers[id] else { throw .notFound("customer", id) }
        return customer
    }

    func updateCustomer(_ id: String, _ p: FormNode, _ request: RequestInfo? = nil) throws(EmulatorError) -> Customer {
        var customer = try customer(id)
        if let email = try Params.string(p["email"], param: "email") { customer.email = email.isEmpty ? nil : email }
        if let name = try Params.string(p["name"], param: "name") { customer.name = name.isEmpty ? nil : name }
        if let text = try Params.string(p["description"], param: "description") {
            customer.description = text.isEmpty ? nil : text
        }
        if p["metadata"] != nil { customer.metadata = try Metadata.apply(p["metadata"], to: customer.metadata) }
        try applyInvoiceSettings(&customer, p)
        customers[id] = customer
        record(
            "customer.updated", .other(type: "customer", id: customer.id), request, raw: .from(customer),
            at: time(clock: customer.testClock.string))
        return customer
    }

    private func applyInvoiceSettings(_ customer: inout Customer, _ p: FormNode) throws(EmulatorError) {
        guard let node = p["invoice_settings"]?["default_payment_method"] else { return }
        let param = "invoice_settings[default_payment_method]"
        guard let pm = try Params.string(node, param: param), !pm.isEmpty else {
            customer.invoiceSettings.defaultPaymentMethod = nil
            return
        }
        guard let method = paymentMethods[pm], method.customer == customer.id else {
            throw EmulatorError(
                status: 400, type: "invalid_request_error", code: "resource_missing",
                message: "No such PaymentMethod: '\(pm)'; it must be attached to customer \(customer.id) first.",
                param: param)
        }
        customer.invoiceSettings.defaultPaymentMethod = method.id
    }

    func customers(_ query: ListQuery, email: String?) throws(EmulatorError) -> (
        items: [Customer], hasMore: Bool
    ) {
        try customers.page(query) { email == nil || $0.email == email }
    }

    // MARK: Payment methods

    /// A payment method by id: one made by `attach`, or a `pm_card_*` test method (never attached).
    func paymentMethod(_ id: String) throws(EmulatorError) -> PaymentMethod {
        if let method = paymentMethods[id] { return method }
        guard let card = TestCard.methods[id] else { throw .notFound("PaymentMethod", id, param: "payment_method") }
        return Self.paymentMethodObject(id: id, card: card, created: now())
    }

    static func paymentMethodObject(id: String, card: TestCard.Method, created: Int) -> PaymentMethod {
        var method = PaymentMethod(id: id, created: created)
        method.card = TestCard.card(card)
        method.billingDetails = TestCard.billingDetails(email: nil)
        return method
    }

    /// The test card behind a payment method id (`pm_card_*`, a card number, or a `pm_...` made by `attach`).
    func card(for id: String) -> TestCard.Method? {
        if let method = TestCard.method(id) { return method }
        return paymentMethodCards[id].flatMap { TestCard.methods[$0] }
    }

    /// Attaches to a customer. A `pm_card_*` shortcut makes a new `pm_...` each time, as at Stripe.
    func attachPaymentMethod(_ id: String, _ p: FormNode, _ request: RequestInfo? = nil)
        throws(EmulatorError) -> PaymentMethod
    {
        guard let customerId = try Params.string(p["customer"], param: "customer"), !customerId.isEmpty else {
            throw .missing("customer")
        }
        guard customers[customerId] != nil else { throw .notFound("customer", customerId, param: "customer") }
        var method: PaymentMethod
        if var existing = paymentMethods[id] {
            if let owner = existing.customer, owner != customerId {
                throw EmulatorError(
                    status: 400, type: "invalid_request_error", code: "payment_method_unexpected_state",
                    message: "The payment method you provided has already been attached to a customer.")
            }
            existing.customer = customerId
            method = existing
        } else {
            guard let card = TestCard.methods[id] else { throw .notFound("PaymentMethod", id) }
            method = Self.paymentMethodObject(id: TestEvents.randomId("pm"), card: card, created: now())
            method.customer = customerId
            paymentMethodCards[method.id] = card.id
        }
        paymentMethods[method.id] = method
        record("payment_method.attached", .other(type: "payment_method", id: method.id), request, raw: .from(method))
        return method
    }
}
