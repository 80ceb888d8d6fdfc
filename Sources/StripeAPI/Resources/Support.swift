import Foundation

/// A string enum of Stripe's that may grow: values this version does not know decode as `.unknown(value)`.
public protocol StripeEnum: Codable, Hashable, Sendable, CustomStringConvertible {
    /// Every known case with its wire value.
    static var known: [(Self, String)] { get }
    static func unknown(_ value: String) -> Self
}

extension StripeEnum {
    public init(rawValue: String) {
        self = Self.known.first(where: { $0.1 == rawValue })?.0 ?? .unknown(rawValue)
    }

    public var rawValue: String {
        if let pair = Self.known.first(where: { $0.0 == self }) { return pair.1 }
        return Mirror(reflecting: self).children.first?.value as? String ?? ""
    }

    public var description: String { rawValue }

    public init(from decoder: any Decoder) throws {
        self.init(rawValue: try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// A field that holds an id, or the whole object when the request asked to `expand` it.
///
/// The object is boxed (`indirect`): inline, every struct with an expandable field was as large as the objects it
/// may expand to (a Checkout Session 3 KB, with a whole PaymentIntent in it), in every copy the emulator keeps.
public enum Expandable<T: Codable & Sendable & StripeIdentifiable>: Codable, Sendable {
    case id(String)
    indirect case object(T)

    public var id: String {
        switch self {
        case .id(let id): id
        case .object(let object): object.id
        }
    }

    public var object: T? {
        if case .object(let object) = self { return object }
        return nil
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let id = try? container.decode(String.self) {
            self = .id(id)
        } else {
            self = .object(try container.decode(T.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .id(let id): try container.encode(id)
        case .object(let object): try container.encode(object)
        }
    }
}

public protocol StripeIdentifiable {
    var id: String { get }
}

/// Encodes `nil` as JSON `null` (Stripe's objects always carry their keys) and decodes a missing key as `nil`.
@propertyWrapper
public struct Nullable<Value: Codable & Sendable>: Codable, Sendable {
    public var wrappedValue: Value?

    public init(wrappedValue: Value?) {
        self.wrappedValue = wrappedValue
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        wrappedValue = container.decodeNil() ? nil : try container.decode(Value.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let wrappedValue { try container.encode(wrappedValue) } else { try container.encodeNil() }
    }
}

extension KeyedDecodingContainer {
    public func decode<T>(_ type: Nullable<T>.Type, forKey key: Key) throws -> Nullable<T> {
        try decodeIfPresent(type, forKey: key) ?? Nullable(wrappedValue: nil)
    }
}

/// A value in a box that its copies share; a write puts the new value in a box of its own. For fields most objects
/// have alike: one box then serves them all.
public struct Shared<Value: Sendable>: Sendable {
    private final class Box: Sendable {
        let value: Value
        init(_ value: Value) { self.value = value }
    }

    private var box: Box

    public init(_ value: Value) { box = Box(value) }

    public var value: Value {
        get { box.value }
        set { box = Box(newValue) }
    }

    /// One field, read in the box (`value`'s getter copies the whole value out first).
    public subscript<T>(path: KeyPath<Value, T>) -> T { box.value[keyPath: path] }
}

/// `{"object": "list", "data": [...], "has_more": ..., "url": ...}`.
public struct StripeList<Element: Codable & Sendable>: Codable, Sendable {
    public var object: String = "list"
    public var data: [Element]
    public var hasMore: Bool
    public var url: String

    public init(data: [Element], hasMore: Bool, url: String) {
        self.data = data
        self.hasMore = hasMore
        self.url = url
    }

    enum CodingKeys: String, CodingKey {
        case object, data, url
        case hasMore = "has_more"
    }
}

/// Stripe's JSON: seconds since 1970 for times, snake_case names declared per type.
public enum StripeJSON {
    public static func decoder() -> JSONDecoder { JSONDecoder() }

    /// Compact JSON, keys in the order the type encodes them (`CompactJSONEncoder`).
    public static func encode(_ value: some Encodable) throws -> Data { try CompactJSONEncoder().encode(value) }

    public static func encoder(pretty: Bool = false) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting =
            pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.withoutEscapingSlashes]
        return encoder
    }
}
