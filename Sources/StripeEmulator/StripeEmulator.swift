import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import StripeAPI

/// A stateful stand-in for the Stripe API, for development and tests without a network. Serve its routes (on their
/// own or under a prefix of another router) and run it as a service so that webhooks are delivered.
public final class StripeEmulator: Service, Sendable {
    public struct Configuration: Sendable {
        /// The base URL clients use for the API (the hosted checkout page lives under it too).
        public var baseURL: String
        /// Delays before each retry of a failed webhook delivery; the last failure after these gives up.
        public var retrySchedule: [Double]
        /// How often sessions past `expires_at` are expired.
        public var sweepInterval: Double

        /// Stripe retries for days; the emulator keeps the same shape at a scale a person can watch.
        public static let defaultRetrySchedule: [Double] = [1, 2, 5, 10, 30, 60, 120, 300]
        /// For tests: the same number of retries, in well under a second.
        public static let fastRetrySchedule: [Double] = [0.05, 0.1, 0.2, 0.4, 0.8]

        public init(baseURL: String, retrySchedule: [Double] = defaultRetrySchedule, sweepInterval: Double = 1) {
            self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
            self.retrySchedule = retrySchedule
            self.sweepInterval = sweepInterval
        }
    }

    public let configuration: Configuration
    let state: EmulatorState
    let faults = Faults()
    let idempotency = IdempotencyCache()
    let deliverer: WebhookDeliverer
    let logger: Logger

    public init(
        configuration: Configuration, httpClient: HTTPClient = .shared,
        logger: Logger = Logger(label: "stripe-emulator")
    ) {
        self.configuration = configuration
        self.logger = logger
        let (stream, continuation) = AsyncStream.makeStream(of: Event.self)
        self.state = EmulatorState(
            now: { Int(Date().timeIntervalSince1970) }, checkoutBaseURL: configuration.baseURL,
            emit: { continuation.yield($0) })
        self.deliverer = WebhookDeliverer(
            events: stream, http: httpClient, retrySchedule: configuration.retrySchedule, faults: faults, logger: logger
        )
    }

    /// Registers a webhook endpoint with a secret of the caller's choosing (Till uses this for its own endpoint).
    @discardableResult
    public func registerWebhookEndpoint(url: String, enabledEvents: [String] = ["*"], secret: String) async throws
        -> String
    {
        let node = FormNode.object([
            ("url", .value(url)), ("enabled_events", .array(enabledEvents.map(FormNode.value))),
        ])
        do {
            return try await state.createWebhookEndpoint(node, secret: secret).id
        } catch {
            throw StripeError(httpStatus: error.status, message: error.body.error.message ?? "invalid webhook endpoint")
        }
    }

    /// Delivers webhooks and expires due sessions until shut down.
    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.deliverer.run(state: self.state) }
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .seconds(self.configuration.sweepInterval))
                        await self.state.sweepExpiredSessions()
                        await self.state.billDue()
                        await self.state.failDueRefunds()
                    }
                }
                await group.next()
                group.cancelAll()
            }
        }
    }
}
