import Foundation
import Logging
import NIOCore
import NIOPosix
import SQLKit
import SQLiteKit
import TillSQLite

/// SQLKit's values over a `SQLiteConnection`.
///
/// SQLiteNIO sends every statement to a thread pool and every row back to an event loop; for Till's short statements
/// those hops cost more than the statements. Here a statement runs where it is called (the store's lock makes sure
/// only one task uses the handle at a time). A commit in WAL mode with synchronous=NORMAL is a write to the log, not
/// an fsync, so running it inline does not park a thread on the disk.
final class SQLiteHandle: Sendable {
    let connection: TillSQLite.SQLiteConnection

    init(path: String, gatherLogWrites: Bool = true) throws {
        connection = try TillSQLite.SQLiteConnection(path: path, gatherLogWrites: gatherLogWrites)
    }

    func run(_ sql: String, _ binds: [SQLiteData], _ onRow: (SQLiteValues) throws -> Void) throws {
        try connection.run(sql, binds.map(Self.value)) { columns, values in
            try onRow(SQLiteValues(columns: columns, values: values))
        }
    }

    func close() throws { try connection.close() }

    static var libraryVersion: String { TillSQLite.SQLiteConnection.libraryVersion }

    private static func value(_ data: SQLiteData) -> SQLiteValue {
        switch data {
        case .integer(let n): .integer(n)
        case .float(let x): .float(x)
        case .text(let s): .text(s)
        case .blob(let buffer): .blob(Array(buffer.readableBytesView))
        case .null: .null
        }
    }
}

/// One result row for SQLKit.
struct SQLiteValues: SQLRow {
    let columns: SQLiteColumns
    let values: [SQLiteValue]
    private static let decoder = SQLiteDataDecoder()

    var allColumns: [String] { columns.names }
    func contains(column: String) -> Bool { columns.index(of: column) != nil }

    private func value(_ column: String) throws -> SQLiteValue {
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
        return try Self.decoder.decode(D.self, from: Self.data(data))
    }
}

extension SQLiteValues {
    static func data(_ value: SQLiteValue) -> SQLiteData {
        switch value {
        case .integer(let n): .integer(n)
        case .float(let x): .float(x)
        case .text(let s): .text(s)
        case .blob(let bytes): .blob(ByteBuffer(bytes: bytes))
        case .null: .null
        }
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

    init(path: String, gatherLogWrites: Bool, every interval: Duration, logger: Logger) throws {
        let handle = try SQLiteHandle(path: path, gatherLogWrites: gatherLogWrites)
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
