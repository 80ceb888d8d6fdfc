import Foundation
import Logging

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
