import ArgumentParser
import Foundation
import Logging
import TillServer

@main
struct TillCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "till",
        abstract: "Till: a self-hostable payments service built on Stripe.",
        subcommands: [Serve.self, Migrate.self, Admin.self],
        defaultSubcommand: Serve.self)
}

/// Loads the configuration or exits with every problem listed.
func loadConfig(logger: Logger) -> AppConfig {
    do {
        return try AppConfig.load()
    } catch {
        FileHandle.standardError.write(Data("\(error)\n".utf8))
        Foundation.exit(78)  // EX_CONFIG
    }
}

func makeLogger() -> Logger {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardOutput(label: label)
        handler.logLevel = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        return handler
    }
    return Logger(label: "till")
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the HTTP server (the default).")

    func run() async throws {
        let logger = makeLogger()
        let config = loadConfig(logger: logger)
        logger.info("configuration\n\(config)")
        if config.jwtSecretGenerated {
            logger.warning("JWT_SECRET is not set: using a generated key; tokens stop working when Till restarts")
        }
        let till = try await Till.start(config: config, logger: logger)
        logger.info("till listening", metadata: ["port": "\(config.port)"])
        try await till.application(logger: logger).runService()
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply database migrations and exit.")

    func run() async throws {
        let logger = makeLogger()
        let config = loadConfig(logger: logger)
        let applied = try await Till.migrate(config: config, logger: logger)
        print(applied.isEmpty ? "Database is up to date." : "Applied migrations: \(applied.map(String.init).joined(separator: ", "))")
    }
}

struct Admin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage admin accounts.", subcommands: [Create.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an admin, or make an existing user an admin with this password.")

        @Option(help: "The admin's email.") var email: String
        @Option(help: "The admin's password (at least 8 characters).") var password: String

        func run() async throws {
            let logger = makeLogger()
            let config = loadConfig(logger: logger)
            try await Till.createAdmin(config: config, email: email, password: password, logger: logger)
            print("Admin \(email.lowercased()) is ready.")
        }
    }
}
