import Foundation
import StripeAPI
import Testing

/// The emulator's answers are written by `CompactJSONEncoder`: what it writes must read back as what Foundation's
/// `JSONEncoder` writes for the same value, whatever the value and however its type encodes itself.
@Suite("Compact JSON encoder")
struct CompactJSONEncoderTests {
    static func foundation(_ value: some Encodable) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return try encoder.encode(value)
    }

    static func parsed(_ data: Data) throws -> JSONValue { try JSONDecoder().decode(JSONValue.self, from: data) }

    @Test("every Stripe fixture, in its StripeAPI type, reads back as JSONEncoder's", arguments: FixtureTests.resources)
    func fixtures(resource: String) throws {
        let value = try FixtureTests.decoded(resource)
        let compact = try CompactJSONEncoder().encode(value)
        #expect(try Self.parsed(compact) == Self.parsed(Self.foundation(value)))
    }

    @Test("keys come out in the order the type encodes them")
    func order() throws {
        let session = CheckoutSession(id: "cs_test_1", created: 1_800_000_000, expiresAt: 1_800_003_600)
        let text = String(decoding: try CompactJSONEncoder().encode(session), as: UTF8.self)
        #expect(text.hasPrefix(#"{"id":"cs_test_1","object":"checkout.session","currency":null,"created":1800000000,"#))
    }

    @Test("strings are escaped byte for byte as JSONEncoder escapes them")
    func strings() throws {
        let every = String(decoding: (0..<128).map { UInt8($0) }, as: UTF8.self)
        for text in [every, "a/b \"q\" \\ é 漢字 🧾", "", "\u{7F}\u{2028}\u{2029}"] {
            #expect(try CompactJSONEncoder().encode(text) == Self.foundation(text))
            #expect(try CompactJSONEncoder().encode([text: [text]]) == Self.foundation([text: [text]]))
        }
    }

    @Test("numbers are written as JSONEncoder writes them, and a non-finite one is refused")
    func numbers() throws {
        let doubles: [Double] = [0, -0.0, 1, -1.5, 0.1, 1e-7, 123_456_789.125, 1e21, .pi, .leastNonzeroMagnitude]
        #expect(try CompactJSONEncoder().encode(doubles) == Self.foundation(doubles))
        let ints: [Int] = [0, -1, .max, .min]
        #expect(try CompactJSONEncoder().encode(ints) == Self.foundation(ints))
        #expect(try CompactJSONEncoder().encode([UInt64.max]) == Self.foundation([UInt64.max]))
        #expect(try CompactJSONEncoder().encode(Float(2.5)) == Self.foundation(Float(2.5)))
        #expect(throws: EncodingError.self) { try CompactJSONEncoder().encode([Double.nan]) }
        #expect(throws: EncodingError.self) { try CompactJSONEncoder().encode(["x": Double.infinity]) }
    }

    /// Nested containers opened by hand, a value that encodes nothing, optionals, URLs and bytes.
    struct Handwritten: Encodable {
        enum Keys: String, CodingKey { case a, b, c, d, e, f, g }
        func encode(to encoder: any Encoder) throws {
            var top = encoder.container(keyedBy: Keys.self)
            var inner = top.nestedContainer(keyedBy: Keys.self, forKey: .a)
            try inner.encode(1, forKey: .b)
            var list = inner.nestedUnkeyedContainer(forKey: .c)
            try list.encode("x")
            var deeper = list.nestedContainer(keyedBy: Keys.self)
            try deeper.encodeNil(forKey: .d)
            try list.encode(true)
            #expect(list.count == 3)
            try top.encode(Nothing(), forKey: .e)
            try top.encodeIfPresent(nil as Int?, forKey: .f)
            try top.encode([URL(string: "https://example.com/a?b=c")!], forKey: .g)
            try top.encode(Data([0, 1, 2, 250]), forKey: .b)
        }
    }

    struct Nothing: Encodable {
        func encode(to encoder: any Encoder) throws {}
    }

    @Test("hand-written encodings with nested containers read back as JSONEncoder's")
    func handwritten() throws {
        let compact = try CompactJSONEncoder().encode(Handwritten())
        #expect(try Self.parsed(compact) == Self.parsed(Self.foundation(Handwritten())))
        #expect(String(decoding: compact, as: UTF8.self).contains(#""e":{}"#))
    }

    /// Writes to an outer container after an inner one, and uses a super encoder: not a stack.
    struct OutOfOrder: Encodable {
        enum Keys: String, CodingKey { case a, b, c }
        func encode(to encoder: any Encoder) throws {
            var top = encoder.container(keyedBy: Keys.self)
            var first = top.nestedContainer(keyedBy: Keys.self, forKey: .a)
            var second = top.nestedContainer(keyedBy: Keys.self, forKey: .b)
            try second.encode(2, forKey: .a)
            try first.encode(1, forKey: .a)
            try Nothing().encode(to: top.superEncoder(forKey: .c))
        }
    }

    @Test("a type that leaves the stack is encoded by JSONEncoder instead")
    func fallback() throws {
        let compact = try CompactJSONEncoder().encode(OutOfOrder())
        #expect(try Self.parsed(compact) == Self.parsed(Self.foundation(OutOfOrder())))
        #expect(try Self.parsed(compact)["a"]?["a"] == .int(1))
    }

    @Test("nesting deeper than the limit is an error, not a crash")
    func depth() throws {
        var value: JSONValue = 1
        for _ in 0..<(CompactJSONEncoder.maximumDepth + 10) { value = .array([value]) }
        #expect(throws: EncodingError.self) { try CompactJSONEncoder().encode(value) }
        var shallow: JSONValue = 1
        for _ in 0..<100 { shallow = .object(["k": shallow]) }
        #expect(try Self.parsed(CompactJSONEncoder().encode(shallow)) == shallow)
    }
}
