import Logging
import PostgresKit
import PostgresNIO
import SQLKit
import TillCore

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
        let store = PostgresStore(
            client: PostgresClient(configuration: configuration, backgroundLogger: logger), logger: logger)
        guard await store.ping() else {
            await store.close()
            throw DatabaseUnavailable(description: "PostgreSQL at \(settings.host):\(settings.port) did not answer")
        }
        return store
    }

    func withConnection<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        do {
            return try await client.withConnection { connection in try await body(connection.sql(queryLogLevel: nil)) }
        } catch let error where Self.isConflict(error) {
            // Statements outside a transaction are not re-run (the body may have done part of its work).
            logger.warning("statement lost to a deadlock or serialization conflict", metadata: ["error": "\(error)"])
            throw TillError.busy
        }
    }

    /// Runs `body` in a transaction, again from the start when PostgreSQL aborts it for a deadlock (40P01) or a
    /// serialization failure (40001), a bounded number of times with a growing random pause; then 503 `busy`.
    func transaction<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        for attempt in 1...Self.maxAttempts {
            do {
                return try await transactionOnce(body)
            } catch let error where Self.isConflict(error) {
                if attempt == Self.maxAttempts {
                    logger.warning(
                        "transaction kept conflicting; giving up",
                        metadata: ["attempts": "\(attempt)", "error": "\(error)"])
                    break
                }
                logger.debug("transaction conflicted; retrying", metadata: ["attempt": "\(attempt)"])
                try await Task.sleep(for: .milliseconds(Int.random(in: 1...(4 << attempt))))
            }
        }
        throw TillError.busy
    }

    static let maxAttempts = 6

    private func transactionOnce<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
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

    /// A deadlock or serialization failure: the transaction was aborted and may simply be run again.
    static func isConflict(_ error: any Error) -> Bool {
        let state = sqlState(error)
        return state == "40P01" || state == "40001"
    }

    /// Text PostgreSQL cannot store (a NUL character, or bytes its encoding has no character for): the client's
    /// input, not a fault of the server.
    static func isUnstorableText(_ error: any Error) -> Bool {
        let state = sqlState(error)
        return state == "22021" || state == "22P05"
    }

    private static func sqlState(_ error: any Error) -> String? {
        var candidate: (any Error)? = error
        if let wrapped = error as? PostgresTransactionError { candidate = wrapped.closureError ?? wrapped.commitError }
        return (candidate as? PSQLError)?.serverInfo?[.sqlState]
    }

    func close() async {
        runTask.cancel()
        _ = await runTask.value
    }
}

struct DatabaseUnavailable: Error, CustomStringConvertible {
    let description: String
}
