import DequeModule
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A thread of its own that runs, one at a time, the jobs of the tasks that prefer it (a task executor; it is also
/// the serial executor those jobs run isolated to).
///
/// The webhook inbox's writer runs here. On Swift's shared pool, every `await` it resumed from (the store's lock,
/// each statement's return, the inbox's actor) put it at the back of a queue holding the jobs of every request in
/// flight, so with 64 connections the one writer that all of them wait for spent much of its time queued behind
/// them. On a thread of its own it waits only for the OS to give it a core.
final class ThreadExecutor: SerialExecutor, TaskExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs = Deque<UnownedJob>()

    /// `name` (15 bytes at most on Linux) is what `top -H` and `perf` show for the thread.
    init(name: String) {
        let thread = Thread { [unowned self] in
            // Foundation's `Thread.name` reaches Linux only if the new thread wins a race with `start()`; writing
            // the thread's own comm file always does.
            let fd = Glibc.open("/proc/thread-self/comm", O_WRONLY)
            if fd >= 0 {
                _ = Glibc.write(fd, name, min(name.utf8.count, 15))
                Glibc.close(fd)
            }
            self.loop()
        }
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    func asUnownedSerialExecutor() -> UnownedSerialExecutor { UnownedSerialExecutor(ordinary: self) }

    /// Runs for the life of the process: executors are made once, as `static let`s.
    private func loop() {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(isolatedTo: asUnownedSerialExecutor(), taskExecutor: asUnownedTaskExecutor())
        }
    }
}
