import StripeAPI

/// `expand[]`, as Stripe does it: a dotted path names a field holding an id, which is replaced by its object; on a list
/// the path starts with `data.`. Only the fields Stripe lets you expand can be; anything else is Stripe's error.
extension EmulatorState {
    /// Fields that hold an expandable id, by the `object` of the object holding them.
    static let expandable: [String: Set<String>] = [
        "payment_intent": ["latest_charge", "customer", "payment_method"],
        "charge": ["balance_transaction", "customer", "payment_intent", "payment_method"],
        "refund": ["balance_transaction", "charge", "payment_intent"],
        "checkout.session": ["payment_intent", "customer", "line_items", "subscription", "invoice"],
        "subscription": ["customer", "default_payment_method", "latest_invoice", "test_clock"],
        "invoice": ["customer", "test_clock"],
        "invoice_payment": ["invoice", "payment.payment_intent"],
        "billing_portal.session": ["customer"],
        "price": ["product"],
        "item": ["price"],
        "customer": ["invoice_settings.default_payment_method"],
        "payment_method": ["customer"],
        "balance_transaction": ["source"],
        "event": [],
    ]

    /// Stripe expands at most four levels deep.
    static let maxExpansionDepth = 4

    func expand(_ value: JSONValue, _ paths: [String]) throws(EmulatorError) -> JSONValue {
        var value = value
        for (index, path) in paths.enumerated() {
            let parts = path.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard !path.isEmpty, parts.count <= Self.maxExpansionDepth, !parts.contains("") else {
                throw Self.cannotExpand(path, index: index)
            }
            value = try expand(value, parts[...], full: path, index: index)
        }
        return value
    }

    private static func cannotExpand(_ path: String, index: Int) -> EmulatorError {
        EmulatorError(
            status: 400, type: "invalid_request_error", code: "parameter_invalid_string",
            message: "This property cannot be expanded (\(String(path.prefix(200)))).", param: "expand[\(index)]")
    }

    private func expand(_ value: JSONValue, _ parts: ArraySlice<String>, full: String, index: Int) throws(EmulatorError)
        -> JSONValue
    {
        guard let head = parts.first, case .object(var fields) = value else { return value }
        let objectType = fields["object"]?.string ?? ""
        if objectType == "list" {
            guard head == "data", case .array(let items)? = fields["data"] else {
                throw Self.cannotExpand(full, index: index)
            }
            var expanded: [JSONValue] = []
            for item in items { expanded.append(try expand(item, parts.dropFirst(), full: full, index: index)) }
            fields["data"] = .array(expanded)
            return .object(fields)
        }
        // `invoice_settings.default_payment_method` is one field of a customer, two keys deep.
        if parts.count >= 2, Self.expandable[objectType]?.contains("\(head).\(parts[parts.startIndex + 1])") == true,
            case .object(var inner)? = fields[head]
        {
            let key = parts[parts.startIndex + 1]
            inner[key] = try expandField(inner[key] ?? nil, parts.dropFirst(2), full: full, index: index)
            fields[head] = .object(inner)
            return .object(fields)
        }
        guard Self.expandable[objectType]?.contains(head) == true else { throw Self.cannotExpand(full, index: index) }
        if objectType == "checkout.session", head == "line_items", let id = fields["id"]?.string {
            // Not an id field: expanding it gives the first page of the session's lines, as listing them does.
            let page = try ListQuery().page(of: sessionLines[id] ?? [], id: \.id)
            let lines = JSONValue.from(
                StripeList(data: page.items, hasMore: page.hasMore, url: "/v1/checkout/sessions/\(id)/line_items"))
            fields[head] = try expand(lines, parts.dropFirst(), full: full, index: index)
            return .object(fields)
        }
        fields[head] = try expandField(fields[head] ?? nil, parts.dropFirst(), full: full, index: index)
        return .object(fields)
    }

    private func expandField(_ field: JSONValue, _ rest: ArraySlice<String>, full: String, index: Int)
        throws(EmulatorError) -> JSONValue
    {
        var object = field
        if case .string(let id) = field { object = lookup(id) ?? field }
        return rest.isEmpty ? object : try expand(object, rest, full: full, index: index)
    }

    /// Any object the emulator holds, by id.
    func lookup(_ id: String) -> JSONValue? {
        if let o = charges[id] { return .from(o) }
        if let o = intents[id] { return .from(o) }
        if let o = customers[id] { return .from(o) }
        if let o = balanceTransactions[id] { return .from(o) }
        if let o = refunds[id] { return .from(o) }
        if let o = products[id] { return .from(o) }
        if let o = prices[id] { return .from(o) }
        if let o = sessions[id] { return .from(o) }
        if let o = subscriptions[id] { return .from(o) }
        if let o = invoices[id] { return .from(o) }
        if let o = testClocks[id] { return .from(o) }
        if let o = try? paymentMethod(id) { return .from(o) }
        return nil
    }
}
