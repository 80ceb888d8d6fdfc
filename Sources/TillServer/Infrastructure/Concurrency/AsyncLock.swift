import DequeModule
import Synchronization

/// A mutual-exclusion lock for async code. Its state sits behind a mutex rather than in an actor, so taking and
/// releasing it never moves the caller to another executor (the inbox's writer keeps its own thread).
///
/// Releasing it does not hand it to the first waiter: it frees it and wakes that waiter, and a task already running
/// may take it first. A woken task waits for a thread of the cooperative pool, and under load that wait is longer than
/// most critical sections: a lock handed over at release stayed held, idle, for that long, once per waiter, so more
/// clients made the one SQLite connection slower (docs/performance.md). A waiter overtaken once goes back to the
/// head of the queue and is handed the lock at the next release, so nobody waits behind more than one overtaking.
final class AsyncLock: Sendable {
    private struct Waiter {
        /// Resumed with `true` when the lock is handed over, `false` when woken to try for it.
        let continuation: CheckedContinuation<Bool, Never>
        let handOver: Bool
    }

    private let state = Mutex<(locked: Bool, waiters: Deque<Waiter>)>((false, []))

    func lock() async {
        var overtaken = false
        while true {
            if take() { return }
            let owned = await withCheckedContinuation { continuation in
                let taken = state.withLock { state in
                    if !state.locked {
                        state.locked = true
                        return true
                    }
                    if overtaken {
                        state.waiters.prepend(Waiter(continuation: continuation, handOver: true))
                    } else {
                        state.waiters.append(Waiter(continuation: continuation, handOver: false))
                    }
                    return false
                }
                if taken { continuation.resume(returning: true) }
            }
            if owned { return }
            overtaken = true
        }
    }

    private func take() -> Bool {
        state.withLock { state in
            if state.locked { return false }
            state.locked = true
            return true
        }
    }

    func unlock() {
        let (next, handedOver) = state.withLock { state -> (Waiter?, Bool) in
            guard let next = state.waiters.popFirst() else {
                state.locked = false
                return (nil, false)
            }
            if next.handOver { return (next, true) }
            state.locked = false
            return (next, false)
        }
        next?.continuation.resume(returning: handedOver)
    }

    func withLock<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        await lock()
        defer { unlock() }
        return try await body()
    }
}
