import AsyncHTTPClient
import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle
import SQLKit
import StripeAPI
import StripeEmulator

/// Everything `till serve` runs, built from a configuration: the one composition root for `main` and the tests.
public struct Till: Sendable {
    public let config: AppConfig
    public let database: any Database
    let auth: AuthService
    let registry: PrometheusCollectorRegistry
    let clock: TillClock
    let logger: Logger
    let stripe: StripeClient
    /// Till's own HTTP client for Stripe: its pool is not shared with anything else in the process (the embedded
    /// emulator's webhook deliveries, a test's client), and allows many connections, so that concurrent checkouts
    /// do not queue behind AsyncHTTPClient's default of 8 connections a host.
    let http: HTTPClient
    /// Set when Till serves the Stripe emulator itself (no `STRIPE_SECRET_KEY`).
    public let emulator: StripeEmulator?
    let webhookSecrets: [String]
    let settlement: SettlementService
    let payments: PaymentService
    let subscriptions: SubscriptionService
    let processor: WebhookProcessor
    let reconciler: Reconciler

    public static let emulatorSecretKey = "sk_test_till_emulator"
    public static let emulatorPublishableKey = "pk_test_till_emulator"

    /// Opens the database, applies migrations, makes sure the configured admin exists, and sets up Stripe (or the
    /// embedded emulator, with Till's webhook endpoint registered on it).
    public static func start(config: AppConfig, logger: Logger, clock: TillClock = .system) async throws -> Till {
        let database = try await DatabaseOpener.open(
            config.database, logger: logger, sqliteGatherLogWrites: config.sqliteGatherLogWrites)
        do {
            try await Migrations.run(on: database, logger: logger)
            let auth = await AuthService(
                database: database, config: config, limiter: LoginRateLimiter(limits: config.loginLimits),
                clock: clock, logger: logger)
            if let email = config.adminEmail, let password = config.adminPassword {
                try await auth.ensureAdmin(email: email, password: password)
                logger.info("admin account ensured", metadata: ["admin.email": "\(email)"])
            }

            var secrets = config.stripeWebhookSecrets
            let emulator: StripeEmulator?
            let stripeConfig: StripeConfiguration
            if !config.usesStripeEmulator, let key = config.stripeSecretKey {
                emulator = nil
                stripeConfig = StripeConfiguration(
                    secretKey: key, baseURL: config.stripeAPIBase ?? "https://api.stripe.com",
                    timeout: config.stripeTimeoutSeconds, maxNetworkRetries: config.stripeMaxNetworkRetries)
                if secrets.isEmpty {
                    logger.warning(
                        "STRIPE_WEBHOOK_SECRET is not set: every webhook will be rejected; payments settle only through sync and the reconciler"
                    )
                }
            } else {
                let base = config.publicBaseURL + "/_stripe"
                let embedded = StripeEmulator(
                    configuration: .init(baseURL: base, retrySchedule: config.emulatorRetrySchedule), logger: logger)
                if secrets.isEmpty { secrets = [try await emulatorWebhookSecret(database)] }
                try await embedded.registerWebhookEndpoint(
                    url: config.publicBaseURL + "/api/webhooks/stripe", secret: secrets[0])
                emulator = embedded
                stripeConfig = StripeConfiguration(
                    secretKey: emulatorSecretKey, baseURL: config.stripeAPIBase ?? base,
                    timeout: config.stripeTimeoutSeconds,
                    maxNetworkRetries: config.stripeMaxNetworkRetries)
                if let external = config.stripeAPIBase {
                    // Webhooks come from the emulator Till calls, which knows nothing of the embedded one's endpoint.
                    logger.notice(
                        "Stripe: using the emulator at STRIPE_API_BASE (no STRIPE_SECRET_KEY); no real money moves",
                        metadata: ["stripe.api_base": "\(external)"])
                    if config.stripeWebhookSecrets.isEmpty {
                        logger.warning(
                            "STRIPE_API_BASE points at another emulator: create a webhook endpoint there for PUBLIC_BASE_URL/api/webhooks/stripe and set STRIPE_WEBHOOK_SECRET to its secret, or payments settle only through sync and the reconciler"
                        )
                    }
                } else {
                    logger.notice(
                        "Stripe: using the embedded emulator (no STRIPE_SECRET_KEY); no real money moves",
                        metadata: ["stripe.api_base": "\(base)"])
                }
            }
            var httpConfiguration = HTTPClient.Configuration()
            httpConfiguration.connectionPool = .init(
                idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 256)
            let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: httpConfiguration)
            // Till calls its embedded emulator in the process, through the emulator's own routes: over loopback HTTP
            // the socket and the parsing on both ends were a fifth of a checkout's CPU (docs/performance.md).
            // `STRIPE_API_BASE` still sends the calls over HTTP, to wherever it points.
            let transport: StripeTransport =
                if let emulator, config.stripeAPIBase == nil { emulator.inProcessTransport() } else { .http(http) }
            let stripe = StripeClient(configuration: stripeConfig, transport: transport, logger: logger)
            let settlement = SettlementService(database: database, stripe: stripe, clock: clock, logger: logger)
            let payments = PaymentService(
                database: database, stripe: stripe, settlement: settlement, config: config,
                publishableKey: config.stripePublishableKey ?? emulatorPublishableKey, clock: clock, logger: logger,
                recentSyncs: RecentSyncs(intervalMillis: config.syncIntervalMillis))
            let subscriptions = SubscriptionService(
                database: database, stripe: stripe, settlement: settlement, config: config, clock: clock,
                logger: logger, recentSyncs: RecentSyncs(intervalMillis: config.syncIntervalMillis))
            let processor = WebhookProcessor(
                database: database, settlement: settlement, clock: clock, logger: logger,
                leaseSeconds: config.webhookLeaseSeconds)
            let reconciler = Reconciler(
                database: database, paymentService: payments, subscriptionService: subscriptions,
                settlement: settlement, clock: clock, logger: logger,
                orderTTLSeconds: config.orderTTLSeconds, staleAfterSeconds: config.reconcileStaleAfterSeconds,
                interval: config.reconcileInterval)
            return Till(
                config: config, database: database, auth: auth, registry: PrometheusCollectorRegistry(), clock: clock,
                logger: logger, stripe: stripe, http: http, emulator: emulator, webhookSecrets: secrets,
                settlement: settlement,
                payments: payments, subscriptions: subscriptions, processor: processor, reconciler: reconciler)
        } catch {
            await database.close()
            throw error
        }
    }

    /// The webhook secret of the embedded emulator when none is configured: made once and kept in the database, so
    /// restarts, other instances and `till trigger` use the same one.
    static func emulatorWebhookSecret(_ database: any Database) async throws -> String {
        let candidate = "whsec_" + AppConfig.randomSecret()
        return try await database.withConnection { db in
            try await db.raw(
                "INSERT INTO settings (name, value) VALUES ('emulator_webhook_secret', \(bind: candidate)) ON CONFLICT (name) DO NOTHING"
            ).run()
            return try await db.raw("SELECT value FROM settings WHERE name = 'emulator_webhook_secret'")
                .first(decodingColumn: "value", as: String.self) ?? candidate
        }
    }

    var stripeMode: String {
        guard !config.usesStripeEmulator, let key = config.stripeSecretKey else { return "emulator" }
        return key.contains("_live_") ? "live" : "test"
    }

    func router() -> Router<TillRequestContext> {
        let router = Router(context: TillRequestContext.self)
        router.add(middleware: ClientAddressMiddleware(trustedProxies: config.trustedProxies))
        router.add(middleware: AccessMiddleware(registry: registry))
        router.add(middleware: ErrorMiddleware())
        if let emulator {
            router.add(middleware: emulator.unrecognizedURLs(mountedAt: "/_stripe", context: TillRequestContext.self))
        }
        HealthController(database: database, registry: registry).addRoutes(to: router)
        ConfigController(
            publishableKey: config.stripePublishableKey ?? Self.emulatorPublishableKey, stripeMode: stripeMode,
            stripeAPIBase: emulator == nil ? nil : stripe.configuration.baseURL
        ).addRoutes(to: router)
        WebhookController(
            inbox: WebhookInbox(database: database, settlement: settlement, processor: processor, clock: clock),
            secrets: webhookSecrets, clock: clock
        ).addRoutes(to: router)
        if let emulator { emulator.addRoutes(to: router.group("_stripe")) }
        WebController().addRoutes(to: router)

        let api = router.group("api").add(middleware: AuthMiddleware(auth: auth, required: false))
        let authenticated = router.group("api").add(middleware: AuthMiddleware(auth: auth, required: true))
        AuthController(auth: auth).addRoutes(public: api, authenticated: authenticated)
        CatalogController(catalog: CatalogService(database: database, stripe: stripe, clock: clock))
            .addRoutes(public: api, authenticated: authenticated)
        let payments = self.payments
        OrderController(
            orders: OrderService(
                database: database, clock: clock, logger: logger, maxPendingPerUser: config.maxPendingOrdersPerUser,
                payments: payments)
        ).addRoutes(authenticated: authenticated)
        PaymentController(payments: payments, subscriptions: subscriptions).addRoutes(authenticated: authenticated)
        SubscriptionController(subscriptions: subscriptions).addRoutes(authenticated: authenticated)
        AdminController(database: database, processor: processor, clock: clock).addRoutes(authenticated: authenticated)
        return router
    }

    /// The HTTP application with its background services; the database closes after everything else has stopped.
    public func application() -> some ApplicationProtocol {
        var app = Application(
            responder: HeadResponder(router().buildResponder()),
            // Requests the HTTP parser refuses are answered in the contract's shape (`ParserErrorHandler`).
            server: .http1(
                configuration: .init(
                    additionalChannelHandlers: [HTTP10Handler.Installer(), ParserErrorHandler()],
                    idleTimeout: .seconds(Int64(config.idleTimeoutSeconds)))),
            // A listen queue of 4,096 (Linux's usual cap) instead of Hummingbird's 256: a burst of new connections,
            // such as a sale's opening or Stripe retrying a backlog of webhooks, is queued rather than dropped, which
            // costs a client a second or more before it retries its SYN.
            configuration: .init(address: .hostname(config.host, port: config.port), serverName: "till", backlog: 4096),
            logger: logger)
        app.addServices(Closer(till: self), processor, reconciler)
        if let emulator { app.addServices(emulator) }
        return app
    }

    /// Releases what `start` opened (for commands that do not run the application).
    public func close() async {
        try? await http.shutdown()
        await database.close()
    }

    /// One reconciliation pass (`till reconcile`).
    public func reconcile() async throws -> String {
        let report = try await reconciler.pass()
        try await processor.drain()
        return try JSONCoding.string(report)
    }
}

extension Till {
    /// `till migrate`: applies pending migrations and returns their versions.
    public static func migrate(config: AppConfig, logger: Logger) async throws -> [Int] {
        let database = try await DatabaseOpener.open(config.database, logger: logger)
        do {
            let applied = try await Migrations.run(on: database, logger: logger)
            await database.close()
            return applied
        } catch {
            await database.close()
            throw error
        }
    }

    /// `till admin create`.
    public static func createAdmin(config: AppConfig, email: String, password: String, logger: Logger) async throws {
        let till = try await start(config: config, logger: logger)
        do {
            try await till.auth.ensureAdmin(email: email, password: password)
        } catch {
            await till.close()
            throw error
        }
        await till.close()
    }

    /// The webhook secret `till trigger` should sign with when none is given: the configured one, or the embedded
    /// emulator's from the database.
    public static func webhookSecret(config: AppConfig, logger: Logger) async throws -> String? {
        if let first = config.stripeWebhookSecrets.first { return first }
        let database = try await DatabaseOpener.open(config.database, logger: logger)
        defer { Task { await database.close() } }
        return try? await database.withConnection { db in
            try await db.raw("SELECT value FROM settings WHERE name = 'emulator_webhook_secret'").first(
                decodingColumn: "value", as: String.self)
        }
    }
}
