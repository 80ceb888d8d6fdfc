import Logging
import NIOPosix
import SQLKit
import SQLiteKit

/// SQLite in WAL mode behind one connection. SQLite allows one writer at a time; a single connection with an
/// async lock in front of it serialises writers in the process instead of failing them with SQLITE_BUSY.
final class SQLiteStore: Database {
    let kind = DatabaseKind.sqlite
    private let connection: SQLiteConnection
    private let lock = AsyncLock()
    private let logger: Logger

    private init(connection: SQLiteConnection, logger: Logger) {
        self.connection = connection
        self.logger = logger
    }

    static func open(path: String?, logger: Logger) async throws -> SQLiteStore {
        let connection = try await SQLiteConnection.open(
            storage: path.map { .file(path: $0) } ?? .memory, logger: logger)
        let store = SQLiteStore(connection: connection, logger: logger)
        let db = store.sql
        // WAL with synchronous=NORMAL: a commit survives a crash of the process (kill -9); only a power loss
        // can take back the last commits. busy_timeout covers other processes using the same file.
        if path != nil {
            try await db.raw("PRAGMA journal_mode=WAL").run()
        }
        try await db.raw("PRAGMA synchronous=NORMAL").run()
        try await db.raw("PRAGMA foreign_keys=ON").run()
        try await db.raw("PRAGMA busy_timeout=5000").run()
        return store
    }

    private var sql: any SQLDatabase { connection.sql(queryLogLevel: nil) }

    func withConnection<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await lock.withLock { try await body(sql) }
    }

    func transaction<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await lock.withLock {
            let db = sql
            try await db.raw("BEGIN IMMEDIATE").run()
            do {
                let result = try await body(db)
                try await db.raw("COMMIT").run()
                return result
            } catch {
                do { try await db.raw("ROLLBACK").run() } catch {
                    logger.error("sqlite rollback failed", metadata: ["error": "\(error)"])
                }
                throw error
            }
        }
    }

    /// Closes once no statement is running. SQLite refuses to close while a statement cancelled mid-step is still
    /// being finalised, so a refusal is retried for a moment; a handle that will not close is kept rather than
    /// dropped open.
    func close() async {
        for attempt in 1...20 {
            do {
                try await lock.withLock { try await connection.close() }
                return
            } catch {
                if attempt == 20 {
                    logger.error("sqlite close failed; keeping the handle", metadata: ["error": "\(error)"])
                    _ = Unmanaged.passRetained(connection)
                    return
                }
                try? await Task.sleep(for: .milliseconds(50))
            }
        }
    }
}
