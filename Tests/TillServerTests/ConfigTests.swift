import Foundation
import Testing

@_spi(Bench) @testable import TillServer

@Suite("Configuration")
struct ConfigTests {
    @Test("defaults match the contract")
    func defaults() throws {
        let config = try AppConfig(values: [:])
        #expect(config.port == 8080)
        #expect(config.database == .sqlite(path: "till.sqlite"))
        #expect(config.publicBaseURL == "http://localhost:8080")
        #expect(config.orderTTLSeconds == 1800)
        #expect(config.usesStripeEmulator)
        #expect(config.jwtSecretGenerated)
        #expect(config.jwtSecret.utf8.count >= 32)
    }

    @Test("every bad value is reported in one error")
    func allProblems() {
        do {
            _ = try AppConfig(values: [
                "PORT": "eighty", "DATABASE_URL": "mysql://x", "JWT_SECRET": "short", "STRIPE_SECRET_KEY": "pk_wrong",
                "STRIPE_WEBHOOK_SECRET": "whsec_a,nope", "ORDER_TTL_SECONDS": "-5", "ADMIN_EMAIL": "root@example.com",
            ])
            Issue.record("expected a configuration error")
        } catch {
            let text = error.description
            for key in [
                "PORT", "DATABASE_URL", "JWT_SECRET", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "ORDER_TTL_SECONDS",
                "ADMIN_PASSWORD",
            ] {
                #expect(text.contains(key), "missing \(key) in \(text)")
            }
            #expect(error.problems.count == 7)
        }
    }

    @Test("an order time to live that would overflow the clock's arithmetic is a configuration error")
    func hugeTTL() throws {
        for raw in ["9223372036854775807", "2592001", "0"] {
            #expect(throws: ConfigError.self) { try AppConfig(values: ["ORDER_TTL_SECONDS": raw]) }
        }
        #expect(try AppConfig(values: ["ORDER_TTL_SECONDS": "2592000"]).orderTTLSeconds == 2_592_000)
    }

    @Test("secrets are printed as <redacted>")
    func redaction() throws {
        let secrets = [
            "JWT_SECRET": "jwt-secret-value-0123456789abcdef-0123", "STRIPE_SECRET_KEY": "sk_test_supersecret",
            "STRIPE_WEBHOOK_SECRET": "whsec_one,whsec_two", "ADMIN_EMAIL": "a@b.co", "ADMIN_PASSWORD": "hunter2hunter2",
            "DATABASE_URL": "postgres://till:dbpass@db.local:5433/till",
        ]
        let text = try AppConfig(values: secrets).description
        for value in ["jwt-secret-value", "supersecret", "whsec_one", "whsec_two", "hunter2", "dbpass"] {
            #expect(!text.contains(value))
        }
        #expect(text.contains("<redacted>"))
        #expect(text.contains("db.local:5433/till"))
    }

    @Test("database URLs: sqlite paths, memory and postgres with its parts")
    func databaseURLs() throws {
        #expect(try DatabaseConfig(url: "sqlite://data/till.db") == .sqlite(path: "data/till.db"))
        #expect(try DatabaseConfig(url: "sqlite:///var/lib/till.db") == .sqlite(path: "/var/lib/till.db"))
        #expect(try DatabaseConfig(url: "sqlite::memory:") == .sqliteMemory)
        guard case .postgres(let pg) = try DatabaseConfig(url: "postgres://u:p%40ss@h:6543/db?sslmode=require") else {
            Issue.record("not postgres")
            return
        }
        #expect(pg.host == "h")
        #expect(pg.port == 6543)
        #expect(pg.password == "p@ss")
        #expect(pg.database == "db")
        #expect(pg.useTLS)
    }

    @Test("the .env file is read and the environment wins over it")
    func dotEnv() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try """
        # a comment
        PORT=9090
        ORDER_TTL_SECONDS="600"
        PUBLIC_BASE_URL=https://shop.example.com/
        LOG_LEVEL=warning
        NOT_A_SETTING=ignored
        STRIPE_SECRET_KEY=sk_test_from_dotenv
        """.write(to: dir.appendingPathComponent(".env"), atomically: true, encoding: .utf8)
        let config = try await AppConfig.load(environment: ["PORT": "7070"], dotEnvDirectory: dir.path)
        #expect(config.logLevel == .warning, "LOG_LEVEL in .env is read like any other setting")
        #expect(config.port == 7070)
        #expect(config.orderTTLSeconds == 600)
        #expect(config.publicBaseURL == "https://shop.example.com")
    }
}
