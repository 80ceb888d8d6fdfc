import Foundation
import Logging
import NIOCore
import NIOPosix
import SQLKit
import SQLiteKit
import VaporCSQLite

/// One SQLite connection driven straight through the C API, statement by statement on the caller's thread.
///
/// SQLiteNIO sends every statement to a thread pool and every row back to an event loop; for Till's short statements
/// those hops cost more than the statements. Here a statement runs where it is called (the store's lock makes sure
/// only one task uses the handle at a time), prepared statements are kept by their SQL text and reused, and rows are
/// read straight into values. A commit in WAL mode with synchronous=NORMAL is a write to the log, not an fsync, so
/// running it inline does not park a thread on the disk.
final class SQLiteHandle: @unchecked Sendable {
    private var raw: OpaquePointer?
    /// Prepared statements by SQL text. Statements whose text varies (IN lists of many lengths) would fill it, so
    /// it is emptied when it reaches `maxCached`.
    private var cache: [String: OpaquePointer] = [:]
    static let maxCached = 512

    /// Opens through `SQLiteLogVFS` (when it could be registered), which hands each commit's write-ahead log to the
    /// OS in a few large writes instead of two a page.
    init(path: String) throws {
        var handle: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI
        let vfs = SQLiteLogVFS.registered ? SQLiteLogVFS.name : nil
        let status = sqlite_nio_sqlite3_open_v2(path, &handle, flags, vfs)
        guard status == SQLITE_OK, let handle else {
            let message = handle.flatMap { sqlite_nio_sqlite3_errmsg($0) }.map { String(cString: $0) } ?? "cannot open"
            sqlite_nio_sqlite3_close(handle)
            throw SQLiteFailure(code: status, message: "\(message) (\(path))")
        }
        raw = handle
    }

    /// Runs one statement (several `;`-separated statements are not supported), calling `onRow` for each row.
    func run(_ sql: String, _ binds: [SQLiteData], _ onRow: (SQLiteValues) throws -> Void) throws {
        guard let raw else { throw SQLiteFailure(code: SQLITE_MISUSE, message: "the database is closed") }
        let statement = try prepared(sql, on: raw)
        defer {
            sqlite_nio_sqlite3_reset(statement)
            sqlite_nio_sqlite3_clear_bindings(statement)
        }
        for (index, value) in binds.enumerated() {
            let position = Int32(index + 1)
            let status: Int32
            switch value {
            case .integer(let n): status = sqlite_nio_sqlite3_bind_int64(statement, position, Int64(n))
            case .float(let x): status = sqlite_nio_sqlite3_bind_double(statement, position, x)
            case .text(let s):
                var s = s
                status = s.withUTF8 { bytes in
                    guard let base = bytes.baseAddress, bytes.count > 0 else {
                        return sqlite_nio_sqlite3_bind_text64(statement, position, "", 0, sqliteTransient, UInt8(SQLITE_UTF8))
                    }
                    return UnsafeRawPointer(base).withMemoryRebound(to: CChar.self, capacity: bytes.count) {
                        sqlite_nio_sqlite3_bind_text64(statement, position, $0, UInt64(bytes.count), sqliteTransient, UInt8(SQLITE_UTF8))
                    }
                }
            case .blob(let buffer):
                status = buffer.withUnsafeReadableBytes {
                    sqlite_nio_sqlite3_bind_blob64(statement, position, $0.baseAddress, UInt64($0.count), sqliteTransient)
                }
            case .null: status = sqlite_nio_sqlite3_bind_null(statement, position)
            }
            guard status == SQLITE_OK else { throw failure(status, raw) }
        }
        var columns: SQLiteColumns?
        while true {
            let status = sqlite_nio_sqlite3_step(statement)
            if status == SQLITE_DONE { return }
            guard status == SQLITE_ROW else { throw failure(status, raw) }
            let names = columns ?? SQLiteColumns(statement)
            columns = names
            var values: [SQLiteData] = []
            values.reserveCapacity(names.count)
            for column in 0..<Int32(names.count) {
                values.append(Self.value(statement, column))
            }
            try onRow(SQLiteValues(columns: names, values: values))
        }
    }

    private static func value(_ statement: OpaquePointer, _ column: Int32) -> SQLiteData {
        switch sqlite_nio_sqlite3_column_type(statement, column) {
        case SQLITE_INTEGER: return .integer(Int(sqlite_nio_sqlite3_column_int64(statement, column)))
        case SQLITE_FLOAT: return .float(sqlite_nio_sqlite3_column_double(statement, column))
        case SQLITE_TEXT:
            guard let text = sqlite_nio_sqlite3_column_text(statement, column) else { return .text("") }
            let count = Int(sqlite_nio_sqlite3_column_bytes(statement, column))
            return .text(String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self))
        case SQLITE_BLOB:
            let count = Int(sqlite_nio_sqlite3_column_bytes(statement, column))
            var buffer = ByteBufferAllocator().buffer(capacity: count)
            if let bytes = sqlite_nio_sqlite3_column_blob(statement, column) {
                buffer.writeBytes(UnsafeRawBufferPointer(start: bytes, count: count))
            }
            return .blob(buffer)
        default: return .null
        }
    }

    private func prepared(_ sql: String, on raw: OpaquePointer) throws -> OpaquePointer {
        if let statement = cache[sql] { return statement }
        if cache.count >= Self.maxCached { finalizeAll() }
        var statement: OpaquePointer?
        let status = sqlite_nio_sqlite3_prepare_v3(raw, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard status == SQLITE_OK, let statement else { throw failure(status, raw) }
        cache[sql] = statement
        return statement
    }

    private func finalizeAll() {
        for statement in cache.values { sqlite_nio_sqlite3_finalize(statement) }
        cache.removeAll(keepingCapacity: true)
    }

    private func failure(_ status: Int32, _ raw: OpaquePointer) -> SQLiteFailure {
        SQLiteFailure(code: status, message: String(cString: sqlite_nio_sqlite3_errmsg(raw)))
    }

    func close() throws {
        guard let handle = raw else { return }
        finalizeAll()
        let status = sqlite_nio_sqlite3_close(handle)
        guard status == SQLITE_OK else { throw failure(status, handle) }
        raw = nil
    }

    deinit { try? close() }
}

private let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

struct SQLiteFailure: Error, CustomStringConvertible {
    let code: Int32
    let message: String
    var description: String { "SQLite error \(code): \(message)" }
}

/// A statement's column names, read once per statement run and shared by its rows.
final class SQLiteColumns: Sendable {
    let names: [String]
    var count: Int { names.count }

    init(_ statement: OpaquePointer) {
        names = (0..<sqlite_nio_sqlite3_column_count(statement)).map { String(cString: sqlite_nio_sqlite3_column_name(statement, $0)) }
    }

    func index(of column: String) -> Int? { names.firstIndex(of: column) }
}

/// One result row for SQLKit.
struct SQLiteValues: SQLRow {
    let columns: SQLiteColumns
    let values: [SQLiteData]
    private static let decoder = SQLiteDataDecoder()

    var allColumns: [String] { columns.names }
    func contains(column: String) -> Bool { columns.index(of: column) != nil }

    private func value(_ column: String) throws -> SQLiteData {
        guard let index = columns.index(of: column) else {
            throw DecodingError.keyNotFound(SQLiteColumnKey(column), .init(codingPath: [], debugDescription: "no column \(column)"))
        }
        return values[index]
    }

    func decodeNil(column: String) throws -> Bool {
        if case .null = try value(column) { return true }
        return false
    }

    func decode<D: Decodable>(column: String, as type: D.Type) throws -> D {
        let data = try value(column)
        // The types Till reads, without a trip through a Decoder.
        // (`as? D` also covers `String?` and `Int?`: a value casts to its Optional.)
        switch data {
        case .text(let s):
            if let s = s as? D { return s }
        case .integer(let n):
            if let n = n as? D { return n }
        case .null:
            if D.self == String?.self { return String?.none as! D }
            if D.self == Int?.self { return Int?.none as! D }
        default: break
        }
        return try Self.decoder.decode(D.self, from: data)
    }
}

private struct SQLiteColumnKey: CodingKey {
    let stringValue: String
    var intValue: Int? { nil }
    init(_ name: String) { stringValue = name }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// SQLKit's view of the handle. Only used while the store's lock is held.
struct SQLiteHandleDatabase: SQLDatabase {
    let handle: SQLiteHandle
    let logger: Logger
    var eventLoop: any EventLoop { MultiThreadedEventLoopGroup.singleton.any() }
    var dialect: any SQLDialect { SQLiteDialect() }
    var queryLogLevel: Logger.Level? { nil }
    private static let encoder = SQLiteDataEncoder()

    private func run(_ query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) throws {
        let (sql, binds) = serialize(query)
        let values: [SQLiteData] = try binds.map { bind in
            switch bind {
            case let s as String: .text(s)
            case let n as Int: .integer(n)
            default: try Self.encoder.encode(bind)
            }
        }
        try handle.run(sql, values) { onRow($0) }
    }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) -> EventLoopFuture<Void> {
        do {
            try run(query, onRow)
            return eventLoop.makeSucceededVoidFuture()
        } catch {
            return eventLoop.makeFailedFuture(error)
        }
    }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) async throws {
        try run(query, onRow)
    }

    func withSession<R>(_ closure: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        try await closure(self)
    }
}

/// Copies the write-ahead log back into the database file from a connection and thread of its own, so the writer's
/// commits only append to the log. SQLite's automatic checkpoint would run inside whichever commit crosses the
/// threshold, fsyncs included, and that request would wait for it. The writer keeps a high automatic threshold as a
/// backstop in case this thread falls behind.
final class SQLiteCheckpointer: Sendable {
    /// Signalled once, by `stop`: it ends the pause and the loop.
    private let stopping = DispatchSemaphore(value: 0)
    private let done = DispatchSemaphore(value: 0)

    init(path: String, every interval: Duration, logger: Logger) throws {
        let handle = try SQLiteHandle(path: path)
        try handle.run("PRAGMA busy_timeout=5000", []) { _ in }
        let (stopping, done) = (stopping, done)
        let pause = DispatchTimeInterval.nanoseconds(Int(interval.seconds * 1e9))
        let thread = Thread {
            while stopping.wait(timeout: .now() + pause) == .timedOut {
                do {
                    try handle.run("PRAGMA wal_checkpoint(PASSIVE)", []) { _ in }
                } catch {
                    logger.warning("sqlite checkpoint failed", metadata: ["error": "\(error)"])
                }
            }
            try? handle.close()
            done.signal()
        }
        thread.name = "till-sqlite-checkpoint"
        thread.start()
    }

    /// Returns once the thread has finished its current checkpoint, if any, and closed its connection.
    func stop() {
        stopping.signal()
        done.wait()
    }
}
