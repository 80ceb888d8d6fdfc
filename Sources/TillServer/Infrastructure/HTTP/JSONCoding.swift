import Foundation
import Hummingbird
import TillCore

/// JSON in and out, with decoding errors turned into 400s that name the field.
enum JSONCoding {
    /// Refuses an object with a key outside `allowed`: a misspelt or unchangeable field must not be skipped while the
    /// request answers as if it were applied. `takes` says what the body takes, for the message.
    static func refuseUnknownKeys(_ decoder: any Decoder, allowed: Set<String>, takes: String) throws {
        let keys = try decoder.container(keyedBy: AnyKey.self).allKeys.map(\.stringValue)
        if let unknown = keys.first(where: { !allowed.contains($0) }) {
            throw TillError.invalid("Unknown field \"\(unknown)\": \(takes)")
        }
    }

    struct AnyKey: CodingKey {
        let stringValue: String
        var intValue: Int? { nil }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    static func encode(_ value: some Encodable) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        return try encoder.encode(value)
    }

    static func string(_ value: some Encodable) throws -> String {
        String(decoding: try encode(value), as: UTF8.self)
    }

    static func response(_ status: HTTPResponse.Status, _ value: some Encodable) throws -> Response {
        response(status, json: try encode(value))
    }

    static func response(_ status: HTTPResponse.Status, json: Data) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: json)))
    }

    /// Reads the body (up to `limit` bytes) and decodes it; every failure is a `TillError` a client can act on.
    static func decode<T: Decodable>(_ type: T.Type, from request: Request, limit: Int = 64 * 1024) async throws -> T {
        guard let value = try await decodeIfPresent(type, from: request, limit: limit) else {
            throw TillError.invalid("The request body must be a JSON object")
        }
        return value
    }

    /// As `decode`, but an empty body (however it was framed) is `nil`.
    static func decodeIfPresent<T: Decodable>(_ type: T.Type, from request: Request, limit: Int = 64 * 1024)
        async throws -> T?
    {
        var request = request
        let buffer = try await request.collectBody(
            upTo: limit, tooLarge: "The request body is larger than \(limit) bytes")
        if buffer.readableBytes == 0 { return nil }
        if containsEscapedNUL(buffer.readableBytesView) {
            throw TillError.invalid("Text must not contain the NUL character (\\u0000)")
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
        } catch let error as DecodingError {
            throw TillError.invalid(describe(error, body: Data(buffer.readableBytesView)))
        }
    }

    /// Whether a JSON text has a `\u0000` escape (the only way JSON carries a NUL): PostgreSQL cannot store one in
    /// text, so the same input would be stored on SQLite and fail on PostgreSQL. Escapes are stepped over in pairs,
    /// so `\\u0000` (an escaped backslash, then `u0000`) is not one.
    static func containsEscapedNUL(_ bytes: some Collection<UInt8>) -> Bool {
        var iterator = bytes.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "\\") else { continue }
            guard iterator.next() == UInt8(ascii: "u") else { continue }
            var zeros = 0
            while zeros < 4, iterator.next() == UInt8(ascii: "0") { zeros += 1 }
            if zeros == 4 { return true }
        }
        return false
    }

    /// Foundation reports a number that does not fit the field (19.99 for an `Int`) as invalid JSON without a path;
    /// find that number so the client learns which field is wrong.
    static func describe(_ error: DecodingError, body: Data) -> String {
        if case .dataCorrupted(let context) = error, context.codingPath.isEmpty,
            let json = try? JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed]),
            let (path, tooLarge) = firstNonInteger(json, path: "")
        {
            if tooLarge { return "\(path) is too large" }
            // The money hint only where the field is money: a quantity of 1.5 is not about minor units.
            let field = path.split(separator: ".").last.map { $0.prefix { $0 != "[" } } ?? ""
            return field.lowercased().hasSuffix("amount")
                ? "\(path) must be a whole number (amounts are integers in the currency's minor unit)"
                : "\(path) must be a whole number"
        }
        return describe(error)
    }

    /// The path of the first number that is not an integer, and whether it is a whole number too large for one.
    private static func firstNonInteger(_ value: Any, path: String) -> (String, tooLarge: Bool)? {
        switch value {
        case let dict as [String: Any]:
            for key in dict.keys.sorted() {
                if let found = firstNonInteger(dict[key]!, path: path.isEmpty ? key : "\(path).\(key)") { return found }
            }
        case let array as [Any]:
            for (index, element) in array.enumerated() {
                if let found = firstNonInteger(element, path: "\(path)[\(index)]") { return found }
            }
        case let number as NSNumber where !(number is Bool):
            let double = number.doubleValue
            let name = path.isEmpty ? "value" : path
            if double.rounded() != double { return (name, false) }
            if abs(double) >= 9.2e18 { return (name, true) }
        default:
            break
        }
        return nil
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            var text = ""
            for key in keys {
                if let index = key.intValue {
                    text += "[\(index)]"
                } else {
                    text += text.isEmpty ? key.stringValue : ".\(key.stringValue)"
                }
            }
            return text
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "\(path(context.codingPath + [key])) is required"
        case .valueNotFound(_, let context):
            if context.codingPath.isEmpty { return "The request body must be a JSON object" }
            return "\(path(context.codingPath)) must not be null"
        case .typeMismatch(let type, let context):
            if context.codingPath.isEmpty { return "The request body must be a JSON object" }
            return "\(path(context.codingPath)) must be \(typeName(type))"
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty { return "The request body is not valid JSON" }
            if context.debugDescription.contains("number") {
                return "\(path(context.codingPath)) must be a whole number"
            }
            return "\(path(context.codingPath)) is not valid"
        @unknown default:
            return "The request body is not valid"
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type: "a whole number"
        case is Bool.Type: "true or false"
        case is [Any].Type: "an array"
        default: type is any Collection.Type ? "an array" : "an object"
        }
    }
}

/// `{"error": {"code", "message"}}`.
struct ErrorBody: Encodable, Sendable {
    struct Detail: Encodable, Sendable {
        let code: String
        let message: String
    }
    let error: Detail

    init(_ error: TillError) {
        self.error = Detail(code: error.code.rawValue, message: error.message)
    }
}
