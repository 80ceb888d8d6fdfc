import Foundation

/// Writes an `Encodable` as compact JSON in one pass over its `encode(to:)`, in the order it encodes its keys.
///
/// Foundation's `JSONEncoder` first builds a tree of every value (a dictionary per object) and then serialises it:
/// for the emulator's 60-key Checkout Session that was 9 to 13% of the server's CPU in the checkout benchmark
/// (docs/performance.md). This writes bytes as the value encodes itself. Containers are a stack: writing to one closes
/// those opened after it, and a value's `encode(to:)` returning closes what it opened. A type that uses its encoder
/// otherwise (`superEncoder`, going back to a container it left) is encoded by `JSONEncoder` instead, so the output
/// is always what `JSONEncoder` (without sorted keys) would write, up to the order of keys.
public struct CompactJSONEncoder: Sendable {
    /// Deeper nesting than this is refused (a value that refers to itself, through classes, would never end).
    public static let maximumDepth = 512

    public init() {}

    public func encode<T: Encodable>(_ value: T) throws -> Data {
        let writer = JSONStreamWriter()
        do {
            try writer.value(value, level: 0)
            writer.close(above: 0)
        } catch is JSONStreamWriter.Unsupported {}
        // Too deep is an error whoever met it (JSONEncoder has no limit: a cycle would overflow the stack).
        if let tooDeep = writer.tooDeep { throw tooDeep }
        if !writer.unsupported { return Data(writer.bytes) }
        let fallback = JSONEncoder()
        fallback.outputFormatting = [.withoutEscapingSlashes]
        return try fallback.encode(value)
    }
}

final class JSONStreamWriter {
    struct Unsupported: Error {}

    private struct Frame {
        var close: UInt8
        var count: Int
        var serial: Int
    }

    var bytes: [UInt8] = []
    /// Set by any use of the encoder that is not a stack: the value is encoded again by `JSONEncoder`.
    var unsupported = false
    var tooDeep: EncodingError?
    private var frames: [Frame] = []
    private var serials = 0

    init() { bytes.reserveCapacity(4096) }

    var depth: Int { frames.count }

    /// Closes every container at `level` and above.
    func close(above level: Int) {
        while frames.count > level { bytes.append(frames.removeLast().close) }
    }

    /// Opens a container at `level` (closing any left open there) and returns its serial.
    func open(_ open: UInt8, _ close: UInt8, level: Int) throws -> Int {
        guard level < CompactJSONEncoder.maximumDepth else {
            let error = EncodingError.invalidValue(
                0, .init(codingPath: [], debugDescription: "Nested deeper than \(CompactJSONEncoder.maximumDepth)"))
            tooDeep = error
            throw error
        }
        self.close(above: level)
        guard frames.count == level else { throw misuse() }
        serials += 1
        frames.append(Frame(close: close, count: 0, serial: serials))
        bytes.append(open)
        return serials
    }

    /// Makes the container at `index` current again (closing those opened after it) and starts its next element.
    func element(_ index: Int, _ serial: Int) throws {
        close(above: index + 1)
        guard frames.count == index + 1, frames[index].serial == serial else { throw misuse() }
        if frames[index].count > 0 { bytes.append(UInt8(ascii: ",")) }
        frames[index].count += 1
    }

    /// Opens an object (`{`) or a list (`[`) at `level` once `start` (its key, or its place in a list) is written;
    /// its serial, or -1 with the encoding marked unsupported when the stack does not allow it.
    func nested(_ open: UInt8, level: Int, after start: () throws -> Void) -> Int {
        let close = open == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
        guard (try? start()) != nil, let serial = try? self.open(open, close, level: level) else {
            unsupported = true
            return -1
        }
        return serial
    }

    /// Marks the encoding as not a stack (even if the caller swallows the error) and returns the error to throw.
    func misuse() -> Unsupported {
        unsupported = true
        return Unsupported()
    }

    func count(_ index: Int) -> Int { index < frames.count ? frames[index].count : 0 }

    func key(_ key: String, _ index: Int, _ serial: Int) throws {
        try element(index, serial)
        string(key)
        bytes.append(UInt8(ascii: ":"))
    }

    // MARK: Values

    func value<T: Encodable>(_ value: T, level: Int) throws {
        // Types are told apart by their metatype, not by `as?` casts: a failed cast costs a walk of the runtime's
        // conformance tables, and most values are none of these (casts were this encoder's largest cost).
        if T.self == JSONValue.self {
            try json(unsafeBitCast(value, to: JSONValue.self), level: level)
        } else if T.self == String.self {
            string(unsafeBitCast(value, to: String.self))
        } else if T.self == Int.self {
            integer(unsafeBitCast(value, to: Int.self))
        } else if T.self == Bool.self {
            bool(unsafeBitCast(value, to: Bool.self))
        } else if T.self == Double.self {
            try number(unsafeBitCast(value, to: Double.self))
        } else if T.self == URL.self {
            string(unsafeBitCast(value, to: URL.self).absoluteString)
        } else if T.self == Data.self {
            string(unsafeBitCast(value, to: Data.self).base64EncodedString())
        } else if T.self == Decimal.self {
            ascii(unsafeBitCast(value, to: Decimal.self).description)
        } else {
            let before = bytes.count
            try value.encode(to: StreamEncoder(self, level: level))
            if bytes.count == before { bytes.append(contentsOf: [UInt8(ascii: "{"), UInt8(ascii: "}")]) }
            close(above: level)
        }
    }

    /// A `JSONValue` written directly, as its `encode(to:)` would write it.
    private func json(_ value: JSONValue, level: Int) throws {
        switch value {
        case .null: null()
        case .bool(let v): bool(v)
        case .int(let v): integer(v)
        case .double(let v): try number(v)
        case .string(let v): string(v)
        case .array(let items):
            let serial = try open(UInt8(ascii: "["), UInt8(ascii: "]"), level: level)
            for item in items {
                try element(level, serial)
                try json(item, level: level + 1)
            }
            close(above: level)
        case .object(let pairs):
            let serial = try open(UInt8(ascii: "{"), UInt8(ascii: "}"), level: level)
            for (key, item) in pairs {
                try self.key(key, level, serial)
                try json(item, level: level + 1)
            }
            close(above: level)
        }
    }

    func null() { ascii("null") }
    func bool(_ v: Bool) { ascii(v ? "true" : "false") }
    func integer(_ v: some BinaryInteger) { ascii(String(v)) }

    /// As `JSONEncoder` writes a float: its shortest description, without a trailing `.0`; not NaN or infinite.
    func number<F: BinaryFloatingPoint & CustomStringConvertible>(_ v: F) throws {
        guard v.isFinite else {
            throw EncodingError.invalidValue(v, .init(codingPath: [], debugDescription: "\(v) is not valid JSON"))
        }
        var text = v.description
        if text.hasSuffix(".0") { text.removeLast(2) }
        ascii(text)
    }

    private func ascii(_ text: String) { bytes.append(contentsOf: text.utf8) }

    private static let hex = Array("0123456789abcdef".utf8)

    /// As `JSONEncoder` with `.withoutEscapingSlashes`: quotes, backslashes and control characters escaped.
    func string(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { utf8 in
            var start = 0
            for (i, byte) in utf8.enumerated()
            where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<i]))
                start = i + 1
                switch byte {
                case UInt8(ascii: "\""): bytes.append(contentsOf: [0x5C, 0x22])
                case UInt8(ascii: "\\"): bytes.append(contentsOf: [0x5C, 0x5C])
                case 0x08: bytes.append(contentsOf: [0x5C, UInt8(ascii: "b")])
                case 0x09: bytes.append(contentsOf: [0x5C, UInt8(ascii: "t")])
                case 0x0A: bytes.append(contentsOf: [0x5C, UInt8(ascii: "n")])
                case 0x0C: bytes.append(contentsOf: [0x5C, UInt8(ascii: "f")])
                case 0x0D: bytes.append(contentsOf: [0x5C, UInt8(ascii: "r")])
                default:
                    bytes.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30])
                    bytes.append(Self.hex[Int(byte >> 4)])
                    bytes.append(Self.hex[Int(byte & 0xF)])
                }
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start...]))
        }
        bytes.append(UInt8(ascii: "\""))
    }
}

/// The encoder a value writes itself to, at one level of the writer's stack of containers.
private final class StreamEncoder: Encoder, SingleValueEncodingContainer {
    let writer: JSONStreamWriter
    let level: Int
    private var keyed: (index: Int, serial: Int)?
    private var wrote = false

    init(_ writer: JSONStreamWriter, level: Int) {
        self.writer = writer
        self.level = level
    }

    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        // Asked again (a subclass and its superclass share the encoder): the same object, if it is still open.
        if let keyed { return KeyedEncodingContainer(KeyedStream(writer, keyed.index, keyed.serial)) }
        let serial = writer.nested(UInt8(ascii: "{"), level: level) { if wrote { throw writer.misuse() } }
        wrote = true
        keyed = (level, serial)
        return KeyedEncodingContainer(KeyedStream(writer, level, serial))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let serial = writer.nested(UInt8(ascii: "["), level: level) { if wrote { throw writer.misuse() } }
        wrote = true
        return UnkeyedStream(writer, level, serial)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { self }

    private func start() throws {
        guard !wrote else { throw writer.misuse() }
        wrote = true
        writer.close(above: level)
    }

    func encodeNil() throws {
        try start()
        writer.null()
    }
    func encode(_ value: Bool) throws {
        try start()
        writer.bool(value)
    }
    func encode(_ value: String) throws {
        try start()
        writer.string(value)
    }
    func encode(_ value: Double) throws {
        try start()
        try writer.number(value)
    }
    func encode(_ value: Float) throws {
        try start()
        try writer.number(value)
    }
    func encode(_ value: Int) throws {
        try start()
        writer.integer(value)
    }
    func encode(_ value: Int8) throws {
        try start()
        writer.integer(value)
    }
    func encode(_ value: Int16) throws {
        try start()
        writer.integer(value)
    }
    func encode(_ value: Int32) throws {
        try start()
        writer.integer(value)
    }
    func encode(_ value: Int64) throws {
        try start()
        writer.integer(value)
    }
    func encode(_ value: UInt) throws {
        try start()
        writer.integer(value)
    }
    func encode(_ value: UInt8) throws {
        try start()
        writer.integer(value)
    }
    func encode(_ value: UInt16) throws {
        try start()
        writer.integer(value)
    }
    func encode(_ value: UInt32) throws {
        try start()
        writer.integer(value)
    }
    func encode(_ value: UInt64) throws {
        try start()
        writer.integer(value)
    }
    func encode<T: Encodable>(_ value: T) throws {
        try start()
        try writer.value(value, level: level)
    }
}

private struct KeyedStream<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let writer: JSONStreamWriter
    let index: Int
    let serial: Int

    init(_ writer: JSONStreamWriter, _ index: Int, _ serial: Int) {
        self.writer = writer
        self.index = index
        self.serial = serial
    }

    var codingPath: [any CodingKey] { [] }

    private func key(_ key: Key) throws { try writer.key(key.stringValue, index, serial) }

    mutating func encodeNil(forKey key: Key) throws {
        try self.key(key)
        writer.null()
    }
    mutating func encode(_ value: Bool, forKey key: Key) throws {
        try self.key(key)
        writer.bool(value)
    }
    mutating func encode(_ value: String, forKey key: Key) throws {
        try self.key(key)
        writer.string(value)
    }
    mutating func encode(_ value: Double, forKey key: Key) throws {
        try self.key(key)
        try writer.number(value)
    }
    mutating func encode(_ value: Float, forKey key: Key) throws {
        try self.key(key)
        try writer.number(value)
    }
    mutating func encode(_ value: Int, forKey key: Key) throws {
        try self.key(key)
        writer.integer(value)
    }
    mutating func encode(_ value: Int8, forKey key: Key) throws {
        try self.key(key)
        writer.integer(value)
    }
    mutating func encode(_ value: Int16, forKey key: Key) throws {
        try self.key(key)
        writer.integer(value)
    }
    mutating func encode(_ value: Int32, forKey key: Key) throws {
        try self.key(key)
        writer.integer(value)
    }
    mutating func encode(_ value: Int64, forKey key: Key) throws {
        try self.key(key)
        writer.integer(value)
    }
    mutating func encode(_ value: UInt, forKey key: Key) throws {
        try self.key(key)
        writer.integer(value)
    }
    mutating func encode(_ value: UInt8, forKey key: Key) throws {
        try self.key(key)
        writer.integer(value)
    }
    mutating func encode(_ value: UInt16, forKey key: Key) throws {
        try self.key(key)
        writer.integer(value)
    }
    mutating func encode(_ value: UInt32, forKey key: Key) throws {
        try self.key(key)
        writer.integer(value)
    }
    mutating func encode(_ value: UInt64, forKey key: Key) throws {
        try self.key(key)
        writer.integer(value)
    }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try self.key(key)
        try writer.value(value, level: index + 1)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key)
        -> KeyedEncodingContainer<NestedKey>
    {
        let serial = writer.nested(UInt8(ascii: "{"), level: index + 1) { try self.key(key) }
        return KeyedEncodingContainer(KeyedStream<NestedKey>(writer, index + 1, serial))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        UnkeyedStream(writer, index + 1, writer.nested(UInt8(ascii: "["), level: index + 1) { try self.key(key) })
    }

    mutating func superEncoder() -> any Encoder {
        writer.unsupported = true
        return StreamEncoder.unusable(writer)
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        writer.unsupported = true
        return StreamEncoder.unusable(writer)
    }
}

private struct UnkeyedStream: UnkeyedEncodingContainer {
    let writer: JSONStreamWriter
    let index: Int
    let serial: Int

    init(_ writer: JSONStreamWriter, _ index: Int, _ serial: Int) {
        self.writer = writer
        self.index = index
        self.serial = serial
    }

    var codingPath: [any CodingKey] { [] }
    var count: Int { writer.count(index) }

    private func next() throws { try writer.element(index, serial) }

    mutating func encodeNil() throws {
        try next()
        writer.null()
    }
    mutating func encode(_ value: Bool) throws {
        try next()
        writer.bool(value)
    }
    mutating func encode(_ value: String) throws {
        try next()
        writer.string(value)
    }
    mutating func encode(_ value: Double) throws {
        try next()
        try writer.number(value)
    }
    mutating func encode(_ value: Float) throws {
        try next()
        try writer.number(value)
    }
    mutating func encode(_ value: Int) throws {
        try next()
        writer.integer(value)
    }
    mutating func encode(_ value: Int8) throws {
        try next()
        writer.integer(value)
    }
    mutating func encode(_ value: Int16) throws {
        try next()
        writer.integer(value)
    }
    mutating func encode(_ value: Int32) throws {
        try next()
        writer.integer(value)
    }
    mutating func encode(_ value: Int64) throws {
        try next()
        writer.integer(value)
    }
    mutating func encode(_ value: UInt) throws {
        try next()
        writer.integer(value)
    }
    mutating func encode(_ value: UInt8) throws {
        try next()
        writer.integer(value)
    }
    mutating func encode(_ value: UInt16) throws {
        try next()
        writer.integer(value)
    }
    mutating func encode(_ value: UInt32) throws {
        try next()
        writer.integer(value)
    }
    mutating func encode(_ value: UInt64) throws {
        try next()
        writer.integer(value)
    }
    mutating func encode<T: Encodable>(_ value: T) throws {
        try next()
        try writer.value(value, level: index + 1)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type)
        -> KeyedEncodingContainer<NestedKey>
    {
        let serial = writer.nested(UInt8(ascii: "{"), level: index + 1) { try next() }
        return KeyedEncodingContainer(KeyedStream<NestedKey>(writer, index + 1, serial))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        UnkeyedStream(writer, index + 1, writer.nested(UInt8(ascii: "["), level: index + 1) { try next() })
    }

    mutating func superEncoder() -> any Encoder {
        writer.unsupported = true
        return StreamEncoder.unusable(writer)
    }
}

extension StreamEncoder {
    /// What `superEncoder` hands out: the encoding is redone by `JSONEncoder`, so what is written here is discarded.
    static func unusable(_ writer: JSONStreamWriter) -> StreamEncoder {
        StreamEncoder(writer, level: CompactJSONEncoder.maximumDepth)
    }
}
