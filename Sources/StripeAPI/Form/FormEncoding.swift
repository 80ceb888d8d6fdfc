/// Stripe's `application/x-www-form-urlencoded` scheme, both ways.
public enum FormEncoding {
    /// `a[b][0][c]=v&...`, in order; everything outside `A-Z a-z 0-9 - . _ ~` percent-encoded in values,
    /// brackets kept literal in keys.
    public static func encode(_ node: FormNode) -> String {
        node.flattened().map { key, value in escape(key, keepBrackets: true) + "=" + escape(value, keepBrackets: false)
        }
        .joined(separator: "&")
    }

    /// Encodes an `Encodable` value (see `FormEncoder` for the rules).
    public static func encode(_ value: some Encodable) throws -> String {
        encode(try FormEncoder().encode(value))
    }

    /// Bounds on what a parsed body may hold, so that no request can exhaust the stack or the CPU.
    public struct Limits: Sendable {
        /// Bracket levels under a top-level key: `a[1][2]...[10]` is the deepest accepted.
        public var maxDepth: Int
        /// `key=value` pairs in one body.
        public var maxPairs: Int

        public init(maxDepth: Int = 10, maxPairs: Int = 1000) {
            self.maxDepth = maxDepth
            self.maxPairs = maxPairs
        }

        public static let standard = Limits()
    }

    /// Why a body was refused; `key` is the offending key (shortened when long).
    public enum DecodingError: Error, Sendable, Equatable {
        case tooDeep(key: String, limit: Int)
        case tooManyPairs(limit: Int)
    }

    /// Parses a body or query string into a tree. `a[0]`, `a[1]` become an array (as do `a[]` repeats);
    /// other keys become objects, in the order first seen. Keys nested deeper than the limit keep their extra
    /// bracket levels as text, and pairs past the limit are dropped (use `decode(_:limits:)` to refuse instead).
    public static func decode(_ body: String) -> FormNode {
        var root = MutableNode.object([])
        var pairs = 0
        for pair in body.split(separator: "&", omittingEmptySubsequences: true) {
            pairs += 1
            if pairs > Limits.standard.maxPairs { break }
            let (key, value) = splitPair(pair)
            let path = splitKey(key, maxDepth: Limits.standard.maxDepth).path
            guard !path.isEmpty else { continue }
            root.insert(path: path[...], value: value)
        }
        return root.frozen
    }

    /// Parses like `decode(_:)` but refuses a body that nests deeper or holds more pairs than `limits` allow.
    public static func decode(_ body: String, limits: Limits) throws(DecodingError) -> FormNode {
        var root = MutableNode.object([])
        var pairs = 0
        for pair in body.split(separator: "&", omittingEmptySubsequences: true) {
            pairs += 1
            if pairs > limits.maxPairs { throw .tooManyPairs(limit: limits.maxPairs) }
            let (key, value) = splitPair(pair)
            let split = splitKey(key, maxDepth: limits.maxDepth)
            if split.truncated {
                throw .tooDeep(key: key.count > 100 ? String(key.prefix(100)) + "..." : key, limit: limits.maxDepth)
            }
            guard !split.path.isEmpty else { continue }
            root.insert(path: split.path[...], value: value)
        }
        return root.frozen
    }

    private static func splitPair(_ pair: Substring) -> (String, String) {
        guard let equals = pair.utf8.firstIndex(of: UInt8(ascii: "=")) else { return (unescape(pair), "") }
        return (unescape(pair[..<equals]), unescape(pair[pair.utf8.index(after: equals)...]))
    }

    static func splitKey(_ key: String) -> [String] { splitKey(key, maxDepth: Limits.standard.maxDepth).path }

    /// The path of a key; bracket levels beyond `maxDepth` stay as text on the last segment (`truncated`).
    static func splitKey(_ key: String, maxDepth: Int) -> (path: [String], truncated: Bool) {
        guard let open = key.firstIndex(of: "[") else { return ([key], false) }
        var path = [String(key[..<open])]
        var rest = key[open...]
        while rest.first == "[", let close = rest.firstIndex(of: "]") {
            if path.count > maxDepth {
                path[path.count - 1] += rest
                return (path, true)
            }
            path.append(String(rest[rest.index(after: rest.startIndex)..<close]))
            rest = rest[rest.index(after: close)...]
        }
        if !rest.isEmpty { path[path.count - 1] += rest }  // malformed tail: keep it as text
        return (path, false)
    }

    private static let hexDigits = Array("0123456789ABCDEF".utf8)

    static func escape(_ text: String, keepBrackets: Bool) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count + 8)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.append(byte)
            case UInt8(ascii: "["),
                UInt8(ascii: "]") where keepBrackets:
                out.append(byte)
            default:
                out.append(UInt8(ascii: "%"))
                out.append(hexDigits[Int(byte >> 4)])
                out.append(hexDigits[Int(byte & 0xF)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func unescape(_ text: some StringProtocol) -> String {
        let utf8 = text.utf8
        guard utf8.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") }) else { return String(text) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count)
        var index = utf8.startIndex
        while index != utf8.endIndex {
            let byte = utf8[index]
            utf8.formIndex(after: &index)
            if byte == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else if byte == UInt8(ascii: "%"), index != utf8.endIndex, let high = hexValue(utf8[index]),
                case let next = utf8.index(after: index), next != utf8.endIndex, let low = hexValue(utf8[next])
            {
                bytes.append(high << 4 | low)
                index = utf8.index(after: next)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// Builds a tree while parsing; turned into a `FormNode` at the end.
private indirect enum MutableNode {
    case value(String)
    case object([(String, MutableNode)])

    mutating func insert(path: ArraySlice<String>, value: String) {
        guard let head = path.first else {
            self = .value(value)
            return
        }
        guard case .object(var pairs) = self else {
            self = .object([])
            insert(path: path, value: value)
            return
        }
        // Let go of the old array first, so that `pairs` is the only reference and grows in place.
        self = .value("")
        // `a[]=x&a[]=y` appends: give each an index of its own.
        let key = head.isEmpty ? String(pairs.count) : head
        if let index = pairs.firstIndex(where: { $0.0 == key }) {
            pairs[index].1.insert(path: path.dropFirst(), value: value)
        } else {
            var child = MutableNode.object([])
            child.insert(path: path.dropFirst(), value: value)
            pairs.append((key, child))
        }
        self = .object(pairs)
    }

    var frozen: FormNode {
        switch self {
        case .value(let v): return .value(v)
        case .object(let pairs):
            // Keys 0, 1, 2... in order make an array.
            if !pairs.isEmpty, pairs.enumerated().allSatisfy({ $0.offset == Int($0.element.0) }) {
                return .array(pairs.map(\.1.frozen))
            }
            if !pairs.isEmpty, pairs.allSatisfy({ Int($0.0) != nil }) {
                return .array(pairs.sorted { Int($0.0)! < Int($1.0)! }.map(\.1.frozen))
            }
            return .object(pairs.map { ($0.0, $0.1.frozen) })
        }
    }
}
