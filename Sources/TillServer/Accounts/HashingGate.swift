import Synchronization
import TillCore

/// Bounds the bcrypt work waiting for the thread pool, per kind of caller: a flood of registrations answers 503 at
/// once instead of queueing hashes in front of every login.
final class HashingGate: Sendable {
    let capacity: Int
    private let inFlight = Atomic<Int>(0)

    init(capacity: Int) {
        self.capacity = capacity
    }

    func run<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        let before = inFlight.add(1, ordering: .relaxed).oldValue
        defer { inFlight.subtract(1, ordering: .relaxed) }
        guard before < capacity else { throw TillError.busy }
        return try await body()
    }
}
