import Synchronization

/// When each payment was last read back from Stripe on a client's request, so that `POST /api/payments/:id/sync`
/// reaches Stripe at most once an interval per payment, whoever calls it and however often.
final class RecentSyncs: Sendable {
    let intervalMillis: Int
    let maxEntries = 100_000
    private let last = Mutex<[String: Int]>([:])

    init(intervalMillis: Int) {
        self.intervalMillis = intervalMillis
    }

    /// `true` (and the time noted) when the payment was not read within the interval.
    func admit(_ paymentId: String, now: Int) -> Bool {
        last.withLock { last in
            if let at = last[paymentId], now - at < intervalMillis { return false }
            last.makeRoom(limit: maxEntries) { now - $0 < intervalMillis }
            last[paymentId] = now
            return true
        }
    }
}
