import Synchronization

/// Values kept in memory until a time of their own (milliseconds), bounded whatever the traffic: once it holds
/// `maxEntries`, the expired ones are dropped, and if none is (a flood), all of them. Users' roles are kept for a few
/// seconds this way (so checking every request against the database costs one read a user an interval), and verified
/// tokens until their own expiry (so a client's next requests skip JWTKit's HMAC and JSON decoding, 3% of a checkout's
/// server CPU before; docs/performance.md).
final class ExpiringCache<Value: Sendable>: Sendable {
    let maxEntries: Int
    private let entries = Mutex<[String: (value: Value, expiresAt: Int)]>([:])

    init(maxEntries: Int = 100_000) {
        self.maxEntries = maxEntries
    }

    /// The value stored for `key`, unless it has expired by `now` (then it is dropped).
    func value(for key: String, now: Int) -> Value? {
        entries.withLock { entries in
            guard let entry = entries[key] else { return nil }
            guard now < entry.expiresAt else {
                entries[key] = nil
                return nil
            }
            return entry.value
        }
    }

    func remove(_ key: String) {
        _ = entries.withLock { $0.removeValue(forKey: key) }
    }

    /// Keeps `value` until `expiresAt`; a value already expired is not kept.
    func store(_ value: Value, for key: String, expiresAt: Int, now: Int) {
        guard now < expiresAt else { return }
        entries.withLock { entries in
            entries.makeRoom(limit: maxEntries) { now < $0.expiresAt }
            entries[key] = (value, expiresAt)
        }
    }
}
