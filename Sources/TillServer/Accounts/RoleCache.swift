import Synchronization
import TillCore

/// Users' current roles for a few seconds (`nil`: no such user), so that checking every request against the database
/// costs one read per user per interval.
final class RoleCache: Sendable {
    let ttlMillis: Int
    let maxEntries = 100_000
    private let entries = Mutex<[String: (role: Role?, at: Int)]>([:])

    init(ttlMillis: Int) {
        self.ttlMillis = ttlMillis
    }

    /// `.some(role)` when known and fresh (the role is `nil` for a user that does not exist), `nil` when unknown.
    func lookup(_ userId: String, now: Int) -> Role?? {
        guard ttlMillis > 0 else { return nil }
        return entries.withLock { entries -> Role?? in
            guard let entry = entries[userId], now - entry.at < ttlMillis else { return nil }
            return .some(entry.role)
        }
    }

    func store(_ userId: String, role: Role?, now: Int) {
        guard ttlMillis > 0 else { return }
        entries.withLock { entries in
            entries.makeRoom(limit: maxEntries) { now - $0.at < ttlMillis }
            entries[userId] = (role, now)
        }
    }
}
