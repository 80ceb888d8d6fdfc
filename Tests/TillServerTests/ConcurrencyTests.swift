import Foundation
import Synchronization
import Testing

@_spi(Bench) @testable import TillServer

/// The two pieces the webhook inbox's writer stands on: the store's lock and the writer's own thread.
@Suite("Store lock and writer thread")
struct ConcurrencyTests {
    @Test("the lock lets one task in at a time, and hands it over in arrival order")
    func lockExcludesAndQueues() async throws {
        let lock = AsyncLock()
        let inside = Shared((now: 0, most: 0))
        let order = Shared<[Int]>([])
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<200 {
                group.addTask {
                    try await lock.withLock {
                        inside.withLock {
                            $0.now += 1
                            $0.most = max($0.most, $0.now)
                        }
                        await Task.yield()
                        inside.withLock { $0.now -= 1 }
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(inside.withLock { $0.most } == 1)

        // A holder and three waiters that queue one after another: they get the lock in that order.
        await lock.lock()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for waiter in 1...3 {
                group.addTask { try await lock.withLock { order.withLock { $0.append(waiter) } } }
                try await Task.sleep(for: .milliseconds(50))
            }
            lock.unlock()
            try await group.waitForAll()
        }
        #expect(order.withLock { $0 } == [1, 2, 3])
        // A body that throws still releases the lock.
        struct Boom: Error {}
        await #expect(throws: Boom.self) { try await lock.withLock { throw Boom() } }
        let again = try await lock.withLock { 7 }
        #expect(again == 7)
    }

    @Test("a task that prefers the thread executor runs its nonisolated work on that one thread, named as asked")
    func threadExecutorKeepsTheTask() async {
        let executor = ThreadExecutor(name: "till-test-exec")
        let threads = await Task(executorPreference: executor) {
            var seen = Set<String>()
            for _ in 0..<50 {
                seen.insert(await currentThread())
                await Task.yield()
            }
            return seen
        }.value
        #expect(threads.count == 1)
        // The OS's name for the thread (what top -H and perf show), so the work ran on the executor's own thread.
        #expect(threads.first?.hasSuffix(" till-test-exec") == true, "\(threads)")
        let elsewhere = await Task.detached { await currentThread() }.value
        #expect(!threads.contains(elsewhere))
    }
}

/// The calling thread: its id and the name Linux knows it by.
@Sendable private func currentThread() async -> String {
    let name = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? "?"
    return "\(UInt(bitPattern: Int(pthread_self()))) " + name.trimmingCharacters(in: .whitespacesAndNewlines)
}

private final class Shared<Value: Sendable>: Sendable {
    private let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
    func withLock<T>(_ body: (inout Value) -> T) -> T { value.withLock { body(&$0) } }
}
