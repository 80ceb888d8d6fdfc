import Logging
import SQLKit

/// SQLite in WAL mode behind one connection. SQLite allows one writer at a time; a single connection with an
/// async lock in front of it serialises writers in the process instead of failing them with SQLITE_BUSY.
final class SQLiteStore: Database {
    let kind = DatabaseKind.sqlite
    private let handle: SQLiteHandle
    private let lock = AsyncLock()
    private let logger: Logger
    private let checkpointer: SQLiteCheckpointer?

    private init(handle: SQLiteHandle, checkpointer: SQLiteCheckpointer?, logger: Logger) {
        self.handle = handle
        self.checkpointer = checkpointer
        self.logger = logger
    }

    static func open(path: String?, gatherLogWrites: Bool = true, logger: Logger) async throws -> SQLiteStore {
        let handle = try SQLiteHandle(path: path ?? ":memory:", gatherLogWrites: gatherLogWrites)
        logger.info(
            "SQLite",
            metadata: [
                "sqlite.version": "\(SQLiteHandle.libraryVersion)", "sqlite.gather_log_writes": "\(gatherLogWrites)",
            ])
        let db = SQLiteHandleDatabase(handle: handle, logger: logger)
        // WAL with synchronous=NORMAL: a commit is in the log file before the caller hears of it, so it survives a
        // crash of the process (kill -9); only a power loss or OS crash can take back the last commits before a
        // checkpoint. FULL would add an fsync to every commit. busy_timeout covers other processes on the file. The
        // handle writes through SQLiteLogVFS, which hands each commit's log to the OS in a write per 124 KiB
        // before the commit returns (two writes a page without it).
        if path != nil {
            try await db.raw("PRAGMA journal_mode=WAL").run()
        }
        try await db.raw("PRAGMA synchronous=NORMAL").run()
        try await db.raw("PRAGMA foreign_keys=ON").run()
        try await db.raw("PRAGMA busy_timeout=5000").run()
        // 4 MiB of page cache. More is slower here: at the end of every transaction SQLite walks the cache's whole
        // hash table (pcache1TruncateUnsafe), which with 32 MiB took 3.4% of the webhook benchmark's CPU; the pages
        // it no longer holds come back from the OS's file cache (pread: 0.2%).
        try await db.raw("PRAGMA cache_size=-4000").run()
        try await db.raw("PRAGMA temp_store=MEMORY").run()
        var checkpointer: SQLiteCheckpointer?
        if let path {
            try await db.raw("PRAGMA wal_autocheckpoint=20000").run()
            checkpointer = try SQLiteCheckpointer(
                path: path, gatherLogWrites: gatherLogWrites, every: .milliseconds(500), logger: logger)
        }
        return SQLiteStore(handle: handle, checkpointer: checkpointer, logger: logger)
    }

    private var sql: any SQLDatabase { SQLiteHandleDatabase(handle: handle, logger: logger) }

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

    func close() async {
        checkpointer?.stop()
        do {
            try await lock.withLock { try handle.close() }
        } catch {
            logger.error("sqlite close failed", metadata: ["error": "\(error)"])
        }
    }
}
