/// An error answered by Stripe, or the failure to reach it.
public struct StripeError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Stripe answered with an error status.
        case api
        /// No answer: connection refused or reset, or the attempt timed out.
        case connection
    }

    public var kind: Kind
    /// The HTTP status, 0 when there was no answer.
    public var httpStatus: Int
    /// `card_error`, `invalid_request_error`, `api_error`, `idempotency_error`…
    public var type: String?
    public var code: String?
    public var declineCode: String?
    public var param: String?
    public var message: String
    /// The `Request-Id` header, to quote to Stripe's support.
    public var requestId: String?
    /// The body when it was not Stripe's JSON error (an HTML page from a proxy, say).
    public var rawBody: String?

    public init(
        kind: Kind = .api, httpStatus: Int, type: String? = nil, code: String? = nil, declineCode: String? = nil,
        param: String? = nil, message: String, requestId: String? = nil, rawBody: String? = nil
    ) {
        self.kind = kind
        self.httpStatus = httpStatus
        self.type = type
        self.code = code
        self.declineCode = declineCode
        self.param = param
        self.message = message
        self.requestId = requestId
        self.rawBody = rawBody
    }

    public var description: String {
        var parts = ["Stripe \(kind == .connection ? "connection error" : "error \(httpStatus)")"]
        if let type { parts.append("type=\(type)") }
        if let code { parts.append("code=\(code)") }
        if let declineCode { parts.append("decline_code=\(declineCode)") }
        if let param { parts.append("param=\(param)") }
        if let requestId { parts.append("request_id=\(requestId)") }
        return parts.joined(separator: " ") + ": " + message
    }

    /// Stripe's error body: `{"error": {"type", "code", "decline_code", "message", "param"}}`.
    public struct Body: Codable, Sendable {
        public struct Detail: Codable, Sendable {
            public var type: String
            public var code: String?
            public var declineCode: String?
            public var message: String?
            public var param: String?
            /// Where Stripe documents `code`.
            public var docURL: String?
            /// For a card error: the charge that failed and the PaymentIntent as it stands after it.
            public var charge: String?
            public var paymentIntent: JSONValue?

            public init(
                type: String, code: String? = nil, declineCode: String? = nil, message: String? = nil,
                param: String? = nil
            ) {
                self.type = type
                self.code = code
                self.declineCode = declineCode
                self.message = message
                self.param = param
                self.docURL = code.map {
                    "https://stripe.com/docs/error-codes/" + $0.replacingOccurrences(of: "_", with: "-")
                }
            }

            enum CodingKeys: String, CodingKey {
                case type, code, message, param, charge
                case declineCode = "decline_code"
                case docURL = "doc_url"
                case paymentIntent = "payment_intent"
            }
        }
        public var error: Detail

        public init(error: Detail) {
            self.error = error
        }
    }
}
