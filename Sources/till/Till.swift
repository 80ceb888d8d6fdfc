import ArgumentParser
import Foundation
import Hummingbird
import Logging
import StripeAPI
import StripeEmulator
import TillBench
import TillServer

@main
struct TillCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "till",
        abstract: "Till: a self-hostable payments service built on Stripe.",
        subcommands: [
            Serve.self, Migrate.self, Admin.self, Trigger.self, Emulator.self, Reconcile.self, Bench.self,
            BenchSummary.self,
        ],
        defaultSubcommand: Serve.self)
}

/// Loads the configuration or exits with every problem listed.
func loadConfig() async -> AppConfig {
    do {
        return try await AppConfig.load()
    } catch {
        FileHandle.standardError.write(Data("\(error)\n".utf8))
        Foundation.exit(78)  // EX_CONFIG
    }
}

/// The configuration, and the logger at its `LOG_LEVEL` (from the environment or `.env`, validated with the rest).
func startup() async -> (AppConfig, Logger) {
    let config = await loadConfig()
    return (config, makeLogger(level: config.logLevel))
}

/// Standard output, written in batches by a thread of its own (the access log writes a line a request).
let logWriter = LogWriter.standardOutput()

func makeLogger(level: Logger.Level) -> Logger {
    // TILL_LOG_HANDLER=stream: swift-log's StreamLogHandler (a lock and a write a line), for the benchmark's A/B.
    if ProcessInfo.processInfo.environment["TILL_LOG_HANDLER"] == "stream" {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardOutput(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: "till")
    }
    LoggingSystem.bootstrap { label in BatchedLogHandler(label: label, writer: logWriter, level: level) }
    atexit { logWriter.flush() }
    return Logger(label: "till")
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the HTTP server (the default).")

    func run() async throws {
        let (config, logger) = await startup()
        logger.info("configuration\n\(config)")
        if config.jwtSecretGenerated {
            logger.warning("JWT_SECRET is not set: using a generated key; tokens stop working when Till restarts")
        }
        raiseOpenFileLimit(logger: logger)
        let till = try await Till.start(config: config, logger: logger)
        logger.info("till listening", metadata: ["port": "\(config.port)"])
        try await till.application().runService()
    }
}

/// Each connection is a file descriptor, and many systems start a process with a soft limit of 1,024: a sale's
/// opening or a backlog of webhooks would be refused connections well before the machine runs short. The soft limit
/// goes up to the hard one, as Go's runtime does for its servers.
func raiseOpenFileLimit(logger: Logger) {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
    let before = limit.rlim_cur
    limit.rlim_cur = limit.rlim_max
    if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 {
        logger.debug("open file limit raised", metadata: ["from": "\(before)", "to": "\(limit.rlim_max)"])
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply database migrations and exit.")

    func run() async throws {
        let (config, logger) = await startup()
        let applied = try await Till.migrate(config: config, logger: logger)
        print(
            applied.isEmpty
                ? "Database is up to date." : "Applied migrations: \(applied.map(String.init).joined(separator: ", "))")
    }
}

struct Admin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage admin accounts.", subcommands: [Create.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an admin, or make an existing user an admin with this password.")

        @Option(help: "The admin's email.") var email: String
        @Option(help: "The admin's password (at least 8 characters).") var password: String

        func run() async throws {
            let (config, logger) = await startup()
            try await Till.createAdmin(config: config, email: email, password: password, logger: logger)
            print("Admin \(email.lowercased()) is ready.")
        }
    }
}

struct Trigger: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send a signed, realistic Stripe event to a webhook endpoint (an offline `stripe trigger`).",
        discussion: "Event types: \(TestEvents.supportedTypes.joined(separator: ", "))")

    @Argument(help: "The event type, e.g. checkout.session.completed.") var eventType: String
    @Option(help: "The webhook URL.") var to: String = "http://127.0.0.1:8080/api/webhooks/stripe"
    @Option(help: "The signing secret (default: the first of STRIPE_WEBHOOK_SECRET).") var secret: String?
    @Option(help: "Put this order id in metadata.orderId and client_reference_id.") var order: String?
    @Option(help: "Put this payment id in metadata.paymentId.") var payment: String?
    @Option(help: "The Checkout Session id (cs_...).") var session: String?
    @Option(name: .customLong("payment-intent"), help: "The PaymentIntent id (pi_...).") var paymentIntent: String?
    @Option(help: "The amount in minor units.") var amount: Int = 1999
    @Option(help: "The currency.") var currency: String = "usd"
    @Option(name: .customLong("amount-refunded"), help: "For charge.refunded: the amount refunded so far.")
    var amountRefunded: Int?
    @Flag(help: "For checkout.session.completed: payment_status unpaid (a delayed payment method).") var unpaid = false
    @Option(help: "For invoice.* and customer.subscription.*: the Stripe subscription id (sub_...).") var subscription:
        String?
    @Option(help: "For invoice.*: the invoice id (in_...).") var invoice: String?
    @Option(help: "For invoice.* and customer.subscription.*: the customer id (cus_...).") var customer: String?
    @Option(
        name: .customLong("subscription-metadata"),
        help: "For billing events: the subscription's metadata, key=value (repeat), e.g. subscriptionId=... userId=...")
    var subscriptionMetadata: [String] = []
    @Option(
        name: .customLong("subscription-status"),
        help: "For customer.subscription.updated: the status (default active).")
    var subscriptionStatus: String?
    @Flag(
        name: .customLong("cancel-at-period-end"), help: "For customer.subscription.updated: cancel_at_period_end true."
    )
    var cancelAtPeriodEnd = false
    @Option(help: "How many distinct events to send.") var count: Int = 1
    @Flag(help: "Deliver every event twice, as Stripe sometimes does.") var duplicate = false

    func run() async throws {
        var secrets = secret.map { [$0] } ?? []
        if secrets.isEmpty, let config = try? await AppConfig.load(),
            let configured = try? await Till.webhookSecret(config: config, logger: Logger(label: "till-trigger"))
        {
            secrets = [configured]
        }
        guard !secrets.isEmpty else {
            throw ValidationError(
                "No signing secret: pass --secret whsec_..., set STRIPE_WEBHOOK_SECRET, or run till serve once")
        }
        var options = TestEvents.Options(
            orderId: order, paymentId: payment, sessionId: session, paymentIntentId: paymentIntent, amount: amount,
            currency: currency.lowercased(), amountRefunded: amountRefunded, paymentStatus: unpaid ? "unpaid" : "paid")
        options.subscriptionId = subscription
        options.invoiceId = invoice
        options.customerId = customer
        options.subscriptionStatus = subscriptionStatus
        options.cancelAtPeriodEnd = cancelAtPeriodEnd
        for pair in subscriptionMetadata {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else {
                throw ValidationError("--subscription-metadata takes key=value (got \(pair))")
            }
            options.subscriptionMetadata[String(parts[0])] = String(parts[1])
        }
        let deliveries = try await WebhookTrigger(url: to, secrets: secrets)
            .send(type: eventType, options: options, count: count, duplicate: duplicate)
        for delivery in deliveries {
            print("\(delivery.eventId) \(eventType) -> \(delivery.status) \(delivery.body)")
        }
        if deliveries.contains(where: { !(200..<300).contains($0.status) }) { throw ExitCode(1) }
    }
}

struct Emulator: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the Stripe emulator on its own, for other apps and Stripe's SDKs (any sk_test_ key works).")

    @Option(help: "The port to listen on.") var port: Int = 12111
    @Option(help: "The address to listen on.") var host: String = "127.0.0.1"
    @Option(name: .customLong("base-url"), help: "The base URL clients use (default http://HOST:PORT).") var baseURL:
        String?
    @Flag(name: .customLong("fast-retries"), help: "Retry failed webhook deliveries within a second (for tests).")
    var fastRetries = false

    func run() async throws {
        // The standalone emulator takes no other setting of Till's: only the log level from the environment.
        let level = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0.lowercased()) }
        let logger = makeLogger(level: level ?? .info)
        let emulator = StripeEmulator(
            configuration: .init(
                baseURL: baseURL ?? "http://\(host):\(port)",
                retrySchedule: fastRetries
                    ? StripeEmulator.Configuration.fastRetrySchedule : StripeEmulator.Configuration.defaultRetrySchedule
            ),
            logger: logger)
        let router = Router()
        router.add(middleware: emulator.unrecognizedURLs(context: BasicRequestContext.self))
        emulator.addRoutes(to: router)
        var app = Application(
            router: router,
            server: .http1(configuration: .init(additionalChannelHandlers: [HTTP10Handler.Installer()])),
            configuration: .init(address: .hostname(host, port: port), serverName: "stripe-emulator"),
            logger: logger)
        app.addServices(emulator)
        logger.info("Stripe emulator listening", metadata: ["base_url": "\(emulator.configuration.baseURL)"])
        try await app.runService()
    }
}

struct Reconcile: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Run one reconciliation pass: re-read stuck payments from Stripe, retry failed webhook events and refunds, expire unpaid orders."
    )

    func run() async throws {
        let (config, logger) = await startup()
        if config.usesStripeEmulator, config.stripeAPIBase == nil {
            logger.warning(
                "no STRIPE_SECRET_KEY: the embedded emulator of this process starts empty, so there is nothing to reconcile against"
            )
        }
        let till = try await Till.start(config: config, logger: logger)
        let report = try await till.reconcile()
        await till.close()
        print(report)
    }
}

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Benchmark helpers for Benchmarks/run: prepare (seed and sign deliveries), settle (wait and verify), checkout (orders and sessions by concurrent clients), oversell-prepare and oversell-check."
    )

    @Argument(help: "prepare, settle, checkout, oversell-prepare or oversell-check") var step: String
    @Option(help: "The Till to load.") var url: String = "http://127.0.0.1:8080"
    @Option(help: "Events (orders) to settle.") var events: Int = 20000
    @Option(help: "Share of deliveries sent twice.") var duplicates: Double = 0.1
    @Option(help: "prepare, oversell-prepare: where to write the requests.") var file: String = "deliveries.txt"
    @Option(help: "oversell-check: the product the round raced for.") var product: String?
    @Option(name: .customLong("started-at"), help: "settle: when sending began, in seconds since 1970.") var startedAt:
        Double = 0
    @Option(help: "The server's process id, to read its memory.") var pid: Int?
    @Option(
        name: .customLong("seeded-after"),
        help: "settle: when seeding began, in seconds since 1970; older orders and payments are not counted.")
    var seededAfter: Double = 0
    @Option(help: "checkout: concurrent clients (1-1000).") var clients: Int = 16
    @Option(help: "checkout: orders and sessions to make in all.") var count: Int = 2000
    @Option(help: "checkout: milliseconds the embedded emulator waits before answering each API call (0-10000).")
    var latency: Int = 0

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .error
            return handler
        }
        let config = await loadConfig()
        guard let email = config.adminEmail, let password = config.adminPassword else {
            throw ValidationError("set ADMIN_EMAIL and ADMIN_PASSWORD (the same as the server's)")
        }
        guard let secret = try await Till.webhookSecret(config: config, logger: Logger(label: "bench")) else {
            throw ValidationError("no webhook secret: set STRIPE_WEBHOOK_SECRET (the same as the server's)")
        }
        let bench = Benchmark(
            options: .init(
                baseURL: url, database: config.database, secret: secret, adminEmail: email, adminPassword: password,
                events: events, duplicateShare: duplicates, serverPID: pid))
        defer { Task { await bench.shutdown() } }
        switch step {
        case "prepare": print(try await bench.prepare(file: file))
        case "settle": print(try await bench.settle(startedAt: startedAt, seededAfter: seededAfter))
        case "checkout":
            print(try await bench.checkout(clients: clients, count: count, latencyMillis: min(max(latency, 0), 10_000)))
        case "oversell-prepare": print(try await bench.oversellPrepare(file: file))
        case "oversell-check":
            guard let product else { throw ValidationError("oversell-check needs --product") }
            print(try await bench.oversellCheck(productId: product))
        default: throw ValidationError("step is prepare, settle, checkout, oversell-prepare or oversell-check")
        }
    }
}

struct BenchSummary: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-summary",
        abstract: "Fill a database with orders (once) and print the admin dashboard summary's latency.")

    @Option(help: "The database to fill and query: sqlite://PATH or postgres://...") var databaseURL: String
    @Option(help: "Orders the database should hold.") var orders: Int = 1_000_000
    @Option(help: "Timed runs of each query.") var runs: Int = 20

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .warning
            return handler
        }
        let database = try DatabaseConfig(url: databaseURL)
        let report = try await AdminSummaryBenchmark.run(
            database: database, orders: orders, runs: runs, logger: Logger(label: "bench"))
        print(report)
    }
}
