/// Counts failed logins per email and per client address; past the limit, logins for that key answer 429 for a while.
/// Held in memory per instance: an attacker spreading guesses over several instances gets each instance's allowance.
public actor LoginRateLimiter {
    public struct Limits: Sendable {
        public var maxFailuresPerEmail = 5
        public var maxFailuresPerAddress = 20
        /// Failures older than this are forgotten.
        public var windowMillis = 15 * 60 * 1000
        /// How long a key stays locked once over its limit.
        public var lockoutMillis = 15 * 60 * 1000
        public init() {}
    }

    private struct Entry {
        var failures: Int
        var windowStart: Int
        var lockedUntil: Int?
    }

    private let limits: Limits
    private var entries: [String: Entry] = [:]

    public init(limits: Limits) {
        self.limits = limits
    }

    /// Milliseconds until a locked key may try again, or `nil` when none of `keys` is locked.
    func lockedFor(_ keys: [String], now: Int) -> Int? {
        keys.compactMap { entries[$0]?.lockedUntil }.filter { $0 > now }.max().map { $0 - now }
    }

    func recordFailure(email: String, address: String?, now: Int) {
        record("email:" + email, limit: limits.maxFailuresPerEmail, now: now)
        if let address { record("addr:" + address, limit: limits.maxFailuresPerAddress, now: now) }
        if entries.count > 50_000 { prune(now: now) }
    }

    func recordSuccess(email: String) {
        entries["email:" + email] = nil
    }

    static func keys(email: String, address: String?) -> [String] {
        ["email:" + email] + (address.map { ["addr:" + $0] } ?? [])
    }

    private func record(_ key: String, limit: Int, now: Int) {
        var entry = entries[key] ?? Entry(failures: 0, windowStart: now, lockedUntil: nil)
        if now - entry.windowStart > limits.windowMillis {
            entry = Entry(failures: 0, windowStart: now, lockedUntil: nil)
        }
        entry.failures += 1
        if entry.failures >= limit { entry.lockedUntil = now + limits.lockoutMillis }
        entries[key] = entry
    }

    private func prune(now: Int) {
        entries = entries.filter { _, e in
            (e.lockedUntil ?? 0) > now || now - e.windowStart <= limits.windowMillis
        }
    }
}
