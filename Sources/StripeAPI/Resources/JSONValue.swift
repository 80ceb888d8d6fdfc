import Foundation

/// Any JSON value: the fields of Stripe's objects that Till carries without reading them, so that an object decoded
/// and encoded again keeps every key Stripe sent (and the emulator can answer every key Stripe's objects have).
///
/// `indirect`: a value is one word (a box, shared by its copies), not 17 bytes and 24 in a struct. A Checkout
/// Session carries about forty of them, most null or a default shared by every session, in every object the
/// emulator keeps.
public indirect enum JSONValue: Codable, Sendable, Equatable, Hashable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        // Each kind decodes only from its own JSON kind, so the order does not change the result; the common kinds
        // (strings and objects, in Stripe's objects) come first, because every failed attempt builds an error.
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([String: JSONValue].self) {
            self = .object(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int.self) {
            self = .int(value)
        } else {
            self = .double(try container.decode(Double.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let v): try container.encode(v)
        case .int(let v): try container.encode(v)
        case .double(let v): try container.encode(v)
        case .string(let v): try container.encode(v)
        case .array(let v): try container.encode(v)
        case .object(let v): try container.encode(v)
        }
    }

    /// The element at `index` of a list; `nil` for anything else or out of range.
    public subscript(index: Int) -> JSONValue? {
        guard case .array(let items) = self, items.indices.contains(index) else { return nil }
        return items[index]
    }

    public subscript(key: String) -> JSONValue? {
        if case .object(let pairs) = self { return pairs[key] }
        return nil
    }

    /// The elements of a list; `nil` for anything else.
    public var items: [JSONValue]? {
        if case .array(let items) = self { return items }
        return nil
    }

    public var string: String? {
        if case .string(let v) = self { return v }
        return nil
    }

    public var int: Int? {
        if case .int(let v) = self { return v }
        return nil
    }

    public var bool: Bool? {
        if case .bool(let v) = self { return v }
        return nil
    }

    public var isNull: Bool { self == .null }

    /// Any `Encodable` as a JSON value.
    public static func from(_ value: some Encodable) -> JSONValue {
        guard let data = try? StripeJSON.encode(value) else { return .null }
        return (try? JSONDecoder().decode(JSONValue.self, from: data)) ?? .null
    }
}

extension JSONValue {
    /// How `other` differs in shape from `self` (Stripe's fixture): keys of `self` that `other` lacks, values whose
    /// JSON type differs, and values `other` leaves null where `self` has one, as paths like `a.b[].c`. A `null` in
    /// `self` takes any value (Stripe's nullable fields hold one when set); lists compare their first elements.
    public func shapeDifferences(_ other: JSONValue, path: String = "") -> (
        missing: [String], types: [String], nulls: [String]
    ) {
        var missing: [String] = []
        var types: [String] = []
        var nulls: [String] = []
        switch (self, other) {
        case (.null, _): break
        case (_, .null): nulls.append(path)
        case (.object(let mine), .object(let theirs)):
            for (key, value) in mine {
                let sub = path.isEmpty ? key : "\(path).\(key)"
                guard let their = theirs[key] else {
                    missing.append(sub)
                    continue
                }
                let d = value.shapeDifferences(their, path: sub)
                missing += d.missing
                types += d.types
                nulls += d.nulls
            }
        case (.array(let mine), .array(let theirs)):
            if let first = mine.first, let their = theirs.first {
                let d = first.shapeDifferences(their, path: path + "[]")
                missing += d.missing
                types += d.types
                nulls += d.nulls
            }
        default:
            if kind != other.kind { types.append("\(path): \(kind) vs \(other.kind)") }
        }
        return (missing.sorted(), types.sorted(), nulls.sorted())
    }

    /// `null`, `bool`, `number`, `string`, `list` or `object`.
    public var kind: String {
        switch self {
        case .null: "null"
        case .bool: "bool"
        case .int, .double: "number"
        case .string: "string"
        case .array: "list"
        case .object: "object"
        }
    }
}

extension JSONValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByStringLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByFloatLiteral
{
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}

extension KeyedDecodingContainer {
    /// A key Stripe leaves out reads as `null` (Stripe's objects carry every key; older versions and test payloads may
    /// not).
    public func decode(_ type: JSONValue.Type, forKey key: Key) throws -> JSONValue {
        try decodeIfPresent(type, forKey: key) ?? .null
    }
}
