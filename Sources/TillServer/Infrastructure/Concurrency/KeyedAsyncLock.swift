import Synchronization

/// An `AsyncLock` for each key in use: made on first use, dropped once nobody holds it or waits for it.
final class KeyedAsyncLock: Sendable {
    private let locks = Mutex<[String: (lock: AsyncLock, users: Int)]>([:])

    func withLock<T: Sendable>(_ key: String, _ body: () async throws -> T) async throws -> T {
        let lock = locks.withLock { locks in
            var entry = locks[key] ?? (AsyncLock(), 0)
            entry.users += 1
            locks[key] = entry
            return entry.lock
        }
        defer {
            locks.withLock { locks in
                guard var entry = locks[key] else { return }
                entry.users -= 1
                locks[key] = entry.users == 0 ? nil : entry
            }
        }
        return try await lock.withLock(body)
    }
}
