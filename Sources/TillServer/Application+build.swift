import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle

/// Everything `till serve` runs, built from a configuration: the one composition root for `main` and the tests.
public struct Till: Sendable {
    public let config: AppConfig
    public let database: any Database
    let auth: AuthService
    let registry: PrometheusCollectorRegistry

    /// Opens the database, applies migrations and makes sure the configured admin exists.
    public static func start(config: AppConfig, logger: Logger, clock: TillClock = .system) async throws -> Till {
        let database = try await DatabaseOpener.open(config.database, logger: logger)
        do {
            try await Migrations.run(on: database, logger: logger)
            let auth = await AuthService(
                database: database, config: config, limiter: LoginRateLimiter(limits: config.loginLimits),
                clock: clock, logger: logger)
            if let email = config.adminEmail, let password = config.adminPassword {
                try await auth.ensureAdmin(email: email, password: password)
                logger.info("admin account ensured", metadata: ["admin.email": "\(email)"])
            }
            return Till(config: config, database: database, auth: auth, registry: PrometheusCollectorRegistry())
        } catch {
            await database.close()
            throw error
        }
    }

    func router(clock: TillClock, logger: Logger) -> Router<TillRequestContext> {
        let router = Router(context: TillRequestContext.self)
        router.add(middleware: AccessMiddleware(registry: registry))
        router.add(middleware: ErrorMiddleware())
        HealthController(database: database, registry: registry).addRoutes(to: router)

        let api = router.group("api").add(middleware: AuthMiddleware(auth: auth, required: false))
        let authenticated = router.group("api").add(middleware: AuthMiddleware(auth: auth, required: true))
        AuthController(auth: auth).addRoutes(public: api, authenticated: authenticated)
        CatalogController(catalog: CatalogService(database: database, clock: clock))
            .addRoutes(public: api, authenticated: authenticated)
        OrderController(orders: OrderService(database: database, clock: clock, logger: logger))
            .addRoutes(authenticated: authenticated)
        return router
    }

    /// The HTTP application with its background services; the database closes when it shuts down.
    public func application(logger: Logger, clock: TillClock = .system) -> some ApplicationProtocol {
        var app = Application(
            router: router(clock: clock, logger: logger),
            configuration: .init(address: .hostname(config.host, port: config.port), serverName: "till"),
            logger: logger)
        app.addServices(DatabaseCloser(database: database))
        return app
    }
}

/// Closes the database once everything else has shut down.
struct DatabaseCloser: Service {
    let database: any Database

    func run() async throws {
        try? await gracefulShutdown()
        await database.close()
    }
}

extension Till {
    /// `till migrate`: applies pending migrations and returns their versions.
    public static func migrate(config: AppConfig, logger: Logger) async throws -> [Int] {
        let database = try await DatabaseOpener.open(config.database, logger: logger)
        defer { Task { await database.close() } }
        return try await Migrations.run(on: database, logger: logger)
    }

    /// `till admin create`.
    public static func createAdmin(config: AppConfig, email: String, password: String, logger: Logger) async throws {
        let till = try await start(config: config, logger: logger)
        do {
            try await till.auth.ensureAdmin(email: email, password: password)
        } catch {
            await till.database.close()
            throw error
        }
        await till.database.close()
    }
}
