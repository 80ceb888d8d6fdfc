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
            throw DecodingError.keyNotFound(
                SQLiteColumnKey(column), .init(codingPath: [], debugDescription: "no column \(column)"))
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
