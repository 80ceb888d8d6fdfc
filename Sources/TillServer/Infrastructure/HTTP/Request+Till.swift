import Hummingbird
import NIOCore
import TillCore

extension Request {
    /// The query string as a dictionary (the first value of a repeated key wins).
    var queryDictionary: [String: String] {
        var result: [String: String] = [:]
        for (key, value) in uri.queryParameters where result[String(key)] == nil {
            result[String(key)] = String(value)
        }
        return result
    }
}

extension Request {
    /// The whole body, up to `limit` bytes. Over it: 413 `payload_too_large` saying `tooLarge`. A body the HTTP
    /// parser refused part-way (a malformed chunk), or a connection closed mid-body: 400 `invalid_request`.
    mutating func collectBody(upTo limit: Int, tooLarge: String) async throws -> ByteBuffer {
        do {
            return try await collectBody(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw TillError(.payloadTooLarge, tooLarge)
        } catch {
            throw TillError.invalid("The request body could not be read: it is not valid HTTP/1.1")
        }
    }
}
