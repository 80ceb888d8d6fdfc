import Logging
import PostgresKit
import PostgresNIO
import SQLKit

/// PostgreSQL through PostgresNIO's connection pool; several Till instances may share one database.
final class PostgresStore: Database {
    let kind = DatabaseKind.postgres
    private let client: PostgresClient
    private let runTask: Task<Void, Never>
    private let logger: Logger

    private init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
        self.runTask = Task { await client.run() }
    }

    static func open(_ settings: DatabaseConfig.PostgresSettings, logger: Logger) async throws -> PostgresStore {
        var configuration = PostgresClient.Configuration(
            host: settings.host, port: settings.port, username: settings.username, password: settings.password,
            database: settings.database, tls: settings.useTLS ? .require(.makeClientConfiguration()) : .disable)
        configuration.options.maximumConnections = settings.maxConnections
        if let schema = settings.schema {
            configuration.options.additionalStartupParameters = [("search_path", schema)]
        }
        let store = PostgresStore(client: PostgresClient(configuration: configuration, backgroundLogger: logger), logger: logger)
        guard await store.ping() else {
            await store.close()
            throw DatabaseUnavailable(description: "PostgreSQL at \(settings.host):\(settings.port) did not answer")
        }
        return store
    }

    func withConnection<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await client.withConnection { connection in try await body(connection.sql(queryLogLevel: nil)) }
    }

    func transaction<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        do {
            return try await client.withTransaction(logger: logger) { connection in
                try await body(connection.sql(queryLogLevel: nil))
            }
        } catch let error as PostgresTransactionError {
            // The transaction was rolled back; callers care about why the work failed, not about the wrapper.
            if let closureError = error.closureError, error.rollbackError == nil { throw closureError }
            throw error
        }
    }

    func close() async {
        runTask.cancel()
        _ = await runTask.value
    }
}

struct DatabaseUnavailable: Error, CustomStringConvertible {
    let description: String
}
