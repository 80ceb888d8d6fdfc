import DequeModule
import Synchronization

/// A FIFO mutual-exclusion lock for async code. Its state sits behind a mutex rather than in an actor, so taking
/// and releasing it never moves the caller to another executor (the inbox's writer keeps its own thread).
final class AsyncLock: Sendable {
    private let state = Mutex<(locked: Bool, waiters: Deque<CheckedContinuation<Void, Never>>)>((false, []))

    func lock() async {
        if take(orQueue: nil) { return }
        await withCheckedContinuation { continuation in
            if take(orQueue: continuation) { continuation.resume() }
        }
    }

    /// Takes the lock if it is free; otherwise queues `continuation` (when given) for `unlock` to resume.
    private func take(orQueue continuation: CheckedContinuation<Void, Never>?) -> Bool {
        state.withLock { state in
            if !state.locked {
                state.locked = true
                return true
            }
            if let continuation { state.waiters.append(continuation) }
            return false
        }
    }

    func unlock() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            // Ownership passes straight to the next waiter.
            if let next = state.waiters.popFirst() { return next }
            state.locked = false
            return nil
        }
        next?.resume()
    }

    func withLock<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        await lock()
        defer { unlock() }
        return try await body()
    }
}
