import Foundation
import TillCore

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
    /// bcrypt work factor (`BCRYPT_COST`, 4–15). 12 unless set; tests lower it.
    public var bcryptCost: UInt8 = 12
    /// How long an issued token lives.
    public var tokenLifetimeSeconds: Int = 24 * 3600
    public var loginLimits = LoginRateLimiter.Limits()
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

    /// Reads the process environment over the values of `.env` in `directory` (the environment wins).
    public static func load(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        dotEnvDirectory: String? = FileManager.default.currentDirectoryPath
    ) throws(ConfigError) -> AppConfig {
        var merged: [String: String] = [:]
        if let dir = dotEnvDirectory,
            let text = try? String(contentsOfFile: dir + "/.env", encoding: .utf8)
        {
            merged = DotEnv.parse(text)
        }
        merged.merge(environment) { _, env in env }
        return try AppConfig(values: merged)
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
            if let p = Int(raw), (1...65535).contains(p) { port = p } else {
                problems.append("PORT must be a port number from 1 to 65535 (got \"\(raw)\")")
            }
        }
        host = value("HOST") ?? "0.0.0.0"

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
            if let ttl = Int(raw), ttl > 0 { orderTTLSeconds = ttl } else {
                problems.append("ORDER_TTL_SECONDS must be a positive whole number of seconds (got \"\(raw)\")")
            }
        }

        if let raw = value("WEBHOOK_LEASE_SECONDS") {
            if let seconds = Int(raw), (1...3600).contains(seconds) { webhookLeaseSeconds = seconds } else {
                problems.append("WEBHOOK_LEASE_SECONDS must be a whole number from 1 to 3600 (got \"\(raw)\")")
            }
        }
        if let raw = value("BCRYPT_COST") {
            if let cost = UInt8(raw), (4...15).contains(cost) { bcryptCost = cost } else {
                problems.append("BCRYPT_COST must be a whole number from 4 to 15 (got \"\(raw)\")")
            }
        }

        if !problems.isEmpty { throw ConfigError(problems: problems) }
    }

    /// The embedded emulator is used when no Stripe key is configured.
    public var usesStripeEmulator: Bool { stripeSecretKey == nil }

    /// Configuration as printed at startup: secrets never appear.
    public var description: String {
        let redacted = "<redacted>"
        return [
            "PORT=\(port)",
            "DATABASE_URL=\(database.redactedURL)",
            "STRIPE_SECRET_KEY=\(stripeSecretKey == nil ? "(unset: embedded emulator)" : redacted)",
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
