import Foundation

/// The one error type the HTTP layer turns into `{"error":{"code","message"}}`.
public struct TillError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, CaseIterable {
        case invalidRequest = "invalid_request"
        case unauthorized
        case forbidden
        case notFound = "not_found"
        case emailTaken = "email_taken"
        case orderNotPayable = "order_not_payable"
        case insufficientInventory = "insufficient_inventory"
        case idempotencyKeyReused = "idempotency_key_reused"
        case invalidSignature = "invalid_signature"
        case payloadTooLarge = "payload_too_large"
        case rateLimited = "rate_limited"
        case tooManyPendingOrders = "too_many_pending_orders"
        case alreadySubscribed = "already_subscribed"
        case subscriptionNotActive = "subscription_not_active"
        /// A refund of a payment that holds no money to give back (not paid, or refunded already).
        case paymentNotRefundable = "payment_not_refundable"
        /// A payment that is not (or no longer) under review: accepting it, or refunding it as one under review after
        /// an admin accepted it.
        case paymentNotUnderReview = "payment_not_under_review"
        case stripeError = "stripe_error"
        case busy
        case internalError = "internal"

        /// The HTTP status for each code: the one mapping.
        public var httpStatus: Int {
            switch self {
            case .invalidRequest, .invalidSignature: 400
            case .unauthorized: 401
            case .forbidden: 403
            case .notFound: 404
            case .emailTaken, .orderNotPayable, .insufficientInventory, .alreadySubscribed, .subscriptionNotActive,
                .paymentNotRefundable, .paymentNotUnderReview:
                409
            case .payloadTooLarge: 413
            case .idempotencyKeyReused: 422
            case .rateLimited, .tooManyPendingOrders: 429
            case .internalError: 500
            case .stripeError: 502
            case .busy: 503
            }
        }
    }

    public let code: Code
    public let message: String
    /// Seconds a client should wait before trying again, sent as `Retry-After` (429 and 503).
    public let retryAfterSeconds: Int?

    public init(_ code: Code, _ message: String, retryAfterSeconds: Int? = nil) {
        self.code = code
        self.message = message
        self.retryAfterSeconds = retryAfterSeconds
    }

    public var description: String { "\(code.rawValue): \(message)" }

    public static func invalid(_ message: String) -> TillError { TillError(.invalidRequest, message) }
    public static func notFound(_ what: String) -> TillError { TillError(.notFound, "\(what) not found") }
    public static let unauthorized = TillError(.unauthorized, "Missing or invalid credentials")
    public static let forbidden = TillError(.forbidden, "This action needs the admin role")
    /// A transaction kept failing on a deadlock or a serialization conflict.
    public static let busy = TillError(
        .busy, "The server is busy with conflicting requests; try again", retryAfterSeconds: 1)
}
