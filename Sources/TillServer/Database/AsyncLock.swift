import DequeModule

/// A FIFO mutual-exclusion lock for async code.
actor AsyncLock {
    private var locked = false
    private var waiters = Deque<CheckedContinuation<Void, Never>>()

    func lock() async {
        if !locked {
            locked = true
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    func unlock() {
        if let next = waiters.popFirst() {
            next.resume()  // ownership passes straight to the next waiter
        } else {
            locked = false
        }
    }

    nonisolated func withLock<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        await lock()
        do {
            let result = try await body()
            await unlock()
            return result
        } catch {
            await unlock()
            throw error
        }
    }
}
