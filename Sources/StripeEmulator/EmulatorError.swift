import StripeAPI

/// An error the emulator answers, in Stripe's body and status.
struct EmulatorError: Error, Sendable {
    let status: Int
    var body: StripeError.Body
    /// Set for card errors: the PaymentIntent as it stands after the decline.
    var paymentIntent: PaymentIntent?

    init(
        status: Int, type: String, code: String? = nil, declineCode: String? = nil, message: String,
        param: String? = nil
    ) {
        self.status = status
        self.body = .init(
            error: .init(type: type, code: code, declineCode: declineCode, message: message, param: param))
    }

    static func missing(_ param: String) -> EmulatorError {
        EmulatorError(
            status: 400, type: "invalid_request_error", code: "parameter_missing",
            message: "Missing required param: \(param).", param: param)
    }

    static func invalid(_ param: String, _ message: String, code: String = "parameter_invalid_empty") -> EmulatorError {
        EmulatorError(status: 400, type: "invalid_request_error", code: code, message: message, param: param)
    }

    static func notFound(_ what: String, _ id: String, param: String = "id") -> EmulatorError {
        EmulatorError(
            status: 404, type: "invalid_request_error", code: "resource_missing", message: "No such \(what): '\(id)'",
            param: param)
    }

    static func unexpectedState(_ message: String, code: String = "payment_intent_unexpected_state") -> EmulatorError {
        EmulatorError(status: 400, type: "invalid_request_error", code: code, message: message)
    }

    /// A body the form parser refused (too deep, too many keys).
    static func form(_ error: FormEncoding.DecodingError) -> EmulatorError {
        switch error {
        case .tooDeep(let key, let limit):
            EmulatorError(
                status: 400, type: "invalid_request_error", code: "parameter_invalid_string",
                message: "Parameters can be nested at most \(limit) levels deep; `\(key)` is deeper.", param: key)
        case .tooManyPairs(let limit):
            EmulatorError(
                status: 400, type: "invalid_request_error", code: "parameter_invalid_string",
                message: "A request can carry at most \(limit) parameters.")
        }
    }
}
