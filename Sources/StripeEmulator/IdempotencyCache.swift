import Foundation
import StripeAPI

/// Stripe's `Idempotency-Key` rules: the same key with the same parameters replays the first answer; with other
/// parameters it is an `idempotency_error`; while the first request runs, another with its key gets a 409.
/// Answers are kept for Stripe's window of 24 hours, and at most `capacity` of them (the oldest go first), so the
/// memory they take stays bounded however many keys clients send.
actor IdempotencyCache {
    struct Stored: Sendable {
        let fingerprint: Data
        let status: Int
        let answer: Answer
        let storedAt: Double
    }

    /// What a replay answers. A call's object is kept as the value it was and encoded again on a replay (rare):
    /// the value shares its strings, arrays and boxes with the emulator's own copy, where its JSON took 2.2 KB a
    /// Checkout Session, a third of the emulator's memory after 8,000 sessions.
    enum Answer: Sendable {
        case json(Data)
        case object(any Encodable & Sendable)

        func bytes() throws -> Data {
            switch self {
            case .json(let data): data
            case .object(let value): try StripeJSON.encode(value)
            }
        }
    }

    enum Claim: Sendable {
        case proceed
        case replay(Stored)
        case mismatch
        case inFlight
    }

    /// Stripe keeps keys for 24 hours.
    static let window: Double = 24 * 3600
    static let defaultCapacity = 10_000

    private let now: @Sendable () -> Double
    private let capacity: Int
    private var stored: [String: Stored] = [:]
    /// Keys in the order they were stored, oldest first, from `head` on (the prefix before it is spent).
    private var order: [(key: String, storedAt: Double)] = []
    private var head = 0
    private var running: [String: Data] = [:]

    init(capacity: Int = defaultCapacity, now: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) {
        self.capacity = max(capacity, 1)
        self.now = now
    }

    var count: Int { stored.count }

    func claim(key: String, fingerprint: Data) -> Claim {
        evict()
        if let done = stored[key] { return done.fingerprint == fingerprint ? .replay(done) : .mismatch }
        if let other = running[key] { return other == fingerprint ? .inFlight : .mismatch }
        guard running.count < capacity else { return .inFlight }
        running[key] = fingerprint
        return .proceed
    }

    func finish(key: String, fingerprint: Data, status: Int, answer: Answer, keep: Bool) {
        running[key] = nil
        guard keep else { return }
        let time = now()
        stored[key] = Stored(fingerprint: fingerprint, status: status, answer: answer, storedAt: time)
        order.append((key, time))
        evict()
    }

    /// Drops answers older than the window, then the oldest while over capacity.
    private func evict() {
        let cutoff = now() - Self.window
        while head < order.count, order[head].storedAt <= cutoff || stored.count > capacity {
            let entry = order[head]
            head += 1
            // A key stored again later has a newer entry further on; only the entry matching it removes it.
            if let current = stored[entry.key], current.storedAt == entry.storedAt { stored[entry.key] = nil }
        }
        if head > 1024, head * 2 > order.count {
            order.removeFirst(head)
            head = 0
        }
    }
}
