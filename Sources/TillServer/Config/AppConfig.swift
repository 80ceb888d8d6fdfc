import Foundation
import Hummingbird
import Logging
import TillCore

#if canImport(Glibc)
    import Glibc
#endif

/// Every setting Till reads, built once at startup from the environment and `.env` (see API.md's table).
public struct AppConfig: Sendable, CustomStringConvertible {
    public var port: Int
    public var host: String
    public var database: DatabaseConfig
    public var stripeSecretKey: String?
    public var stripeWebhookSecrets: [String]
    public var stripePublishableKey: String?
    public var stripeAPIBase: String?
    public var publicBaseURL: String
    /// The HS256 key; `jwtSecretGenerated` says it was made up at startup.
    public var jwtSecret: String
    public var jwtSecretGenerated: Bool
    public var adminEmail: String?
    public var adminPassword: String?
    public var orderTTLSeconds: Int
    /// Whether Till serves the embedded Stripe emulator and takes payments through it (`STRIPE_EMULATOR`, and the
    /// loopback rule when unset).
    public var usesStripeEmulator: Bool
    /// A user's `PENDING` orders beyond this are refused (`MAX_PENDING_ORDERS_PER_USER`); 0 = no cap.
    public var maxPendingOrdersPerUser = 20
    /// Registrations from one client address per hour (`REGISTRATIONS_PER_ADDRESS_PER_HOUR`); 0 = no limit.
    public var registrationsPerAddressPerHour = 30
    /// Peers whose `X-Forwarded-For` is believed (`TRUSTED_PROXIES`).
    public var trustedProxies: Set<String> = []
    /// `LOG_LEVEL`; the access log is at `info`.
    public var logLevel: Logger.Level = .info
    /// `SQLITE_WAL_GATHER`: SQLite's write-ahead log is written through `SQLiteLogVFS` (a few large writes a
    /// commit) unless this is off.
    public var sqliteGatherLogWrites = true
    /// An HTTP connection with no request for this long is closed.
    public var idleTimeoutSeconds = 75
    /// bcrypt work factor (`BCRYPT_COST`, 4–15). 12 unless set; tests lower it.
    public var bcryptCost: UInt8 = 12
    /// How long an issued token lives.
    public var tokenLifetimeSeconds: Int = 24 * 3600
    public var loginLimits = LoginRateLimiter.Limits()
    /// `POST /api/payments/:id/sync` reads a payment from Stripe at most once in this many milliseconds.
    public var syncIntervalMillis = 2000
    /// How long a user's role (and existence) read from the database is trusted before it is read again.
    public var roleCacheMillis = 5000
    /// How long a processor holds a webhook event it is applying (`WEBHOOK_LEASE_SECONDS`); after a crash, other
    /// instances (or the restarted one) take the event over once this has passed.
    public var webhookLeaseSeconds = 60
    /// Time allowed for one attempt of a Stripe call, and how many retries follow a failed one.
    public var stripeTimeoutSeconds: Double = 30
    public var stripeMaxNetworkRetries = 2
    /// How often the reconciler runs its pass.
    public var reconcileInterval: Duration = .seconds(30)
    /// A live payment without a session expiry is re-read from Stripe once it is this old.
    public var reconcileStaleAfterSeconds = 3600
    /// The embedded emulator's webhook retry delays (tests use a fast schedule).
    public var emulatorRetrySchedule: [Double] = [1, 2, 5, 10, 30, 60, 120, 300]

    /// Every variable Till reads. Nothing else of the environment or `.env` is looked at.
    public static let variables = [
        "PORT", "HOST", "DATABASE_URL", "STRIPE_SECRET_KEY", "STRIPE_EMULATOR", "STRIPE_WEBHOOK_SECRET",
        "STRIPE_PUBLISHABLE_KEY", "STRIPE_API_BASE", "PUBLIC_BASE_URL", "JWT_SECRET", "ADMIN_EMAIL", "ADMIN_PASSWORD",
        "ORDER_TTL_SECONDS", "MAX_PENDING_ORDERS_PER_USER", "REGISTRATIONS_PER_ADDRESS_PER_HOUR", "TRUSTED_PROXIES",
        "LOG_LEVEL", "BCRYPT_COST", "WEBHOOK_LEASE_SECONDS", "SQLITE_WAL_GATHER",
    ]

    /// Reads the process environment over the values of `.env` in `directory` (the environment wins). The file is
    /// read by Hummingbird's `Environment`: `KEY=value` or `KEY="value"` lines and `#` comments.
    public static func load(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        dotEnvDirectory: String? = FileManager.default.currentDirectoryPath
    ) async throws -> AppConfig {
        var file = Environment(values: [:])
        if let dir = dotEnvDirectory, FileManager.default.fileExists(atPath: dir + "/.env") {
            do {
                file = try await Environment.dotEnv(dir + "/.env")
            } catch {
                throw ConfigError(problems: [
                    ".env could not be read: lines must be KEY=value or KEY=\"value\", or # comments"
                ])
            }
        }
        var values: [String: String] = [:]
        for name in variables {
            if let value = environment[name] ?? file.get(name) { values[name] = value }
        }
        return try AppConfig(values: values)
    }

    /// Builds and validates a configuration; every problem is reported at once.
    public init(values: [String: String]) throws(ConfigError) {
        var problems: [String] = []
        func value(_ key: String) -> String? {
            guard let raw = values[key]?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else { return nil }
            return raw
        }

        port = 8080
        if let raw = value("PORT") {
            if let p = Int(raw), (1...65535).contains(p) {
                port = p
            } else {
                problems.append("PORT must be a port number from 1 to 65535 (got \"\(raw)\")")
            }
        }
        host = value("HOST") ?? "127.0.0.1"

        database = .sqlite(path: "till.sqlite")
        if let raw = value("DATABASE_URL") {
            do { database = try DatabaseConfig(url: raw) } catch { problems.append(error.message) }
        }

        stripeSecretKey = value("STRIPE_SECRET_KEY")
        if let key = stripeSecretKey, !(key.hasPrefix("sk_") || key.hasPrefix("rk_")) {
            problems.append("STRIPE_SECRET_KEY must start with sk_ or rk_")
        }
        stripeWebhookSecrets = (value("STRIPE_WEBHOOK_SECRET") ?? "").split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        if stripeWebhookSecrets.contains(where: { !$0.hasPrefix("whsec_") }) {
            problems.append("STRIPE_WEBHOOK_SECRET must be one or more whsec_... values separated by commas")
        }
        stripePublishableKey = value("STRIPE_PUBLISHABLE_KEY")
        if let key = stripePublishableKey, !key.hasPrefix("pk_") {
            problems.append("STRIPE_PUBLISHABLE_KEY must start with pk_")
        }
        stripeAPIBase = value("STRIPE_API_BASE")
        if let base = stripeAPIBase, !Self.isHTTPURL(base) {
            problems.append("STRIPE_API_BASE must be an http(s) URL")
        }
        publicBaseURL = "http://localhost:\(port)"
        if let raw = value("PUBLIC_BASE_URL") {
            if Self.isHTTPURL(raw) {
                publicBaseURL = raw.hasSuffix("/") ? String(raw.dropLast()) : raw
            } else {
                problems.append("PUBLIC_BASE_URL must be an http(s) URL")
            }
        }

        if let secret = value("JWT_SECRET") {
            jwtSecret = secret
            jwtSecretGenerated = false
            if secret.utf8.count < 32 { problems.append("JWT_SECRET must be at least 32 bytes") }
        } else {
            jwtSecret = Self.randomSecret()
            jwtSecretGenerated = true
        }

        adminEmail = value("ADMIN_EMAIL")
        adminPassword = values["ADMIN_PASSWORD"].flatMap { $0.isEmpty ? nil : $0 }
        switch (adminEmail, adminPassword) {
        case (nil, nil): break
        case (let email?, let password?):
            if let problem = Validation.emailProblem(email) { problems.append("ADMIN_EMAIL \(problem)") }
            if let problem = Validation.passwordProblem(password) { problems.append("ADMIN_PASSWORD \(problem)") }
        default: problems.append("ADMIN_EMAIL and ADMIN_PASSWORD must be set together")
        }

        orderTTLSeconds = 1800
        if let raw = value("ORDER_TTL_SECONDS") {
            // Bounded (30 days): held stock must come back, and the time arithmetic on it must not overflow.
            if let ttl = Int(raw), (1...2_592_000).contains(ttl) {
                orderTTLSeconds = ttl
            } else {
                problems.append(
                    "ORDER_TTL_SECONDS must be a whole number of seconds from 1 to 2592000 (30 days) (got \"\(raw)\")")
            }
        }

        if let raw = value("WEBHOOK_LEASE_SECONDS") {
            if let seconds = Int(raw), (1...3600).contains(seconds) {
                webhookLeaseSeconds = seconds
            } else {
                problems.append("WEBHOOK_LEASE_SECONDS must be a whole number from 1 to 3600 (got \"\(raw)\")")
            }
        }
        if let raw = value("BCRYPT_COST") {
            if let cost = UInt8(raw), (4...15).contains(cost) {
                bcryptCost = cost
            } else {
                problems.append("BCRYPT_COST must be a whole number from 4 to 15 (got \"\(raw)\")")
            }
        }

        if let raw = value("LOG_LEVEL") {
            if let level = Logger.Level(rawValue: raw.lowercased()) {
                logLevel = level
            } else {
                problems.append(
                    "LOG_LEVEL must be one of trace, debug, info, notice, warning, error, critical (got \"\(raw)\")")
            }
        }
        func count(_ key: String, into target: inout Int) {
            guard let raw = value(key) else { return }
            if let n = Int(raw), (0...1_000_000).contains(n) {
                target = n
            } else {
                problems.append("\(key) must be a whole number from 0 (no limit) to 1000000 (got \"\(raw)\")")
            }
        }
        switch value("SQLITE_WAL_GATHER") {
        case nil, "1": sqliteGatherLogWrites = true
        case "0": sqliteGatherLogWrites = false
        case let other?: problems.append("SQLITE_WAL_GATHER must be 1 or 0 (got \"\(other)\")")
        }
        count("MAX_PENDING_ORDERS_PER_USER", into: &maxPendingOrdersPerUser)
        count("REGISTRATIONS_PER_ADDRESS_PER_HOUR", into: &registrationsPerAddressPerHour)
        if let raw = value("TRUSTED_PROXIES") {
            let entries = raw.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter {
                !$0.isEmpty
            }
            if let bad = entries.first(where: { !Self.isIPAddress($0) }) {
                problems.append("TRUSTED_PROXIES must be IP addresses separated by commas (got \"\(bad)\")")
            }
            trustedProxies = Set(entries.map(ClientAddressMiddleware.normalized))
        }

        // Payments through the emulator are free: it is on by default only where nobody else can reach it.
        usesStripeEmulator = false
        let loopback = Self.isLoopback(host: host) && Self.isLoopback(url: publicBaseURL)
        switch (value("STRIPE_EMULATOR"), stripeSecretKey) {
        case (nil, nil):
            if loopback {
                usesStripeEmulator = true
            } else {
                problems.append(
                    "STRIPE_SECRET_KEY is not set and Till is reachable beyond this machine (HOST=\(host), "
                        + "PUBLIC_BASE_URL=\(publicBaseURL)): set STRIPE_SECRET_KEY, or STRIPE_EMULATOR=1 to take "
                        + "emulated (fake) payments on purpose")
            }
        case (nil, _?), ("0", _?): break
        case ("1", nil): usesStripeEmulator = true
        case ("1", _?):
            problems.append("STRIPE_EMULATOR=1 and STRIPE_SECRET_KEY are both set: unset one of them")
        case ("0", nil):
            problems.append("STRIPE_EMULATOR=0 needs STRIPE_SECRET_KEY: without a key there is no way to take payments")
        case (let other?, _):
            problems.append("STRIPE_EMULATOR must be 1 or 0 (got \"\(other)\")")
        }

        if !problems.isEmpty { throw ConfigError(problems: problems) }
    }

    /// `127.0.0.0/8`, `::1` or `localhost`: reachable from this machine only.
    static func isLoopback(host rawHost: String) -> Bool {
        var host = rawHost.lowercased()
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host == "localhost" || host.hasSuffix(".localhost") || host == "::1" { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }

    static func isLoopback(url: String) -> Bool {
        guard let host = URLComponents(string: url)?.host else { return false }
        return isLoopback(host: host)
    }

    static func isIPAddress(_ s: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, s, &v4) == 1 || inet_pton(AF_INET6, s, &v6) == 1
    }

    /// Configuration as printed at startup: secrets never appear.
    public var description: String {
        let redacted = "<redacted>"
        return [
            "HOST=\(host)",
            "PORT=\(port)",
            "DATABASE_URL=\(database.redactedURL)",
            "STRIPE_SECRET_KEY=\(stripeSecretKey == nil ? "(unset)" : redacted)",
            "STRIPE_EMULATOR=\(usesStripeEmulator ? "1 (emulated payments: no real money moves)" : "0")",
            "STRIPE_WEBHOOK_SECRET=\(stripeWebhookSecrets.isEmpty ? "(unset)" : redacted)",
            "STRIPE_PUBLISHABLE_KEY=\(stripePublishableKey ?? "(unset)")",
            "STRIPE_API_BASE=\(stripeAPIBase ?? "(default)")",
            "PUBLIC_BASE_URL=\(publicBaseURL)",
            "JWT_SECRET=\(jwtSecretGenerated ? "(generated)" : redacted)",
            "ADMIN_EMAIL=\(adminEmail ?? "(unset)")",
            "ADMIN_PASSWORD=\(adminPassword == nil ? "(unset)" : redacted)",
            "ORDER_TTL_SECONDS=\(orderTTLSeconds)",
            "BCRYPT_COST=\(bcryptCost)",
            "WEBHOOK_LEASE_SECONDS=\(webhookLeaseSeconds)",
            "MAX_PENDING_ORDERS_PER_USER=\(maxPendingOrdersPerUser)",
            "REGISTRATIONS_PER_ADDRESS_PER_HOUR=\(registrationsPerAddressPerHour)",
            "TRUSTED_PROXIES=\(trustedProxies.isEmpty ? "(unset)" : trustedProxies.sorted().joined(separator: ","))",
            "LOG_LEVEL=\(logLevel.rawValue)",
            "SQLITE_WAL_GATHER=\(sqliteGatherLogWrites ? 1 : 0)",
        ].joined(separator: "\n")
    }

    static func isHTTPURL(_ s: String) -> Bool {
        guard let url = URL(string: s), let scheme = url.scheme?.lowercased(), url.host != nil else { return false }
        return scheme == "http" || scheme == "https"
    }

    static func randomSecret() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<48).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }
}

/// Every bad configuration value, listed together.
public struct ConfigError: Error, CustomStringConvertible, Sendable {
    public let problems: [String]
    public var description: String {
        "Invalid configuration:\n" + problems.map { "  - \($0)" }.joined(separator: "\n")
    }
}
