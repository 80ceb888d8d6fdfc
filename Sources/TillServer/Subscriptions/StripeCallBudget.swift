import Synchronization
import TillCore

/// How many Stripe calls a customer's own requests may make a minute where nothing is stored to answer from
/// (Customer Portal sessions, invoice lists, cancelling and resuming, switching a subscription checkout to another
/// plan). Stripe's rate limit is the whole account's: a client looping on these routes must not spend what every
/// checkout, refund and the reconciler need. Admins are not counted; beyond the budget the answer is 429
/// `rate_limited` with `Retry-After`.
final class StripeCallBudget: Sendable {
    static let perMinute = 30
    static let windowMillis = 60_000
    let maxEntries = 100_000
    private let windows = Mutex<[String: (start: Int, used: Int)]>([:])

    func spend(_ identity: Identity, now: Int) throws {
        guard !identity.isAdmin else { return }
        let wait: Int? = windows.withLock { windows in
            var window = windows[identity.userId] ?? (now, 0)
            if now - window.start >= Self.windowMillis { window = (now, 0) }
            guard window.used < Self.perMinute else { return window.start + Self.windowMillis - now }
            window.used += 1
            windows.makeRoom(limit: maxEntries) { now - $0.start < Self.windowMillis }
            windows[identity.userId] = window
            return nil
        }
        if let wait {
            let seconds = max(1, (wait + 999) / 1000)
            throw TillError(
                .rateLimited, "Too many requests that call Stripe; retry in \(seconds) s", retryAfterSeconds: seconds)
        }
    }
}
