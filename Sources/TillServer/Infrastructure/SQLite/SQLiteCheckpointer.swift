import Foundation
import Logging

/// Copies the write-ahead log back into the database file from a connection and thread of its own, so the writer's
/// commits only append to the log. SQLite's automatic checkpoint would run inside whichever commit crosses the
/// threshold, fsyncs included, and that request would wait for it. The writer keeps a high automatic threshold as a
/// backstop in case this thread falls behind.
///
/// Copying is not enough: the log only starts again from its beginning when a writer finds all of it copied, which
/// under a steady stream of commits almost never happens, so it would grow to the writer's threshold and then every
/// commit would run a checkpoint of its own, with an fsync. So once the log holds `restartFrames` frames and a
/// passive checkpoint has copied them all, a RESTART checkpoint holds the next writer for the moment it takes to
/// copy the last commits, and the log starts again: it stays short and in memory.
final class SQLiteCheckpointer: Sendable {
    /// 16 MiB of 4 KiB pages.
    static let restartFrames = 4096

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
                    var frames = 0
                    var copied = 0
                    try handle.run("PRAGMA wal_checkpoint(PASSIVE)", []) { row in
                        frames = try row.decode(column: "log", as: Int.self)
                        copied = try row.decode(column: "checkpointed", as: Int.self)
                    }
                    if frames >= Self.restartFrames, copied == frames {
                        try handle.run("PRAGMA wal_checkpoint(RESTART)", []) { _ in }
                    }
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
