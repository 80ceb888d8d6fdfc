import SQLKit

extension SQLRow {
    func string(_ column: String) throws -> String { try decode(column: column, as: String.self) }
    func optionalString(_ column: String) throws -> String? { try decode(column: column, as: String?.self) }
    func int(_ column: String) throws -> Int { try decode(column: column, as: Int.self) }
    func optionalInt(_ column: String) throws -> Int? { try decode(column: column, as: Int?.self) }
    func bool(_ column: String) throws -> Bool { try decode(column: column, as: Int.self) != 0 }
}

extension SQLRow {
    /// A column holding one of `T`'s raw values. Anything else is an error, never a default: an unknown payment
    /// status must not read as a live one.
    func value<T: RawRepresentable>(_ column: String, as type: T.Type = T.self) throws -> T where T.RawValue == String {
        let raw = try string(column)
        guard let value = T(rawValue: raw) else { throw UnknownValue(column: column, value: raw) }
        return value
    }
}

struct UnknownValue: Error, CustomStringConvertible {
    let column: String
    let value: String
    var description: String { "column \(column) holds \"\(value)\", which this version of Till does not know" }
}

/// A status set as SQL text (`'A', 'B'`), in declaration order, so that queries say the same list as the partial
/// indexes built from it (SQLite uses a partial index only when the query repeats its condition word for word).
enum SQLList {
    static func of<T: RawRepresentable & CaseIterable>(_ included: (T) -> Bool) -> String where T.RawValue == String {
        T.allCases.filter(included).map { "'\($0.rawValue)'" }.joined(separator: ", ")
    }
}

/// Where a walk through rows by `(updated_at, id)` stopped: the next page starts after it.
struct PageCursor: Sendable, Equatable {
    let updatedAt: Int
    let id: String

    /// The condition that keeps the rows after `cursor` (none without one), for a query ordered by `updated_at, id`.
    static func after(_ cursor: PageCursor?) -> SQLQueryString {
        guard let cursor else { return "" }
        return
            "AND (updated_at > \(bind: cursor.updatedAt) OR (updated_at = \(bind: cursor.updatedAt) AND id > \(bind: cursor.id)))"
    }
}
