import Foundation

/// Encodes an `Encodable` into a `FormNode`, keeping the declaration order of keys.
/// `nil` is left out; `""` is kept (Stripe reads it as "unset this field"); booleans are `true`/`false`;
/// arrays become indexed keys. Use `CodingKeys` for Stripe's snake_case names.
public struct FormEncoder: Sendable {
    public init() {}

    public func encode(_ value: some Encodable) throws -> FormNode {
        let box = Box()
        try value.encode(to: NodeEncoder(box: box, codingPath: []))
        return box.node?.frozen ?? .object([])
    }
}

/// A node under construction; reference semantics so nested containers can fill their parent.
private final class Box {
    var node: Building?
}

private enum Building {
    case value(String)
    case object(KeyedStore)
    case array(ArrayStore)

    var frozen: FormNode {
        switch self {
        case .value(let v): .value(v)
        case .object(let store):
            .object(
                (store.sortKeys ? store.pairs.sorted { $0.0 < $1.0 } : store.pairs)
                    .compactMap { key, box in box.node.map { (key, $0.frozen) } })
        case .array(let store): .array(store.items.compactMap { $0.node?.frozen })
        }
    }
}

private final class KeyedStore {
    var pairs: [(String, Box)] = []
    /// A `Dictionary` has no order of its own; its keys are sorted so the output is the same on every run.
    var sortKeys = false
    func box(for key: String) -> Box {
        if let existing = pairs.first(where: { $0.0 == key }) { return existing.1 }
        let box = Box()
        pairs.append((key, box))
        return box
    }
}

private final class ArrayStore {
    var items: [Box] = []
    func append() -> Box {
        let box = Box()
        items.append(box)
        return box
    }
}

private struct NodeEncoder: Encoder {
    let box: Box
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let store: KeyedStore
        if case .object(let existing) = box.node {
            store = existing
        } else {
            store = KeyedStore()
            store.sortKeys = String(describing: Key.self).contains("DictionaryCodingKey")
            box.node = .object(store)
        }
        return KeyedEncodingContainer(KeyedContainer<Key>(store: store, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let store: ArrayStore
        if case .array(let existing) = box.node {
            store = existing
        } else {
            store = ArrayStore()
            box.node = .array(store)
        }
        return UnkeyedContainer(store: store, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleContainer(box: box, codingPath: codingPath)
    }
}

private func scalar(_ value: some Encodable) -> String? {
    switch value {
    case let v as String: v
    case let v as Bool: v ? "true" : "false"
    case let v as Int: String(v)
    case let v as Int64: String(v)
    case let v as Int32: String(v)
    case let v as UInt: String(v)
    case let v as Double: String(v)
    case let v as Decimal: "\(v)"
    case let v as URL: v.absoluteString
    case let v as Date: String(Int(v.timeIntervalSince1970))
    default: nil
    }
}

private func encodeValue(_ value: some Encodable, into box: Box, codingPath: [any CodingKey]) throws {
    if let text = scalar(value) {
        box.node = .value(text)
    } else {
        try value.encode(to: NodeEncoder(box: box, codingPath: codingPath))
    }
}

private struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let store: KeyedStore
    let codingPath: [any CodingKey]

    mutating func encodeNil(forKey key: Key) throws {}

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try encodeValue(value, into: store.box(for: key.stringValue), codingPath: codingPath + [key])
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key)
        -> KeyedEncodingContainer<NestedKey>
    {
        NodeEncoder(box: store.box(for: key.stringValue), codingPath: codingPath + [key]).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        NodeEncoder(box: store.box(for: key.stringValue), codingPath: codingPath + [key]).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder { NodeEncoder(box: store.box(for: "super"), codingPath: codingPath) }
    mutating func superEncoder(forKey key: Key) -> any Encoder {
        NodeEncoder(box: store.box(for: key.stringValue), codingPath: codingPath + [key])
    }
}

private struct IndexKey: CodingKey {
    let intValue: Int?
    var stringValue: String { String(intValue ?? 0) }
    init(_ index: Int) { intValue = index }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { self.intValue = intValue }
}

private struct UnkeyedContainer: UnkeyedEncodingContainer {
    let store: ArrayStore
    let codingPath: [any CodingKey]
    var count: Int { store.items.count }

    mutating func encodeNil() throws {}

    mutating func encode<T: Encodable>(_ value: T) throws {
        try encodeValue(value, into: store.append(), codingPath: codingPath + [IndexKey(count)])
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<
        NestedKey
    > {
        NodeEncoder(box: store.append(), codingPath: codingPath).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        NodeEncoder(box: store.append(), codingPath: codingPath).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder { NodeEncoder(box: store.append(), codingPath: codingPath) }
}

private struct SingleContainer: SingleValueEncodingContainer {
    let box: Box
    let codingPath: [any CodingKey]

    mutating func encodeNil() throws { box.node = nil }

    mutating func encode<T: Encodable>(_ value: T) throws {
        try encodeValue(value, into: box, codingPath: codingPath)
    }
}
