/// A form-encoded parameter tree: what Stripe's `a[b][0][c]=v` keys describe.
public indirect enum FormNode: Sendable, Equatable {
    case value(String)
    /// Keys in the order they were declared or sent.
    case object([(String, FormNode)])
    case array([FormNode])

    public static func == (lhs: FormNode, rhs: FormNode) -> Bool {
        switch (lhs, rhs) {
        case (.value(let a), .value(let b)): a == b
        case (.array(let a), .array(let b)): a == b
        case (.object(let a), .object(let b)): a.map(\.0) == b.map(\.0) && a.map(\.1) == b.map(\.1)
        default: false
        }
    }

    /// The child at `key` of an object.
    public subscript(key: String) -> FormNode? {
        guard case .object(let pairs) = self else { return nil }
        return pairs.last(where: { $0.0 == key })?.1
    }

    /// The child at `index` of an array.
    public subscript(index: Int) -> FormNode? {
        guard case .array(let items) = self, items.indices.contains(index) else { return nil }
        return items[index]
    }

    public var string: String? {
        if case .value(let v) = self { return v }
        return nil
    }

    public var int: Int? { string.flatMap { Int($0) } }

    public var bool: Bool? {
        switch string {
        case "true": true
        case "false": false
        default: nil
        }
    }

    public var array: [FormNode]? {
        if case .array(let items) = self { return items }
        return nil
    }

    public var object: [(String, FormNode)]? {
        if case .object(let pairs) = self { return pairs }
        return nil
    }

    /// An object of strings (as `metadata` is).
    public var stringDictionary: [String: String]? {
        guard let pairs = object else { return nil }
        var result: [String: String] = [:]
        for (key, node) in pairs {
            guard let value = node.string else { return nil }
            result[key] = value
        }
        return result
    }

    /// Flattens to `key=value` pairs in Stripe's bracket notation, arrays always indexed.
    public func flattened(prefix: String = "") -> [(String, String)] {
        switch self {
        case .value(let v): return [(prefix, v)]
        case .object(let pairs):
            return pairs.flatMap { key, node in node.flattened(prefix: prefix.isEmpty ? key : "\(prefix)[\(key)]") }
        case .array(let items):
            return items.enumerated().flatMap { index, node in node.flattened(prefix: "\(prefix)[\(index)]") }
        }
    }
}
