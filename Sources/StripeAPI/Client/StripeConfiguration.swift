/// How the client reaches Stripe. Sendable and immutable: per-call state goes in `RequestOptions`.
public struct StripeConfiguration: Sendable {
    /// The API version this client's types are written against, sent as `Stripe-Version` on every request: the
    /// version of Stripe's fixtures (`stripe-fixtures3.json`), whose shapes the types and the emulator follow.
    public static let pinnedAPIVersion = "2026-04-22.dahlia"

    public var secretKey: String
    /// `https://api.stripe.com`, or the emulator's base (`http://localhost:8080/_stripe`).
    public var baseURL: String
    public var apiVersion: String
    /// Time allowed for one attempt, in seconds.
    public var timeout: Double
    /// Retries after the first attempt (Stripe's SDKs default to 2).
    public var maxNetworkRetries: Int
    /// First backoff delay; it doubles each retry up to `maxRetryDelay`, with jitter.
    public var initialRetryDelay: Double
    public var maxRetryDelay: Double

    public init(
        secretKey: String, baseURL: String = "https://api.stripe.com", apiVersion: String = pinnedAPIVersion,
        timeout: Double = 30, maxNetworkRetries: Int = 2, initialRetryDelay: Double = 0.5, maxRetryDelay: Double = 5
    ) {
        self.secretKey = secretKey
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.apiVersion = apiVersion
        self.timeout = timeout
        self.maxNetworkRetries = maxNetworkRetries
        self.initialRetryDelay = initialRetryDelay
        self.maxRetryDelay = maxRetryDelay
    }

    /// The delay before retry number `attempt` (1-based): 0.5 s, 1 s, 2 s… capped, times a jitter in [0.75, 1].
    public func retryDelay(attempt: Int, jitter: Double = Double.random(in: 0.75...1)) -> Double {
        let base = initialRetryDelay * Double(1 << min(max(attempt - 1, 0), 20))
        return min(base, maxRetryDelay) * jitter
    }
}

/// Per-call options.
public struct RequestOptions: Sendable {
    /// Sent as `Idempotency-Key`; the same on every retry of the call. A POST without one gets a generated key.
    public var idempotencyKey: String?
    /// Sent as `Stripe-Account` (Connect).
    public var stripeAccount: String?

    public init(idempotencyKey: String? = nil, stripeAccount: String? = nil) {
        self.idempotencyKey = idempotencyKey
        self.stripeAccount = stripeAccount
    }
}
