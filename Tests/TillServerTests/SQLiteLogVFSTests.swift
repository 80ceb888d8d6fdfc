import Foundation
import Testing
import TillSQLite

@_spi(Bench) @testable import TillServer

/// The gathering VFS (SQLiteLogVFS) holds a commit's log writes in memory until the commit frame; these check that
/// what it commits is in the file for every other connection, whatever the size of the transaction, and that a
/// rolled-back transaction leaves nothing behind.
@Suite("SQLite log writes gathered per commit")
struct SQLiteLogVFSTests {
    @Test("commits of every size, and a rollback between them, read back whole from another connection")
    func commitsReadBack() throws {
        #expect(SQLiteLogVFS.registered)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("till-vfs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("t.sqlite").path
        let writer = try SQLiteHandle(path: path)
        for pragma in [
            "PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA cache_size=-200",
            "PRAGMA wal_autocheckpoint=0",
        ] {
            try writer.run(pragma, []) { _ in }
        }
        try writer.run("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)", []) { _ in }
        let reader = try SQLiteHandle(path: path)
        func count(_ handle: SQLiteHandle) throws -> (rows: Int, bytes: Int) {
            var result = (0, 0)
            try handle.run("SELECT COUNT(*) AS n, COALESCE(SUM(LENGTH(body)), 0) AS b FROM t", []) { row in
                result = (try row.decode(column: "n", as: Int.self), try row.decode(column: "b", as: Int.self))
            }
            return result
        }
        func insert(_ rows: Int, from first: Int) throws {
            for id in first..<(first + rows) {
                try writer.run(
                    "INSERT INTO t (id, body) VALUES (?, ?)",
                    [.integer(id), .text(String(repeating: "x", count: 900 + id % 200))]
                ) { _ in }
            }
        }
        var expected = (rows: 0, bytes: 0)
        func expect(_ rows: Int, from first: Int) {
            expected.rows += rows
            expected.bytes += (first..<(first + rows)).reduce(0) { $0 + 900 + $1 % 200 }
        }
        // One row (a frame or two), then about 3 MB: more than the buffer (1 MiB) and the cache (200 KiB), so SQLite
        // spills pages into the log before the commit and writes frames it has to read back.
        for (rows, first) in [(1, 0), (3_000, 1)] {
            try writer.run("BEGIN IMMEDIATE", []) { _ in }
            try insert(rows, from: first)
            try writer.run("COMMIT", []) { _ in }
            expect(rows, from: first)
            #expect(try count(reader) == expected)
        }
        // A rolled-back transaction that spilled into the log, then a small commit over the frames it left.
        try writer.run("BEGIN IMMEDIATE", []) { _ in }
        try insert(2_000, from: 10_000)
        try writer.run("ROLLBACK", []) { _ in }
        try writer.run("INSERT INTO t (id, body) VALUES (?, ?)", [.integer(20_000), .text("after the rollback")]) { _ in
        }
        expected.rows += 1
        expected.bytes += "after the rollback".utf8.count
        #expect(try count(reader) == expected)
        try writer.close()
        try reader.close()

        let reopened = try SQLiteHandle(path: path)
        #expect(try count(reopened) == expected)
        var integrity = ""
        try reopened.run("PRAGMA integrity_check", []) { row in
            integrity = try row.decode(column: "integrity_check", as: String.self)
        }
        #expect(integrity == "ok")
        try reopened.close()
    }
}
