import Hummingbird

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
