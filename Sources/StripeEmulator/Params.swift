import StripeAPI
import TillCore

/// Reading Stripe's parameters with Stripe's checks and errors. Every number a request sends goes through here, so
/// no request can make arithmetic overflow (Swift traps on overflow).
enum Params {
    /// Stripe's largest amount for one charge: eight digits of the minor unit (twelve for IDR).
    static let defaultMaximumAmount = 99_999_999

    /// An integer parameter: `parameter_missing` when absent, `parameter_invalid_integer` when it is not a plain
    /// integer (`1.5`, `1e3`, `NaN`, a nested object, more digits than fit in 64 bits).
    static func integer(_ node: FormNode?, param: String) throws(EmulatorError) -> Int {
        guard let node else { throw .missing(param) }
        guard let text = node.string else {
            throw .invalid(param, "Invalid integer: \(describe(node))", code: "parameter_invalid_integer")
        }
        guard !text.isEmpty else { throw .missing(param) }
        guard let value = Int(text) else {
            throw .invalid(param, "Invalid integer: \(String(text.prefix(40)))", code: "parameter_invalid_integer")
        }
        return value
    }

    /// An amount in the minor unit of `currency`: a positive integer (or zero when `allowZero`) no larger than
    /// Stripe's maximum for the currency (`amount_too_large`).
    static func amount(_ node: FormNode?, param: String, currency: String? = nil, allowZero: Bool = false)
        throws(EmulatorError) -> Int
    {
        let value = try integer(node, param: param)
        guard value > 0 || (allowZero && value == 0) else {
            throw .invalid(
                param, "Invalid \(allowZero ? "non-negative" : "positive") integer", code: "parameter_invalid_integer")
        }
        try checkMaximum(value, param: param, currency: currency)
        return value
    }

    /// An amount to charge: as `amount`, and at least Stripe's minimum charge for the currency (`amount_too_small`).
    static func chargeAmount(_ node: FormNode?, param: String, currency: String) throws(EmulatorError) -> Int {
        let value = try amount(node, param: param, currency: currency)
        try checkMinimum(value, param: param, currency: currency)
        return value
    }

    /// `amount_too_small` when `value` is under Stripe's minimum charge for `currency` (TillCore's table).
    static func checkMinimum(_ value: Int, param: String, currency: String) throws(EmulatorError) {
        let minimum = Currency(currency)?.minimumChargeAmount ?? 1
        guard value >= minimum else {
            throw .invalid(
                param, "Amount must be at least \(StripeEmulator.format(minimum, currency))", code: "amount_too_small")
        }
    }

    /// `amount_too_large` when `value` is over Stripe's maximum for `currency`.
    static func checkMaximum(_ value: Int, param: String, currency: String?) throws(EmulatorError) {
        let maximum = maximumAmount(currency)
        guard value <= maximum else {
            throw .invalid(
                param, "Amount must be no more than \(StripeEmulator.format(maximum, currency ?? "usd"))",
                code: "amount_too_large")
        }
    }

    static func maximumAmount(_ currency: String?) -> Int {
        currency.flatMap { Currency($0) }?.maximumAmount ?? defaultMaximumAmount
    }

    /// `a * b` as an amount: `amount_too_large` when the product overflows or passes Stripe's maximum.
    static func product(_ a: Int, _ b: Int, param: String, currency: String?) throws(EmulatorError) -> Int {
        let (value, overflow) = a.multipliedReportingOverflow(by: b)
        guard !overflow else {
            try checkMaximum(.max, param: param, currency: currency)
            return .max
        }
        try checkMaximum(value, param: param, currency: currency)
        return value
    }

    /// `a + b` as an amount: `amount_too_large` when the sum overflows or passes Stripe's maximum.
    static func sum(_ a: Int, _ b: Int, param: String, currency: String?) throws(EmulatorError) -> Int {
        let (value, overflow) = a.addingReportingOverflow(b)
        guard !overflow else {
            try checkMaximum(.max, param: param, currency: currency)
            return .max
        }
        try checkMaximum(value, param: param, currency: currency)
        return value
    }

    /// A three-letter currency Stripe supports, lowercased.
    static func currency(_ node: FormNode?, param: String = "currency") throws(EmulatorError) -> String {
        guard let node else { throw .missing(param) }
        guard let text = node.string else {
            throw .invalid(param, "Invalid currency: \(describe(node))", code: "parameter_invalid_string")
        }
        guard !text.isEmpty else { throw .missing(param) }
        guard let currency = Currency(text) else {
            throw .invalid(
                param,
                "Invalid currency: \(String(text.prefix(20)).lowercased()). Stripe currently supports these currencies: see https://stripe.com/docs/currencies",
                code: "parameter_invalid_string")
        }
        return currency.code
    }

    /// A string parameter, if given; `parameter_invalid_string` when the key holds an object or a list.
    static func string(_ node: FormNode?, param: String) throws(EmulatorError) -> String? {
        guard let node else { return nil }
        guard let text = node.string else {
            throw .invalid(param, "Invalid string: \(describe(node))", code: "parameter_invalid_string")
        }
        return text
    }

    /// Stripe's longest string parameter (descriptions, names, URLs): the emulator keeps what it is sent in memory.
    static let maximumStringLength = 5000

    /// The first parameter whose value is longer than Stripe takes, if any (the form's nesting is bounded).
    static func overlong(_ node: FormNode, path: String = "") -> String? {
        switch node {
        case .value(let text):
            // Code points, not characters: one character can carry any number of combining marks.
            return text.utf8.count > maximumStringLength && text.unicodeScalars.count > maximumStringLength
                ? path : nil
        case .object(let pairs):
            for (key, value) in pairs {
                if let found = overlong(value, path: path.isEmpty ? key : "\(path)[\(key)]") { return found }
            }
            return nil
        case .array(let items):
            for (index, value) in items.enumerated() {
                if let found = overlong(value, path: "\(path)[\(index)]") { return found }
            }
            return nil
        }
    }

    /// A parameter that takes one of a few words, if given (`parameter_invalid_string` for another).
    static func oneOf(_ node: FormNode?, _ allowed: [String], param: String) throws(EmulatorError) -> String? {
        guard let value = try string(node, param: param) else { return nil }
        guard allowed.contains(value) else {
            throw .invalid(
                param, "Invalid \(param): must be one of \(allowed.joined(separator: ", "))",
                code: "parameter_invalid_string")
        }
        return value
    }

    /// A boolean parameter, if given: `true` or `false`, else `parameter_invalid_boolean`.
    static func bool(_ node: FormNode?, param: String) throws(EmulatorError) -> Bool? {
        guard let node else { return nil }
        guard let value = node.bool else {
            throw .invalid(
                param, "Invalid boolean: \(String((node.string ?? "an object").prefix(40)))",
                code: "parameter_invalid_boolean")
        }
        return value
    }

    /// An absolute `http` or `https` URL with a host (Stripe's `url_invalid` otherwise): the emulator puts these in
    /// links and redirects, so `javascript:` and other schemes never get there.
    static func httpURL(_ node: FormNode?, param: String, required: Bool) throws(EmulatorError) -> String? {
        guard let text = try string(node, param: param), !text.isEmpty else {
            if required { throw .missing(param) }
            return nil
        }
        guard isHTTPURL(text) else { throw .invalid(param, "Not a valid URL", code: "url_invalid") }
        return text
    }

    static func isHTTPURL(_ text: String) -> Bool {
        guard text.utf8.count <= 5000,
            !text.unicodeScalars.contains(where: {
                $0.value <= 0x20 || $0.value == 0x7F || "\"<>\\^`|".unicodeScalars.contains($0)
            })
        else { return false }
        let lower = text.lowercased()
        let rest: Substring
        if lower.hasPrefix("https://") {
            rest = text.dropFirst(8)
        } else if lower.hasPrefix("http://") {
            rest = text.dropFirst(7)
        } else {
            return false
        }
        let authority = rest.prefix { !"/?#".contains($0) }
        let host = authority.split(separator: "@", omittingEmptySubsequences: false).last ?? ""
        let hostOnly =
            host.hasPrefix("[") ? host : host.split(separator: ":", omittingEmptySubsequences: false).first ?? ""
        return !hostOnly.isEmpty
    }

    /// `scheme://host[:port]` of a URL that passed `isHTTPURL`.
    static func origin(_ url: String) -> String? {
        guard isHTTPURL(url), let marker = url.range(of: "://") else { return nil }
        let authority = url[marker.upperBound...].prefix { !"/?#".contains($0) }
        let hostPort = authority.split(separator: "@", omittingEmptySubsequences: false).last ?? ""
        return url[..<marker.upperBound].lowercased() + hostPort.lowercased()
    }

    static func limit(_ node: FormNode?) throws(EmulatorError) -> Int {
        guard let node else { return 10 }
        guard let text = node.string, let value = Int(text), (1...100).contains(value) else {
            throw .invalid("limit", "This value must be between 1 and 100.", code: "parameter_invalid_integer")
        }
        return value
    }

    private static func describe(_ node: FormNode) -> String {
        switch node {
        case .value(let v): String(v.prefix(40))
        case .object: "an object"
        case .array: "a list"
        }
    }
}
