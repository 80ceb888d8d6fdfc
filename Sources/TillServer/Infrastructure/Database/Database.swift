import Logging
import SQLKit

public enum DatabaseKind: String, Sendable {
    case sqlite
    case postgres
}

/// Till's handle on its database: plain statements and transactions over SQLKit, the same for SQLite and PostgreSQL.
public protocol Database: Sendable {
    var kind: DatabaseKind { get }
    /// Runs `body` on one connection outside a transaction.
    func withConnection<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T
    /// Runs `body` in one transaction: committed when it returns, rolled back when it throws.
    func transaction<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T
    func close() async
}

/// Opens the configured database.
public enum DatabaseOpener {
    /// `sqliteGatherLogWrites`: write SQLite's log through `SQLiteLogVFS` (`SQLITE_WAL_GATHER`).
    public static func open(_ config: DatabaseConfig, logger: Logger, sqliteGatherLogWrites: Bool = true) async throws
        -> any Database
    {
        switch config {
        case .sqlite(let path):
            try await SQLiteStore.open(path: path, gatherLogWrites: sqliteGatherLogWrites, logger: logger)
        case .sqliteMemory:
            try await SQLiteStore.open(path: nil, gatherLogWrites: sqliteGatherLogWrites, logger: logger)
        case .postgres(let settings): try await PostgresStore.open(settings, logger: logger)
        }
    }
}

extension Database {
    /// True when the database answers a trivial query.
    public func ping() async -> Bool {
        do {
            return try await withConnection { db in
                try await db.raw("SELECT 1 AS one").first(decodingColumn: "one", as: Int.self) == 1
            }
        } catch {
            return false
        }
    }
}

extension SQLDatabase {
    /// PostgreSQL: locks the rows of `table` with these ids, in id order, before a statement that updates several
    /// of them (whose plan would lock them in any order). Transactions that take rows in one global order never wait
    /// on each other in a cycle. SQLite has one writer and needs nothing.
    func lockInOrder(_ table: String, ids: [String], kind: DatabaseKind) async throws {
        guard kind == .postgres, ids.count > 1 else { return }
        try await raw("SELECT id FROM \(ident: table) WHERE id IN (\(binds: ids)) ORDER BY id FOR UPDATE").run()
    }
}
