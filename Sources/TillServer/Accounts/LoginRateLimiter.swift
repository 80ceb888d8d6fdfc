import Synchronization
import TillCore

/// Counts login attempts before the password is hashed, so that parallel guesses cannot all slip past a check made
/// after bcrypt. Two keys are counted: the account together with the client address (an attacker elsewhere cannot
/// lock the real owner out), and the client address alone (one address guessing many accounts). Over a key's limit,
/// logins for it answer 429 for a lockout that doubles with each new lockout of that key (1, 2, 4 ... 15 minutes) and
/// is forgotten after an hour of calm. A successful login clears its account-and-address key.
/// Held in memory per instance: an attacker spreading guesses over several instances gets each instance's allowance.
public final class LoginRateLimiter: Sendable {
    public struct Limits: Sendable {
        public var attemptsPerAccountAndAddress = 5
        public var attemptsPerAddress = 20
        /// Attempts older than this are forgotten.
        public var windowMillis = 15 * 60 * 1000
        public var firstLockoutMillis = 60 * 1000
        public var maxLockoutMillis = 15 * 60 * 1000
        /// A key's lockouts are forgotten this long after its last one ended.
        public var strikeMemoryMillis = 60 * 60 * 1000
        /// Entries kept at most (expired ones are dropped first; memory stays bounded whatever the traffic).
        public var maxEntries = 100_000
        public init() {}
    }

    struct Entry {
        var attempts = 0
        var windowStart: Int
        var lockedUntil = 0
        var strikes = 0
    }

    let limits: Limits
    private let entries = Mutex<[String: Entry]>([:])

    public init(limits: Limits) {
        self.limits = limits
    }

    /// Counts one attempt; `nil` when it may go ahead, else the milliseconds to wait.
    func admit(email: String, address: String?, now: Int) -> Int? {
        let keys = Self.keys(email: email, address: address)
        let limited =
            [(keys.pair, limits.attemptsPerAccountAndAddress)]
            + (keys.address.map { [($0, limits.attemptsPerAddress)] } ?? [])
        return entries.withLock { entries -> Int? in
            if entries.count >= limits.maxEntries { prune(&entries, now: now) }
            let locked = limited.compactMap { entries[$0.0].map(\.lockedUntil) }.max() ?? 0
            if locked > now { return locked - now }
            var wait = 0
            for (key, limit) in limited {
                var entry = entries[key] ?? Entry(windowStart: now)
                if now - entry.windowStart > limits.windowMillis {
                    entry.attempts = 0
                    entry.windowStart = now
                }
                if entry.strikes > 0, now - entry.lockedUntil > limits.strikeMemoryMillis { entry.strikes = 0 }
                entry.attempts += 1
                if entry.attempts > limit {
                    entry.strikes += 1
                    let lockout = min(limits.firstLockoutMillis << min(entry.strikes - 1, 20), limits.maxLockoutMillis)
                    entry.lockedUntil = now + lockout
                    entry.attempts = 0
                    entry.windowStart = now
                    wait = max(wait, lockout)
                }
                entries[key] = entry
            }
            return wait > 0 ? wait : nil
        }
    }

    /// The password was right: the account-and-address key starts afresh, and the attempt does not count against
    /// the address.
    func succeeded(email: String, address: String?) {
        let keys = Self.keys(email: email, address: address)
        entries.withLock { entries in
            entries[keys.pair] = nil
            if let key = keys.address, var entry = entries[key], entry.attempts > 0 {
                entry.attempts -= 1
                entries[key] = entry
            }
        }
    }

    var count: Int { entries.withLock { $0.count } }

    private static func keys(email: String, address: String?) -> (pair: String, address: String?) {
        ("pair:\(email)|\(address ?? "-")", address.map { "addr:" + $0 })
    }

    private func prune(_ entries: inout [String: Entry], now: Int) {
        entries = entries.filter { _, e in
            e.lockedUntil > now || now - e.windowStart <= limits.windowMillis
                || (e.strikes > 0 && now - e.lockedUntil <= limits.strikeMemoryMillis)
        }
        // Still full of live entries: an address flood. Forget the oldest half rather than grow without bound.
        if entries.count >= limits.maxEntries {
            let keep = entries.sorted { $0.value.windowStart > $1.value.windowStart }.prefix(limits.maxEntries / 2)
            entries = Dictionary(uniqueKeysWithValues: keep.map { ($0.key, $0.value) })
        }
    }
}
