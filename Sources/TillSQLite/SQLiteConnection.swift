internal import CSQLite

/// A value SQLite stores or returns.
public enum SQLiteValue: Sendable, Equatable {
    case integer(Int)
    case float(Double)
    case text(String)
    case blob([UInt8])
    case null
}

/// One SQLite connection driven straight through the C API (the system's libsqlite3), statement by statement on the
/// caller's thread.
///
/// Prepared statements are kept by their SQL text and reused, and rows are read straight into values. The caller makes
/// sure only one thread uses a connection at a time.
public final class SQLiteConnection: @unchecked Sendable {
    private var raw: OpaquePointer?
    /// Prepared statements by SQL text. Statements whose text varies (IN lists of many lengths) would fill it, so
    /// it is emptied when it reaches `maxCached`.
    private var cache: [String: Prepared] = [:]
    static let maxCached = 512

    /// The version of the SQLite library in use.
    public static var libraryVersion: String { String(cString: sqlite3_libversion()) }

    /// Opens `path` (`:memory:` for a private in-memory database), through `SQLiteLogVFS` when `gatherLogWrites` and
    /// it could be registered.
    public init(path: String, gatherLogWrites: Bool = true) throws {
        var handle: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI
        let vfs = gatherLogWrites && SQLiteLogVFS.registered ? SQLiteLogVFS.name : nil
        let status = sqlite3_open_v2(path, &handle, flags, vfs)
        guard status == SQLITE_OK, let handle else {
            let message = handle.flatMap { sqlite3_errmsg($0) }.map { String(cString: $0) } ?? "cannot open"
            sqlite3_close(handle)
            throw SQLiteFailure(code: status, message: "\(message) (\(path))")
        }
        raw = handle
    }

    /// Runs one statement (several `;`-separated statements are not supported), calling `onRow` for each row with
    /// the statement's columns and the row's values.
    public func run(_ sql: String, _ binds: [SQLiteValue], _ onRow: (SQLiteColumns, [SQLiteValue]) throws -> Void)
        throws
    {
        guard let raw else { throw SQLiteFailure(code: SQLITE_MISUSE, message: "the database is closed") }
        var prepared = try prepared(sql, on: raw)
        let statement = prepared.statement
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        for (index, value) in binds.enumerated() {
            let status = Self.bind(value, at: Int32(index + 1), to: statement)
            guard status == SQLITE_OK else { throw failure(status, raw) }
        }
        while true {
            let status = sqlite3_step(statement)
            if status == SQLITE_DONE { return }
            guard status == SQLITE_ROW else { throw failure(status, raw) }
            // SQLite prepares a statement again after a schema change, which can change what `*` stands for.
            let reprepared = sqlite3_stmt_status(statement, SQLITE_STMTSTATUS_REPREPARE, 0)
            if reprepared != prepared.reprepared {
                prepared = Prepared(statement: statement, columns: Self.columns(statement), reprepared: reprepared)
                cache[sql] = prepared
            }
            let names = prepared.columns
            var values: [SQLiteValue] = []
            values.reserveCapacity(names.count)
            for column in 0..<Int32(names.count) {
                values.append(Self.value(statement, column))
            }
            try onRow(names, values)
        }
    }

    private static func bind(_ value: SQLiteValue, at position: Int32, to statement: OpaquePointer) -> Int32 {
        switch value {
        case .integer(let n): return sqlite3_bind_int64(statement, position, Int64(n))
        case .float(let x): return sqlite3_bind_double(statement, position, x)
        case .text(let s):
            var s = s
            return s.withUTF8 { bytes in
                guard let base = bytes.baseAddress, bytes.count > 0 else {
                    return sqlite3_bind_text64(statement, position, "", 0, sqliteTransient, UInt8(SQLITE_UTF8))
                }
                return UnsafeRawPointer(base).withMemoryRebound(to: CChar.self, capacity: bytes.count) {
                    sqlite3_bind_text64(
                        statement, position, $0, UInt64(bytes.count), sqliteTransient, UInt8(SQLITE_UTF8))
                }
            }
        case .blob(let bytes):
            return bytes.withUnsafeBytes {
                sqlite3_bind_blob64(statement, position, $0.baseAddress, UInt64($0.count), sqliteTransient)
            }
        case .null: return sqlite3_bind_null(statement, position)
        }
    }

    private static func value(_ statement: OpaquePointer, _ column: Int32) -> SQLiteValue {
        switch sqlite3_column_type(statement, column) {
        case SQLITE_INTEGER: return .integer(Int(sqlite3_column_int64(statement, column)))
        case SQLITE_FLOAT: return .float(sqlite3_column_double(statement, column))
        case SQLITE_TEXT:
            guard let text = sqlite3_column_text(statement, column) else { return .text("") }
            let count = Int(sqlite3_column_bytes(statement, column))
            return .text(String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self))
        case SQLITE_BLOB:
            let count = Int(sqlite3_column_bytes(statement, column))
            guard let bytes = sqlite3_column_blob(statement, column) else { return .blob([]) }
            return .blob(Array(UnsafeRawBufferPointer(start: bytes, count: count)))
        default: return .null
        }
    }

    private struct Prepared {
        let statement: OpaquePointer
        let columns: SQLiteColumns
        /// SQLite's count of the statement's automatic re-preparations when `columns` was read.
        let reprepared: Int32
    }

    private static func columns(_ statement: OpaquePointer) -> SQLiteColumns {
        SQLiteColumns(
            names: (0..<sqlite3_column_count(statement)).map { String(cString: sqlite3_column_name(statement, $0)) })
    }

    private func prepared(_ sql: String, on raw: OpaquePointer) throws -> Prepared {
        if let found = cache[sql] { return found }
        if cache.count >= Self.maxCached { finalizeAll() }
        var statement: OpaquePointer?
        let status = sqlite3_prepare_v3(raw, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard status == SQLITE_OK, let statement else { throw failure(status, raw) }
        let made = Prepared(
            statement: statement, columns: Self.columns(statement),
            reprepared: sqlite3_stmt_status(statement, SQLITE_STMTSTATUS_REPREPARE, 0))
        cache[sql] = made
        return made
    }

    private func finalizeAll() {
        for prepared in cache.values { sqlite3_finalize(prepared.statement) }
        cache.removeAll(keepingCapacity: true)
    }

    private func failure(_ status: Int32, _ raw: OpaquePointer) -> SQLiteFailure {
        SQLiteFailure(code: status, message: String(cString: sqlite3_errmsg(raw)))
    }

    public func close() throws {
        guard let handle = raw else { return }
        finalizeAll()
        let status = sqlite3_close(handle)
        guard status == SQLITE_OK else { throw failure(status, handle) }
        raw = nil
    }

    deinit { try? close() }
}

private let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

public struct SQLiteFailure: Error, CustomStringConvertible {
    public let code: Int32
    public let message: String
    public var description: String { "SQLite error \(code): \(message)" }
}

/// A statement's column names, read when it is prepared and shared by its rows, with their positions by name (a
/// row's fields are read by name; comparing each with every name was 2% of the webhook benchmark's CPU).
public final class SQLiteColumns: Sendable {
    public let names: [String]
    private let positions: [String: Int]
    public var count: Int { names.count }

    init(names: [String]) {
        self.names = names
        // The first of two columns with one name wins, as with `firstIndex(of:)`.
        positions = Dictionary(names.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
    }

    public func index(of column: String) -> Int? { positions[column] }
}
