import Foundation
import StripeAPI

extension StripeFacts.EventFields {
    /// Reads the fields settlement needs straight from the event's bytes, in one pass that skips everything else.
    /// It accepts and refuses what `JSONDecoder` does for these fields (a missing `id`, `type` or `data.object`, or a
    /// field of the wrong type, is an error; unknown fields are skipped, but must be well-formed JSON, where it is
    /// stricter than JSONDecoder, which lets a trailing comma through), at a fraction of the cost: JSONDecoder's keyed
    /// containers were 7% of the CPU of the webhook benchmark. A string it reads may not hold a NUL (`\u0000`), which
    /// PostgreSQL cannot store: such an event is kept unread, for the processor to record as failed.
    static func decode(_ json: Data) throws -> Self {
        try json.withUnsafeBytes { bytes in
            var reader = JSONFieldReader(bytes)
            let event = try reader.event()
            try reader.end()
            return event
        }
    }
}

/// A forward-only reader of JSON bytes that materialises only the values it is asked for.
struct JSONFieldReader {
    struct Malformed: Error, CustomStringConvertible {
        let at: Int
        var description: String { "malformed or unexpected JSON at byte \(at)" }
    }

    private let bytes: UnsafeRawBufferPointer
    private var index = 0
    private var depth = 0
    static let maxDepth = 512

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    /// Nothing but white space is left.
    mutating func end() throws {
        skipSpace()
        guard index == bytes.count else { throw fail() }
    }

    private func fail() -> Malformed { Malformed(at: index) }

    private var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func skipSpace() {
        while index < bytes.count,
            bytes[index] == 0x20 || bytes[index] == 0x0A || bytes[index] == 0x0D || bytes[index] == 0x09
        {
            index += 1
        }
    }

    private mutating func consume(_ byte: UInt8) throws {
        skipSpace()
        guard peek == byte else { throw fail() }
        index += 1
    }

    private mutating func literal(_ word: StaticString) throws {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw fail() }
        for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] { throw fail() }
        index += count
    }

    /// `null` (consumed) or not.
    private mutating func null() throws -> Bool {
        skipSpace()
        guard peek == UInt8(ascii: "n") else { return false }
        try literal("null")
        return true
    }

    /// An object's key, matched against the names the reader looks for (`case "id":`) without making a `String`:
    /// an event has about a hundred keys, and making each a `String` and comparing it with every name of a `switch`
    /// was a quarter of the reader's time. A key with escapes is decoded, so `"\u0069d"` is `id`, as for JSONDecoder.
    struct Key {
        fileprivate enum Storage {
            case raw(UnsafeRawBufferPointer)
            case decoded(String)
        }
        fileprivate let storage: Storage

        var string: String {
            switch storage {
            case .raw(let bytes): String(decoding: bytes, as: UTF8.self)
            case .decoded(let string): string
            }
        }

        @inline(__always)
        static func ~= (name: StaticString, key: Key) -> Bool {
            let count = name.utf8CodeUnitCount
            switch key.storage {
            case .raw(let bytes):
                return bytes.count == count && (count == 0 || memcmp(bytes.baseAddress!, name.utf8Start, count) == 0)
            case .decoded(let string):
                return string.utf8.elementsEqual(UnsafeBufferPointer(start: name.utf8Start, count: count))
            }
        }
    }

    /// Calls `field` with each key of an object; `field` reads or skips the value.
    mutating func object(_ field: (inout JSONFieldReader, Key) throws -> Void) throws {
        try consume(UInt8(ascii: "{"))
        try elements(until: UInt8(ascii: "}")) { reader in
            let key = try reader.key()
            try reader.consume(UInt8(ascii: ":"))
            try field(&reader, key)
        }
    }

    /// A key: its bytes as they are when it has no escape (the common case), else decoded.
    private mutating func key() throws -> Key {
        skipSpace()
        let start = index + 1
        if try skipString() {
            index = start - 1
            return Key(storage: .decoded(try string()))
        }
        return Key(storage: .raw(UnsafeRawBufferPointer(rebasing: bytes[start..<index - 1])))
    }

    /// The comma-separated elements of an object or array whose opening byte is read, through `close`.
    private mutating func elements(until close: UInt8, _ element: (inout JSONFieldReader) throws -> Void) throws {
        depth += 1
        guard depth <= Self.maxDepth else { throw fail() }
        skipSpace()
        if peek == close {
            index += 1
        } else {
            while true {
                try element(&self)
                skipSpace()
                guard let next = peek else { throw fail() }
                index += 1
                if next == close { break }
                guard next == UInt8(ascii: ",") else { throw fail() }
            }
        }
        depth -= 1
    }

    mutating func string() throws -> String {
        try consume(UInt8(ascii: "\""))
        let start = index
        // The common case, no escapes: one copy into the String.
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                defer { index += 1 }
                return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
            }
            if byte == UInt8(ascii: "\\") { break }
            guard byte >= 0x20 else { throw fail() }
            index += 1
        }
        var utf8 = Array(bytes[start..<index])
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                return String(decoding: utf8, as: UTF8.self)
            case UInt8(ascii: "\\"):
                let scalar = try escape()
                guard scalar != "\0" else { throw fail() }
                Unicode.UTF8.encode(scalar) { utf8.append($0) }
            default:
                guard byte >= 0x20 else { throw fail() }
                utf8.append(byte)
            }
        }
        throw fail()
    }

    /// A string, checked as `string()` checks it (control bytes, escapes) but not copied: most of an event is keys
    /// and values nobody reads. Returns whether it had an escape.
    @discardableResult
    private mutating func skipString() throws -> Bool {
        try consume(UInt8(ascii: "\""))
        var escaped = false
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                return escaped
            case UInt8(ascii: "\\"):
                escaped = true
                _ = try escape()
            default:
                guard byte >= 0x20 else { throw fail() }
            }
        }
        throw fail()
    }

    /// The character of an escape whose backslash is read: one of JSON's short escapes, or `\u` with four hex
    /// digits (a high surrogate must be followed by an escaped low one).
    private mutating func escape() throws -> Unicode.Scalar {
        guard let escaped = peek else { throw fail() }
        index += 1
        switch escaped {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): return Unicode.Scalar(escaped)
        case UInt8(ascii: "b"): return "\u{08}"
        case UInt8(ascii: "f"): return "\u{0C}"
        case UInt8(ascii: "n"): return "\n"
        case UInt8(ascii: "r"): return "\r"
        case UInt8(ascii: "t"): return "\t"
        case UInt8(ascii: "u"):
            var scalar = try hex4()
            if (0xD800..<0xDC00).contains(scalar) {
                try literal("\\u")
                let low = try hex4()
                guard (0xDC00..<0xE000).contains(low) else { throw fail() }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            }
            guard let unicode = Unicode.Scalar(scalar) else { throw fail() }
            return unicode
        default: throw fail()
        }
    }

    private mutating func hex4() throws -> UInt32 {
        guard index + 4 <= bytes.count else { throw fail() }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw fail()
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    mutating func optionalString() throws -> String? {
        try null() ? nil : string()
    }

    mutating func optionalBool() throws -> Bool? {
        if try null() { return nil }
        skipSpace()
        if peek == UInt8(ascii: "t") {
            try literal("true")
            return true
        }
        try literal("false")
        return false
    }

    /// Calls `element` with each element of an array; `element` reads or skips it.
    mutating func array(_ element: (inout JSONFieldReader) throws -> Void) throws {
        try consume(UInt8(ascii: "["))
        try elements(until: UInt8(ascii: "]"), element)
    }

    /// An integer, or nil for `null`. A fraction or exponent is refused, as JSONDecoder refuses it for an `Int`
    /// unless it is whole; Stripe's amounts are integers.
    mutating func optionalInt() throws -> Int? {
        if try null() { return nil }
        skipSpace()
        let negative = peek == UInt8(ascii: "-")
        if negative { index += 1 }
        let start = index
        var value = 0
        while let byte = peek, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
            let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { throw fail() }
            value = sum
            index += 1
        }
        guard index > start, !(bytes[start] == UInt8(ascii: "0") && index - start > 1) else { throw fail() }
        if let next = peek, next == UInt8(ascii: ".") || next == UInt8(ascii: "e") || next == UInt8(ascii: "E") {
            throw fail()
        }
        return negative ? -value : value
    }

    /// Any value, checked for form and thrown away.
    mutating func skip() throws {
        skipSpace()
        guard let byte = peek else { throw fail() }
        switch byte {
        case UInt8(ascii: "{"):
            index += 1
            try elements(until: UInt8(ascii: "}")) { reader in
                try reader.skipString()
                try reader.consume(UInt8(ascii: ":"))
                try reader.skip()
            }
        case UInt8(ascii: "["):
            index += 1
            try elements(until: UInt8(ascii: "]")) { try $0.skip() }
        case UInt8(ascii: "\""):
            try skipString()
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        default:
            try number()
        }
    }

    /// A number of any form (`-? int frac? exp?`), skipped.
    private mutating func number() throws {
        func digits() throws {
            let start = index
            while let byte = peek, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") { index += 1 }
            guard index > start else { throw fail() }
        }
        if peek == UInt8(ascii: "-") { index += 1 }
        try digits()
        if peek == UInt8(ascii: ".") {
            index += 1
            try digits()
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            index += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { index += 1 }
            try digits()
        }
    }
}

extension JSONFieldReader {
    typealias Fields = StripeFacts.EventFields

    mutating func event() throws -> Fields {
        var id: String?
        var object: String?
        var type: String?
        var created: Int?
        var data: Fields.Object?
        try self.object { reader, key in
            switch key {
            case "id": id = try reader.string()
            case "object": object = try reader.optionalString()
            case "created": created = try reader.optionalInt()
            case "type": type = try reader.string()
            case "data":
                var inner: Fields.Object?
                try reader.object { reader, key in
                    if "object" ~= key { inner = try reader.eventObject() } else { try reader.skip() }
                }
                guard let inner else { throw reader.fail() }
                data = inner
            default: try reader.skip()
            }
        }
        guard let id, let type, let data else { throw fail() }
        return Fields(
            id: id, object: object, type: Event.EventType(rawValue: type), created: created, data: .init(object: data))
    }

    /// An expandable reference: `null`, an id, or an object whose `id` is read.
    private mutating func reference() throws -> Expandable<Fields.Reference>? {
        if try null() { return nil }
        if peek == UInt8(ascii: "\"") { return .id(try string()) }
        var id: String?
        try object { reader, key in
            if "id" ~= key { id = try reader.string() } else { try reader.skip() }
        }
        guard let id else { throw fail() }
        return .object(.init(id: id))
    }

    /// A `{"key": "value"}` object, or `null`.
    private mutating func metadata() throws -> [String: String]? {
        if try null() { return nil }
        var values: [String: String] = [:]
        try object { reader, key in values[key.string] = try reader.string() }
        return values
    }

    /// Reads an object of which only the value of `name` matters, with `read`, unless that value is missing or
    /// `null`; every other key is skipped.
    private mutating func only(_ name: StaticString, _ read: (inout JSONFieldReader) throws -> Void) throws {
        try object { reader, key in
            guard name ~= key else { return try reader.skip() }
            if try reader.null() { return }
            try read(&reader)
        }
    }

    /// A Stripe list (`{"data": [...], ...}`) or `null` (nil); `data` (nil when missing or `null`) has each element
    /// read by `element`.
    private mutating func list<Element>(_ element: (inout JSONFieldReader) throws -> Element) throws -> [Element]?? {
        if try null() { return nil }
        var data: [Element]?
        try only("data") { reader in
            var elements: [Element] = []
            try reader.array { reader in elements.append(try element(&reader)) }
            data = elements
        }
        return .some(data)
    }

    private mutating func items() throws -> Fields.Items? {
        try list { reader -> Fields.Item in
            var start: Int?
            var end: Int?
            try reader.object { reader, key in
                switch key {
                case "current_period_start": start = try reader.optionalInt()
                case "current_period_end": end = try reader.optionalInt()
                default: try reader.skip()
                }
            }
            return .init(currentPeriodStart: start, currentPeriodEnd: end)
        }.map { Fields.Items(data: $0) }
    }

    private mutating func lines() throws -> Fields.Lines? {
        try list { reader -> Fields.Line in
            var period: Fields.Period?
            try reader.only("period") { reader in
                var start: Int?
                var end: Int?
                try reader.object { reader, key in
                    switch key {
                    case "start": start = try reader.optionalInt()
                    case "end": end = try reader.optionalInt()
                    default: try reader.skip()
                    }
                }
                period = .init(start: start, end: end)
            }
            return .init(period: period)
        }.map { Fields.Lines(data: $0) }
    }

    private mutating func parent() throws -> Fields.Parent? {
        if try null() { return nil }
        var details: Fields.SubscriptionDetails?
        try only("subscription_details") { reader in details = try reader.subscriptionDetails() }
        return .init(subscriptionDetails: details)
    }

    private mutating func subscriptionDetails() throws -> Fields.SubscriptionDetails? {
        if try null() { return nil }
        var subscription: Expandable<Fields.Reference>?
        var metadata: [String: String]?
        try object { reader, key in
            switch key {
            case "subscription": subscription = try reader.reference()
            case "metadata": metadata = try reader.metadata()
            default: try reader.skip()
            }
        }
        return .init(subscription: subscription, metadata: metadata)
    }

    private mutating func eventObject() throws -> Fields.Object {
        var object: String?
        var id: String?
        var metadata: [String: String]?
        var paymentStatus: String?
        var amount: Int?
        var amountTotal: Int?
        var amountReceived: Int?
        var amountRefunded: Int?
        var currency: String?
        var paymentIntent: Expandable<Fields.Reference>?
        var customerDetails: Fields.CustomerDetails?
        var customerEmail: String?
        var receiptEmail: String?
        var lastPaymentError: Fields.PaymentError?
        var mode: String?
        var subscription: Expandable<Fields.Reference>?
        var status: String?
        var cancelAtPeriodEnd: Bool?
        var canceledAt: Int?
        var endedAt: Int?
        var items: Fields.Items?
        var amountPaid: Int?
        var amountDue: Int?
        var attemptCount: Int?
        var parent: Fields.Parent?
        var lines: Fields.Lines?
        var subscriptionDetails: Fields.SubscriptionDetails?
        var currentPeriodStart: Int?
        var currentPeriodEnd: Int?
        try self.object { reader, key in
            switch key {
            case "object": object = try reader.optionalString()
            case "id": id = try reader.optionalString()
            case "metadata": metadata = try reader.metadata()
            case "payment_status": paymentStatus = try reader.optionalString()
            case "amount": amount = try reader.optionalInt()
            case "amount_total": amountTotal = try reader.optionalInt()
            case "amount_received": amountReceived = try reader.optionalInt()
            case "amount_refunded": amountRefunded = try reader.optionalInt()
            case "currency": currency = try reader.optionalString()
            case "payment_intent": paymentIntent = try reader.reference()
            case "mode": mode = try reader.optionalString()
            case "subscription": subscription = try reader.reference()
            case "status": status = try reader.optionalString()
            case "cancel_at_period_end": cancelAtPeriodEnd = try reader.optionalBool()
            case "canceled_at": canceledAt = try reader.optionalInt()
            case "ended_at": endedAt = try reader.optionalInt()
            case "items": items = try reader.items()
            case "amount_paid": amountPaid = try reader.optionalInt()
            case "amount_due": amountDue = try reader.optionalInt()
            case "attempt_count": attemptCount = try reader.optionalInt()
            case "parent": parent = try reader.parent()
            case "lines": lines = try reader.lines()
            case "subscription_details": subscriptionDetails = try reader.subscriptionDetails()
            case "current_period_start": currentPeriodStart = try reader.optionalInt()
            case "current_period_end": currentPeriodEnd = try reader.optionalInt()
            case "customer_details":
                if try reader.null() {
                    customerDetails = nil
                    return
                }
                var email: String?
                try reader.object { reader, key in
                    if "email" ~= key { email = try reader.optionalString() } else { try reader.skip() }
                }
                customerDetails = .init(email: email)
            case "customer_email": customerEmail = try reader.optionalString()
            case "receipt_email": receiptEmail = try reader.optionalString()
            case "last_payment_error":
                if try reader.null() {
                    lastPaymentError = nil
                    return
                }
                var code: String?
                var declineCode: String?
                var message: String?
                try reader.object { reader, key in
                    switch key {
                    case "code": code = try reader.optionalString()
                    case "decline_code": declineCode = try reader.optionalString()
                    case "message": message = try reader.optionalString()
                    default: try reader.skip()
                    }
                }
                lastPaymentError = .init(code: code, declineCode: declineCode, message: message)
            default: try reader.skip()
            }
        }
        return Fields.Object(
            object: object, id: id, metadata: metadata,
            paymentStatus: paymentStatus.map(CheckoutSession.PaymentStatus.init(rawValue:)),
            amount: amount, amountTotal: amountTotal, amountReceived: amountReceived, amountRefunded: amountRefunded,
            currency: currency, paymentIntent: paymentIntent, customerDetails: customerDetails,
            customerEmail: customerEmail,
            receiptEmail: receiptEmail, lastPaymentError: lastPaymentError, mode: mode, subscription: subscription,
            status: status, cancelAtPeriodEnd: cancelAtPeriodEnd, canceledAt: canceledAt, endedAt: endedAt,
            items: items, amountPaid: amountPaid, amountDue: amountDue, attemptCount: attemptCount, parent: parent,
            lines: lines, subscriptionDetails: subscriptionDetails, currentPeriodStart: currentPeriodStart,
            currentPeriodEnd: currentPeriodEnd)
    }
}
